"""The assignment file: parsing, validation against the course, and what it changes in grading
(selection, points, visibility, required hooks, seed, time limits)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, SUBMISSIONS

from grader.plugins import get_plugin_manager
from grader.trusted.assignment import AssignmentError, load_assignment, parse_assignment
from grader.trusted.course import load_course
from grader.trusted.grading import Grader
from grader.trusted.inventory import collect_checks
from grader.trusted.settings import Settings, Timeouts

# Module-scoped graders: under pytest-xdist (make test) the module runs on one worker, so that
# they start once.
pytestmark = pytest.mark.xdist_group("test_assignment")

EXAMPLE = ROOT / "examples" / "assignment.toml"


@pytest.fixture(scope="module")
def course():
    return load_course(get_plugin_manager())


@pytest.fixture(scope="module")
def check_keys(course):
    metas, _ = collect_checks(course)
    return {m.key for m in metas}


def write(tmp_path: Path, text: str, name: str = "assignment.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# -- parsing ----------------------------------------------------------------------------------------


def test_the_documented_example_loads_and_fits_the_course(course, check_keys):
    a = load_assignment(EXAMPLE)
    a.validate_against(course, check_keys)
    assert a.required == ["mlp"] and a.seed == 20240901
    selection = a.selection(course)
    assert "mlp" in selection and "list_storage_problems" not in selection
    assert all(course.hooks[h].section == "layers_and_blocks" for h in selection)
    t = a.make_timeouts()
    assert (t.check, t.import_module, t.submission) == (20, 20, 600)


def test_pyproject_tool_grader_table(tmp_path, course):
    path = write(
        tmp_path,
        """
        [project]
        name = "course"
        [tool.grader]
        hooks = ["mlp"]
        seed = 5
        [tool.grader.points]
        mlp = 4
    """,
        "pyproject.toml",
    )
    a = load_assignment(path)
    assert a.selection(course) == ["mlp"] and a.seed == 5 and a.points == {"mlp": 4.0}
    with pytest.raises(AssignmentError, match=r"no \[tool.grader\] table"):
        load_assignment(write(tmp_path, "[project]\nname = 'x'\n", "pyproject.toml"))


@pytest.mark.parametrize(
    "text,message",
    [
        ("requried = ['mlp']", "unknown key 'requried' (did you mean 'required'?)"),
        ("visibility = 'secret'", "'secret' is not one of visible, hidden"),
        ("[visibility]\nmlp = 'later'", "[visibility] mlp: 'later' is not one of"),
        ("[points]\nmlp = -1", "[points] mlp: -1 is not a finite number >= 0"),
        ("[points]\nmlp = 'six'", "[points] mlp: 'six' is not a finite number"),
        ("seed = -3", 'seed: -3 is neither a non-negative integer nor "random"'),
        ("[timeouts]\ncheck = 0", "[timeouts] check: 0 is not a positive number"),
        ("[timeouts]\nchek = 5", "unknown key 'chek' (did you mean 'check'?)"),
        ("hooks = 'mlp'", "hooks must be a list of strings"),
        ("plugins = ['missing_checks.py']", "plugins: file or package directory not found: missing_checks.py"),
        ("[gradescope]\ntests = 'section'", "[gradescope] tests: 'section' is not one of check, hook"),
        ("name = [", "not valid TOML"),
    ],
)
def test_bad_files_say_what_and_where(tmp_path, text, message):
    path = write(tmp_path, text + "\n")
    with pytest.raises(AssignmentError) as e:
        load_assignment(path)
    assert message in str(e.value) and str(path) in str(e.value)


def test_a_missing_file_is_a_usage_error(tmp_path):
    from grader.trusted.settings import UsageError

    with pytest.raises(UsageError, match="assignment file not found"):
        load_assignment(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    "data,message",
    [
        ({"sections": ["layers"]}, "unknown section 'layers'"),
        ({"hooks": ["mlpp"]}, "unknown hook 'mlpp' (did you mean 'mlp'?)"),
        ({"hooks": ["mlp"], "required": ["chimera"]}, "hook 'chimera' is not in the assignment's selection"),
        ({"points": {"mlp/outptus": 1}}, "hook 'mlp' has no check 'outptus' (did you mean 'outputs'?)"),
        ({"visibility": {"mlp/secret": "hidden"}}, "hook 'mlp' has no check 'secret'"),
        (
            {"visibility": {"layer_and_blocks": "hidden"}},
            "unknown hook or section 'layer_and_blocks' (did you mean 'layers_and_blocks'?)",
        ),
    ],
)
def test_names_must_exist_in_the_course(tmp_path, course, check_keys, data, message):
    a = parse_assignment(data, tmp_path / "a.toml")
    with pytest.raises(AssignmentError) as e:
        a.validate_against(course, check_keys)
    assert message in str(e.value)


# -- the plugin -------------------------------------------------------------------------------------


def test_points_and_visibility_answer_only_where_the_file_speaks(tmp_path, course):
    a = parse_assignment(
        {
            "visibility": {
                "default": "after_published",
                "parameters": "hidden",
                "mlp": "after_due_date",
                "mlp/outputs": "visible",
            },
            "points": {"mlp": 6, "param_shapes/shapes": 2, "param_shapes/shapes[rgnet]": 5},
        },
        tmp_path / "a.toml",
    )
    p = a.plugin(course)
    assert p.grader_points("mlp", None) == 6 and p.grader_points("mlp", "outputs") is None
    assert p.grader_points("param_shapes", "shapes[block2]") == 2  # every parametrization
    assert p.grader_points("param_shapes", "shapes[rgnet]") == 5  # unless one is named
    assert p.grader_visibility("mlp", "outputs") == "visible"
    assert p.grader_visibility("mlp", "gradients") is None  # the hook's then applies
    assert p.grader_visibility("mlp", None) == "after_due_date"
    assert p.grader_visibility("block1", None) == "hidden"  # its section
    assert p.grader_visibility("chimera", None) == "after_published"  # the default


def test_the_file_answers_before_other_plugins_and_leaves_them_the_rest(tmp_path, course):
    class Other:
        def grader_points(self, hook, check):
            return 10.0

        def grader_visibility(self, hook, check):
            return "hidden" if check == "structure" else None

    a = parse_assignment({"points": {"mlp": 3}}, tmp_path / "a.toml")
    pm = get_plugin_manager()
    pm.register(Other(), name="other")
    pm.register(a.plugin(course), name="assignment")  # registered last, still asked first
    assert pm.hook.grader_points(hook="mlp", check=None) == 3
    assert pm.hook.grader_points(hook="chimera", check=None) == 10.0
    assert pm.hook.grader_visibility(hook="mlp", check="structure") == "hidden"


# -- grading with it ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    path = tmp_path_factory.mktemp("a") / "assignment.toml"
    path.write_text(
        textwrap.dedent("""
        name = "unit"
        hooks = ["mlp", "nest_mlp"]
        required = ["mlp"]
        seed = 99
        [points]
        "mlp/outputs" = 4
        nest_mlp = 2
        [visibility]
        nest_mlp = "after_due_date"
        [timeouts]
        check = 7
    """)
    )
    a = load_assignment(path)
    g = Grader(Settings(assignment=a, seed=a.seed, timeouts=a.make_timeouts(Timeouts(submission=300))))
    try:
        yield a, g, {"correct": g.grade(ROOT / "reference"), "bug": g.grade(SUBMISSIONS / "bugs" / "mlp_no_relu")}
    finally:
        g.close()


def test_the_result_reflects_the_assignment(graded):
    a, g, r = graded
    assert g.settings.timeouts.check == 7 and g.settings.timeouts.submission == 300
    good, bad = r["correct"], r["bug"]
    for res in (good, bad):
        assert res["seed"] == 99
        assert res["selection"] == ["mlp", "nest_mlp"]
        assert res["assignment"]["name"] == "unit" and res["assignment"]["required"] == ["mlp"]
        # Hooks outside the selection are still listed (RESULT_SCHEMA), worth nothing.
        assert all(h["max_score"] == 0 for n, h in res["hooks"].items() if n not in ("mlp", "nest_mlp"))
    assert good["max_score"] == 4 + 1 + 1 + 2  # mlp/outputs 4, gradients 1, structure 1; nest_mlp 2
    assert good["score"] == good["max_score"] and good["required_failed"] == []
    outputs = [
        c for c in good["hooks"]["mlp"]["checks"] if c["id"].startswith("mlp/outputs[") and c["status"] != "skipped"
    ]
    assert sum(c["max_score"] for c in outputs) == 4
    assert {c["visibility"] for c in good["hooks"]["nest_mlp"]["checks"]} == {"after_due_date"}
    assert good["hooks"]["nest_mlp"]["visibility"] == "after_due_date"
    assert {c["visibility"] for c in good["hooks"]["mlp"]["checks"]} == {"visible"}


def test_a_required_hook_that_fails_gates_the_total(graded):
    _, _, r = graded
    bad = r["bug"]
    assert bad["hooks"]["mlp"]["status"] == "failed"
    assert bad["required_failed"] == ["mlp"]
    assert bad["final_score"] == 0
    # What was earned stays visible: structure passed in mlp, and nest_mlp is all right; the
    # schema's score stays the sum of the hook scores.
    assert bad["score"] == bad["hooks"]["mlp"]["score"] + bad["hooks"]["nest_mlp"]["score"] > 0
