"""Harness plugins: discovery (entry points, --plugin, the environment switches), refusal of
plugins that do not fit the hooks, each harness hook exercised by a fixture plugin
(`tests/plugins/`), and the example plugin (`examples/layernorm_plugin`) end to end.

Nothing here installs anything into the test environment: entry points come from a
``*.dist-info`` written to a temporary directory put on ``sys.path``, and the example plugin is
loaded from its source directory as ``--plugin`` would load it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import ROOT, SUBMISSIONS

from grader.cli import main
from grader.plugins import PluginError, describe_plugins, get_plugin_manager
from grader.reports import ReportOptions
from grader.testing import one_bug_fixtures, one_bug_problems
from grader.trusted.course import load_course
from grader.trusted.inventory import check_inventory

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PLUGINS = Path(__file__).resolve().parent / "plugins"
EXAMPLE_DIR = ROOT / "examples" / "layernorm_plugin"
EXAMPLE = EXAMPLE_DIR / "src" / "grader_layernorm"  # the package directory, as --plugin takes it
EXAMPLE_CORRECT = [EXAMPLE_DIR / "submissions" / "correct", EXAMPLE / "reference"]
EXAMPLE_BUGS = one_bug_fixtures(EXAMPLE_DIR / "submissions" / "bugs")
MLP_NO_RELU = SUBMISSIONS / "bugs" / "mlp_no_relu"
GRADER = [sys.executable, "-c", "from grader.cli import main; main()"]


def run_grader(*args, cwd=ROOT, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*GRADER, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )


def origins(pm) -> dict[str, tuple[str, str]]:
    return {p.name: (p.source, p.version) for p in describe_plugins(pm)}


def points(r, key: str) -> float:
    """A check's points over its device cells (a CUDA cell takes a share where there is one)."""
    return sum(c["max_score"] for c in r.checks() if r.key(c["id"]) == key)


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("GRADER_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("GRADER_LOAD_PLUGINS", raising=False)
    return monkeypatch


def fake_distribution(where: Path, name: str, version: str, entry_points: dict[str, str]) -> None:
    """What ``pip install`` leaves behind that discovery reads: a ``*.dist-info`` with
    ``METADATA`` and ``entry_points.txt``."""
    info = where / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[grader]\n{lines}")


@pytest.fixture
def installed(tmp_path, clean_env):
    """A distribution ``grader-fixture-dist`` 1.2.3 whose entry point ``fixture_ep`` is a plugin
    giving ``mlp`` a total of 7 points."""
    (tmp_path / "fixture_ep_plugin.py").write_text(
        textwrap.dedent("""
        def grader_points(hook, check):
            return 7 if hook == "mlp" and check is None else None
    """)
    )
    fake_distribution(tmp_path, "grader-fixture-dist", "1.2.3", {"fixture_ep": "fixture_ep_plugin"})
    clean_env.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("fixture_ep_plugin", None)


# -- discovery ---------------------------------------------------------------------------------


def test_entry_point_plugins_load_with_their_distribution_and_version(installed):
    pm = get_plugin_manager()
    found = origins(pm)
    assert found["fixture_ep"] == ("entry point (grader-fixture-dist)", "1.2.3")
    # The chapter is an ordinary entry-point plugin of the grader's own distribution.
    assert found["d2l_ch5"] == ("entry point (grader)", "0.1.0")
    assert found["grader.reports.text"][0] == "built-in"
    assert pm.hook.grader_points(hook="mlp", check=None) == 7


def test_disable_plugins_skips_all_entry_points_or_the_named_ones(installed, clean_env):
    clean_env.setenv("GRADER_DISABLE_PLUGINS", "1")
    pm = get_plugin_manager()
    assert not {"fixture_ep", "d2l_ch5"} & set(origins(pm))
    assert "grader.reports.text" in origins(pm)  # built-ins are not entry points
    assert load_course(pm).hooks == {}

    clean_env.setenv("GRADER_DISABLE_PLUGINS", "fixture_ep")
    assert {"d2l_ch5"} <= set(origins(get_plugin_manager())) and "fixture_ep" not in origins(get_plugin_manager())


def test_load_plugins_is_an_allow_list(installed, clean_env):
    clean_env.setenv("GRADER_LOAD_PLUGINS", "fixture_ep")
    assert "fixture_ep" in origins(get_plugin_manager()) and "d2l_ch5" not in origins(get_plugin_manager())
    clean_env.setenv("GRADER_LOAD_PLUGINS", "")
    assert not {"fixture_ep", "d2l_ch5"} & set(origins(get_plugin_manager()))
    clean_env.setenv("GRADER_LOAD_PLUGINS", "d2l_ch5,layernrom")
    with pytest.raises(PluginError, match=r"not installed: layernrom \(installed: d2l_ch5, fixture_ep"):
        get_plugin_manager()


def test_the_chapter_loads_like_any_plugin(clean_env):
    default = load_course(get_plugin_manager())
    clean_env.setenv("GRADER_DISABLE_PLUGINS", "1")
    pm = get_plugin_manager(["grader.exercises.d2l_ch5"])
    assert origins(pm)["grader.exercises.d2l_ch5"][0] == "--plugin"
    course = load_course(pm)
    assert list(course.hooks) == list(default.hooks) and len(course.hooks) == 44
    assert course.check_files == default.check_files


def test_plugin_option_takes_a_module_a_file_and_a_package_directory(clean_env):
    result = CliRunner().invoke(
        main,
        [
            "plugins",
            "--plugin",
            "grader.reports.json_report",
            "--plugin",
            str(PLUGINS / "loose_tolerance.py"),
            "--plugin",
            str(EXAMPLE),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[1:]}
    assert rows["grader_local_plugin_loose_tolerance"][:2] == ["--plugin", "-"]
    assert rows["grader_layernorm"][:2] == ["--plugin", "0.1.0"]
    assert rows["grader_layernorm"][2] == str(EXAMPLE / "__init__.py")
    assert rows["grader.reports.json_report"][0] == "built-in"  # already loaded: not twice
    assert rows["d2l_ch5"][:3] == ["entry", "point", "(grader)"]


def test_a_plugin_named_twice_loads_once_and_two_plugins_with_one_name_are_refused(tmp_path, clean_env):
    same = PLUGINS / "loose_tolerance.py"
    pm = get_plugin_manager([str(same), str(same)], assignment=[str(same)])
    assert origins(pm)["grader_local_plugin_loose_tolerance"][0] == "assignment"
    other = tmp_path / "loose_tolerance.py"
    other.write_text("def grader_points(hook, check):\n    return None\n")
    with pytest.raises(PluginError, match="two plugins are named 'grader_local_plugin_loose_tolerance'"):
        get_plugin_manager([str(same), str(other)])


def test_a_plugin_file_python_cannot_load_is_refused_by_name(tmp_path, clean_env):
    notes = tmp_path / "notes.txt"
    notes.write_text("def grader_points(hook, check):\n    return None\n")
    with pytest.raises(PluginError, match=f"plugin {notes} cannot be loaded as a module"):
        get_plugin_manager([str(notes)])


def test_a_check_module_without_a_file_is_refused_by_name(tmp_path, clean_env):
    plugin = tmp_path / "checks_in_memory.py"
    plugin.write_text(
        textwrap.dedent("""
        import types

        def grader_checks():
            return [types.ModuleType("made_in_memory")]
    """)
    )
    with pytest.raises(PluginError, match="check module made_in_memory has no file"):
        load_course(get_plugin_manager([str(plugin)]))


def test_the_examples_pyproject_declares_a_working_entry_point(tmp_path, clean_env):
    """The entry point the example declares, as pip would record it, loads the example."""
    project = tomllib.loads((EXAMPLE_DIR / "pyproject.toml").read_text())["project"]
    entry_points = project["entry-points"]["grader"]
    assert entry_points == {"layernorm": "grader_layernorm"}
    clean_env.syspath_prepend(str(EXAMPLE.parent))
    import grader_layernorm

    fake_distribution(tmp_path, project["name"], grader_layernorm.__version__, entry_points)
    clean_env.syspath_prepend(str(tmp_path))
    pm = get_plugin_manager()
    assert origins(pm)["layernorm"] == ("entry point (grader-layernorm)", "0.1.0")
    sections = [s.id for s in load_course(pm).sections]
    assert sections[-1] == "layer_norm" and sections[0] == "layers_and_blocks"  # after the chapter's


def _setuptools_can_build() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 71  # builds wheels without `wheel`


@pytest.mark.slow
@pytest.mark.skipif(not _setuptools_can_build(), reason="needs setuptools>=71 to build the example offline")
def test_pip_installed_example_is_found_through_its_entry_point(tmp_path):
    """`pip install` of the example (offline, into a directory of its own) is all it takes."""
    target, source = tmp_path / "site", tmp_path / "source"
    # Built from a copy: a build leaves build/ and *.egg-info next to the sources.
    shutil.copytree(EXAMPLE_DIR, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0, pip.stderr
    env = {"PYTHONPATH": str(target), "GRADER_LOAD_PLUGINS": "layernorm"}
    p = run_grader("plugins", env=env)
    assert p.returncode == 0, p.stderr
    line = next(x for x in p.stdout.splitlines() if x.startswith("layernorm "))
    assert "entry point (grader-layernorm)" in line and " 0.1.0 " in line and str(target) in line
    p = run_grader("list", env=env)
    assert "Extra: layer normalization [layer_norm]" in p.stdout and "5.1 Layers and blocks" not in p.stdout


# -- plugins that do not fit are refused at load time ------------------------------------------


@pytest.mark.parametrize(
    "plugin,parts",
    [
        (
            "typo_hook.py",
            ["unknown hook `grader_tolerence`", "did you mean `grader_tolerance(hook, check, dtype, device)`?"],
        ),
        (
            "not_a_hook.py",
            ["unknown hook `grader_helper`", "`grader_points(hook, check)`", "`grader_report_formats()`"],
        ),
        ("wrong_args.py", ["`grader_points(hook, name)` takes `name`", "expected `grader_points(hook, check)`"]),
        (
            "default_arg.py",
            [
                "`grader_visibility(hook, check=None)` gives `check` a default value",
                "expected: `grader_visibility(hook, check)`",
            ],
        ),
        ("broken_import.py", ["failed to import", "RuntimeError: this plugin is broken"]),
    ],
)
def test_plugins_that_do_not_fit_the_hooks_are_refused_with_plugin_hook_and_arguments(plugin, parts, clean_env):
    with pytest.raises(PluginError) as e:
        get_plugin_manager([str(PLUGINS / plugin)])
    message = str(e.value)
    assert str(PLUGINS / plugin) in message  # names the plugin
    for part in parts:
        assert part in message


@pytest.mark.parametrize("command", ["list", "plugins", "formats"])
def test_a_refused_plugin_stops_the_command_with_exit_2(command):
    result = CliRunner().invoke(main, [command, "--plugin", str(PLUGINS / "wrong_args.py")])
    assert result.exit_code == 2
    assert "wrong_args.py" in result.output and "expected `grader_points(hook, check)`" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_reference_that_does_not_fit_its_exercise_hook_is_refused(clean_env):
    pm = get_plugin_manager([str(EXAMPLE), str(PLUGINS / "bad_reference.py")])
    with pytest.raises(PluginError) as e:
        load_course(pm)
    assert "`layer_norm(features, epsilon)` does not fit the exercise hook" in str(e.value)
    assert "expected `layer_norm(features: 'int', eps: 'float') -> 'nn.Module'`" in str(e.value)
    assert "{'epsilon'}" in str(e.value)


@pytest.mark.slow
def test_a_refused_plugin_stops_grading_with_exit_2():
    p = run_grader("run", "reference", "--only", "mlp", "--plugin", PLUGINS / "typo_hook.py")
    assert p.returncode == 2
    assert "typo_hook.py" in p.stderr and "did you mean `grader_tolerance(hook, check, dtype, device)`?" in p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.slow
def test_a_format_name_offered_twice_is_refused_naming_both_plugins():
    result = CliRunner().invoke(main, ["formats", "--plugin", str(PLUGINS / "json_format.py")])
    assert result.exit_code == 2
    assert "report format 'json' is offered by both" in result.output and "json_format.py" in result.output
    p = run_grader("run", "reference", "--only", "mlp", "--plugin", PLUGINS / "json_format.py", "-f", "json")
    assert p.returncode == 2 and "report format 'json' is offered by both" in p.stderr
    assert "Traceback" not in p.stderr


# -- each harness hook, through a fixture plugin ------------------------------------------------


def test_hook_grader_exercises_adds_a_section_after_the_chapter(grade_with, tmp_path):
    course = grade_with(EXAMPLE).grader.course
    assert [s.id for s in course.sections][-1] == "layer_norm"
    spec = course.hooks["layer_norm"]
    assert spec.argnames == ["features", "eps"] and spec.section == "layer_norm"
    assert "biased variance" in spec.doc
    # `grader init` writes the new exercise's stub, its task statement as docstring.
    result = CliRunner().invoke(main, ["init", str(tmp_path / "work"), "--plugin", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    starter = "\n".join(p.read_text() for p in (tmp_path / "work").glob("*.py"))
    assert "def layer_norm(features: int, eps: float) -> nn.Module:" in starter
    assert "the biased variance" in starter


def test_hook_grader_reference_registers_the_reference(grade_with):
    grade = grade_with(EXAMPLE)
    ref = grade.grader.course.reference
    assert ref.implements("layer_norm")
    net = ref.layer_norm(features=6, eps=1e-5)
    assert [n for n, _ in net.named_parameters()] == ["weight", "bias"]
    r = grade(EXAMPLE / "reference", only=["layer_norm"])  # the reference is a submission too
    assert r.all_passed("layer_norm") and r.hook("layer_norm")["score"] == 8


def test_hook_grader_checks_adds_checks_to_a_new_hook(grade_with):
    grade = grade_with(EXAMPLE)
    r = grade(EXAMPLE_CORRECT[0], only=["layer_norm"])
    names = {Path(c["id"].split("[")[0]).name for c in r.checks("layer_norm")}
    assert names == {"outputs", "gradients", "parameters", "initial_values", "eps"}


@pytest.mark.slow
def test_hook_grader_checks_adds_a_check_to_a_chapter_hook(grade_with):
    grade = grade_with(PLUGINS / "loose_tolerance.py", PLUGINS / "affine_check.py")
    assert grade(ROOT / "reference", only=["mlp"]).passed("mlp") >= {"mlp/not_affine", "mlp/outputs"}
    bad = grade(MLP_NO_RELU, only=["mlp"])
    check = bad.check("mlp/not_affine")
    assert check["status"] == "failed"
    assert check["message"] == "the MLP is an affine map of its input: f(x + y) = f(x) + f(y) - f(0)"
    assert check["hint"] == "put a nonlinearity (ReLU) between the two linear layers"
    assert check["description"].startswith("The MLP is not an affine map")


@pytest.mark.slow
def test_a_check_its_conftest_deselects_is_reported_not_selected(grade_with, tmp_path):
    # The conftest's hook runs before the grader's at collection: the grader learns of the check
    # only through pytest_deselected, and must neither lose it nor run it.
    shutil.copy(PLUGINS / "deselecting_check.py", tmp_path)
    shutil.copytree(PLUGINS / "deselecting", tmp_path / "deselecting")
    (tmp_path / "deselecting" / "conftest_deselect.py").rename(tmp_path / "deselecting" / "conftest.py")
    r = grade_with(tmp_path / "deselecting_check.py")(ROOT / "reference", only=["mlp"])
    assert "mlp/kept" in r.passed("mlp")
    dropped = r.check("mlp/dropped")
    assert (dropped["status"], dropped["message"]) == ("skipped", "not selected in this run")


def test_hook_grader_tolerance_overrides_one_check_of_one_hook_and_dtype(grade, grade_with):
    # Without the plugin the missing ReLU fails both value checks (tests/test_checks.py too).
    assert grade(MLP_NO_RELU, only=["mlp"]).failed("mlp") == {"mlp/outputs", "mlp/gradients"}
    loose = grade_with(PLUGINS / "loose_tolerance.py", PLUGINS / "affine_check.py")
    plugin = loose.grader.pm.get_plugin("grader_local_plugin_loose_tolerance")
    plugin.CALLS.clear()
    r = loose(MLP_NO_RELU, only=["mlp"])
    assert "mlp/outputs" in r.passed("mlp")
    assert "mlp/gradients" in r.failed("mlp")  # same hook, other check: the default tolerance
    assert ("mlp", "outputs", torch.float32, "cpu") in plugin.CALLS
    assert ("mlp", "gradients", torch.float32, "cpu") in plugin.CALLS


@pytest.mark.slow
def test_hook_grader_points_sets_a_hooks_total(grade_with):
    own = grade_with(EXAMPLE)(EXAMPLE_CORRECT[0], only=["layer_norm"])
    assert own.hook("layer_norm")["max_score"] == 8 and points(own, "layer_norm/outputs") == 3
    grade = grade_with(EXAMPLE, PLUGINS / "points_and_visibility.py", PLUGINS / "tally_format.py")
    r = grade(EXAMPLE_CORRECT[0], only=["layer_norm"])
    h = r.hook("layer_norm")
    assert h["score"] == h["max_score"] == 10
    # The example's own weights still apply within the new total: 3 of 8 → 3.75 of 10.
    assert points(r, "layer_norm/outputs") == 3.75
    assert points(r, "layer_norm/parameters") == 1.25


def test_hook_grader_visibility_hides_a_check_and_delays_a_hook(grade_with):
    grade = grade_with(EXAMPLE, PLUGINS / "points_and_visibility.py", PLUGINS / "tally_format.py")
    r = grade(EXAMPLE_DIR / "submissions" / "bugs" / "eps_outside_sqrt", only=["layer_norm", "mlp"])
    eps = r.check("layer_norm/eps[cpu]")
    assert eps["status"] == "failed" and eps["visibility"] == "hidden"
    assert r.check("layer_norm/outputs[cpu]")["visibility"] == "visible"
    assert r.hook("mlp")["visibility"] == "after_due_date"
    assert {c["visibility"] for c in r.checks("mlp")} == {"after_due_date"}
    renderers = {f.name: f for fs in grade.grader.pm.hook.grader_report_formats() for f in fs}
    student = renderers["text"].render(r.result, ReportOptions())
    instructor = renderers["text"].render(r.result, ReportOptions(audience="instructor"))
    assert eps["message"] not in student and "details hidden from students" in student
    assert eps["message"] in instructor


@pytest.mark.slow
def test_hook_grader_report_formats_adds_a_format_used_like_the_built_in_ones():
    result = CliRunner().invoke(main, ["formats", "--plugin", str(PLUGINS / "tally_format.py")])
    assert result.exit_code == 0, result.output
    names = {line.split()[0] for line in result.output.splitlines()}
    assert {"tally", "text", "json"} <= names  # the built-in formats come through the same hook
    p = run_grader(
        "run",
        EXAMPLE_DIR / "submissions" / "bugs" / "eps_outside_sqrt",
        "--only",
        "layer_norm",
        "--seed",
        "5",
        "--no-cuda",
        "--plugin",
        EXAMPLE,
        "--plugin",
        PLUGINS / "tally_format.py",
        "-f",
        "tally",
    )
    assert p.returncode == 1, p.stderr
    lines = p.stdout.splitlines()
    assert lines[:2] == ["course: DL-101", "layer_norm 4/5 7/8"]
    assert lines[2].startswith("  layer_norm/eps[cpu]: the output for rows whose variance is far below `eps` differs")


def test_hook_grader_result_adds_a_field(grade_with):
    grade = grade_with(EXAMPLE, PLUGINS / "points_and_visibility.py", PLUGINS / "tally_format.py")
    r = grade(EXAMPLE_CORRECT[0], only=["layer_norm"])
    assert r["course_code"] == "DL-101"
    tally = {f.name: f for fs in grade.grader.pm.hook.grader_report_formats() for f in fs}["tally"]
    first, second = tally.render(r.result, ReportOptions()).splitlines()[:2]
    assert first == "course: DL-101"
    assert second.startswith("layer_norm ") and second.endswith(" 10/10")


# -- the example plugin, end to end ------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLE_CORRECT, ids=[p.name for p in EXAMPLE_CORRECT])
def test_example_correct_submission_gets_full_marks(grade_with, path):
    r = grade_with(EXAMPLE)(path, only=["layer_norm"])
    assert r.messages() == {}
    assert r.all_passed("layer_norm")
    assert r.score == r.max_score == 8


@pytest.mark.parametrize("bug", EXAMPLE_BUGS, ids=[b.name for b in EXAMPLE_BUGS])
def test_example_wrong_submission_fails_with_the_plugins_message(grade_with, bug):
    r = grade_with(EXAMPLE)(bug.path, only=bug.only)
    assert one_bug_problems(r, bug) == []
    assert 0 <= r.score < r.max_score == 8


def test_example_fixtures_cover_every_check():
    pm = get_plugin_manager([str(EXAMPLE)])
    keys = {c["key"] for c in check_inventory(load_course(pm), pm)["layer_norm"]}
    assert keys == set().union(*(b.fails for b in EXAMPLE_BUGS))


def test_example_leaves_the_chapter_unaffected(clean_env):
    """Same chapter hooks, checks and points with the example loaded; no tolerance changes."""
    plain = get_plugin_manager()
    with_example = get_plugin_manager([str(EXAMPLE)])
    before, after = load_course(plain), load_course(with_example)
    assert list(after.hooks)[: len(before.hooks)] == list(before.hooks)
    assert list(after.hooks)[len(before.hooks) :] == ["layer_norm"]
    chapter_before = check_inventory(before, plain)
    chapter_after = {h: v for h, v in check_inventory(after, with_example).items() if h != "layer_norm"}
    assert chapter_after == chapter_before
    for hook in before.hooks:
        assert with_example.hook.grader_tolerance(hook=hook, check="outputs", dtype=torch.float32, device="cpu") is None
        assert with_example.hook.grader_visibility(hook=hook, check=None) is None


def test_example_loaded_the_reference_still_passes_every_chapter_hook(grade_with):
    r = grade_with(EXAMPLE)(ROOT / "reference")
    chapter = {n: h for n, h in r["hooks"].items() if n != "layer_norm"}
    assert len(chapter) == 44
    assert all(h["status"] in ("passed", "skipped") and h["score"] == h["max_score"] for h in chapter.values()), (
        r.messages()
    )
    assert r.status("layer_norm") == "not_attempted"  # the chapter's reference knows nothing of it


@pytest.mark.slow
def test_example_own_test_suite_passes():
    """The plugin's tests, as its author runs them: `python -m pytest` in its directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADER_", "PYTEST_"))}
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=EXAMPLE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert " passed" in p.stdout and "failed" not in p.stdout
