"""Every report format against its spec (JSON Schema, XSD, a Markdown parser), on a correct and
on a one-bug submission, with and without an assignment; totals agree with the JSON result; a
hidden check's message reaches no student-facing field."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET

import jsonschema
import pytest
import xmlschema
from conftest import ROOT, SUBMISSIONS
from markdown_it import MarkdownIt

from grader import schemas
from grader.plugins import get_plugin_manager
from grader.reports import ReportOptions, all_passed, folded_checks, graded_hooks, total
from grader.reports.classroom import exact_scores, sequential_sum
from grader.trusted.assignment import parse_assignment
from grader.trusted.grading import Grader
from grader.trusted.scoring import failsafe_result, validate
from grader.trusted.settings import Settings, Timeouts

# Module-scoped graders: under pytest-xdist (make test) the module runs on one worker, so that
# they start once.
pytestmark = pytest.mark.xdist_group("test_reports")

HOOKS = ["mlp", "chimera"]
CORRECT = ROOT / "reference"
ONE_BUG = SUBMISSIONS / "bugs" / "mlp_no_relu"  # fails mlp/outputs and mlp/gradients; no chimera
HIDDEN = "mlp/gradients"  # hidden by the assignment below; its message must never leak

ASSIGNMENT = {
    "name": "reports test",
    "hooks": ["mlp", "chimera", "nest_mlp"],
    "required": ["mlp"],
    "points": {"nest_mlp": 1, "mlp/outputs": 2},  # nest_mlp: three checks at 1/3 each
    "visibility": {"mlp/gradients": "hidden", "chimera": "after_due_date"},
}

RENDER = {name: f for name, f in ((f.name, f) for fs in get_plugin_manager().hook.grader_report_formats() for f in fs)}
STUDENT = ReportOptions()
INSTRUCTOR = ReportOptions(audience="instructor")


@pytest.fixture(scope="module")
def assigned(tmp_path_factory):
    """Results graded under an assignment: required hook, fractional points, hidden checks."""
    path = tmp_path_factory.mktemp("assignment") / "assignment.toml"
    a = parse_assignment(dict(ASSIGNMENT), path)
    g = Grader(Settings(assignment=a, timeouts=Timeouts(check=15, import_module=15, submission=300)))
    try:
        yield {"correct": g.grade(CORRECT, seed=11), "one_bug": g.grade(ONE_BUG, seed=11)}
    finally:
        g.close()


@pytest.fixture(scope="module")
def plain(grader_instance):
    return {
        "correct": grader_instance.grade(CORRECT, seed=5, only=HOOKS),
        "one_bug": grader_instance.grade(ONE_BUG, seed=5, only=HOOKS),
    }


CASES = [(kind, sub) for kind in ("plain", "assigned") for sub in ("correct", "one_bug")]


@pytest.fixture(params=CASES, ids=[f"{k}-{s}" for k, s in CASES])
def result(request, plain, assigned):
    kind, sub = request.param
    return (plain if kind == "plain" else assigned)[sub]


def close(a: float, b: float, n: int = 1) -> bool:
    return math.isclose(a, b, abs_tol=1e-6 * max(n, 1))


def hook_sum(result: dict, key: str) -> float:
    return sum(h[key] for _, h in graded_hooks(result))


# -- the JSON result ------------------------------------------------------------------------------


def test_json_matches_its_schema_and_invariants(result):
    data = json.loads(RENDER["json"].render(result, STUDENT))
    jsonschema.validate(data, schemas.load("json"))
    assert validate(data) == []
    for h in data["hooks"].values():
        assert h["score"] <= h["max_score"] + 1e-9
        assert close(h["score"], sum(c["score"] for c in h["checks"]), len(h["checks"]))
        for c in h["checks"]:
            assert c["score"] <= c["max_score"] + 1e-9


def test_the_schema_has_teeth():
    bad = failsafe_result("x", "why")
    bad["hooks"] = {
        "mlp": {
            "section": "s",
            "status": "passed",
            "score": 1,
            "max_score": 1,
            "message": "",
            "checks": [
                {
                    "id": "mlp/outputs[cpu]",
                    "status": "passed",
                    "score": 1,
                    "max_score": 1,
                    "device": "cpu",
                    "message": "leaked",
                }
            ],
        }
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schemas.load("json"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"score": 1, "tests": [{"status": "ok"}]}, schemas.load("gradescope"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": 1, "status": "passed", "max_score": 1, "tests": []}, schemas.load("classroom"))


# -- Gradescope -------------------------------------------------------------------------------------


@pytest.mark.parametrize("per_hook", [False, True], ids=["per-check", "per-hook"])
def test_gradescope_matches_the_spec_and_the_totals(result, per_hook):
    out = json.loads(RENDER["gradescope"].render(result, ReportOptions(per_hook=per_hook)))
    jsonschema.validate(out, schemas.load("gradescope"))
    tests = out["tests"]
    assert out["score"] == result.get("final_score", result["score"])
    assert close(sum(t["max_score"] for t in tests), result["max_score"], len(tests))
    assert close(sum(t["score"] for t in tests), result["score"], len(tests))
    assert len({t["number"] for t in tests}) == len(tests)
    for t in tests:
        assert 0 <= t["score"] <= t["max_score"] + 1e-9
        if "status" in t:  # absent only on all-skipped (0/0, informational) tests
            assert t["status"] == ("passed" if t["score"] == t["max_score"] else "failed")
    if per_hook:
        assert {t["tags"][1] for t in tests} == {c.hook for c in folded_checks(result)}
    else:
        assert [t["name"] for t in tests] == [c.key for c in folded_checks(result)]
    # The test visibility is the check's own.
    vis = {c.key: c.visibility for c in folded_checks(result)}
    if not per_hook:
        assert all(t["visibility"] == vis[t["name"]] for t in tests)


def test_gradescope_hook_tests_never_mix_visibilities(assigned):
    out = json.loads(RENDER["gradescope"].render(assigned["one_bug"], ReportOptions(per_hook=True)))
    mlp = [t for t in out["tests"] if t["tags"][1] == "mlp"]
    assert sorted(t["visibility"] for t in mlp) == ["hidden", "visible"]
    visible = next(t for t in mlp if t["visibility"] == "visible")
    assert "gradients" not in visible["output"]


def test_gradescope_says_once_that_the_cpu_container_has_no_gpu(plain):
    """Gradescope's containers have no GPU: no test repeats that its CUDA cell did not run; the
    summary says it once. On a run with a GPU, a cell that did not run is still named in its test."""
    r = plain["one_bug"]
    assert r["devices"] == ["cpu"] and any(c.skipped_cells() for c in folded_checks(r))
    out = json.loads(RENDER["gradescope"].render(r, STUDENT))
    assert not [t["name"] for t in out["tests"] if "Not run" in t["output"] or "cuda" in t["output"]]
    assert out["output"].count("no GPU here") == 1
    # The same result as if graded on one GPU whose cell of mlp/outputs was skipped.
    on_gpu = json.loads(json.dumps(r))
    on_gpu["devices"] = ["cpu", "cuda:0"]
    for h in on_gpu["hooks"].values():
        for c in h["checks"]:
            if c["status"] == "skipped" and c["device"] == "cuda":
                c["device"], c["id"] = "cuda:0", c["id"].replace("[cuda]", "[cuda:0]")
                c["message"] = "needs a second GPU"
    out = json.loads(RENDER["gradescope"].render(on_gpu, STUDENT))
    outputs = next(t for t in out["tests"] if t["name"] == "mlp/outputs")["output"]
    assert "Not run on `cuda:0`: needs a second GPU" in outputs and "no GPU here" not in out["output"]


# -- GitHub Classroom --------------------------------------------------------------------------------


def test_classroom_matches_the_reporter_and_adds_up_exactly(result):
    out = json.loads(RENDER["classroom"].render(result, STUDENT))
    jsonschema.validate(out, schemas.load("classroom"))
    assert out["max_score"] == result["max_score"]
    # The reporter sends Σ tests[].score, summed in order: exactly the grade (0 when a required hook failed).
    assert sequential_sum([t["score"] for t in out["tests"]]) == total(result)
    assert out["status"] == ("pass" if all_passed(result) else "fail")
    ran = [c for c in folded_checks(result) if c.status != "skipped"]
    assert [t["name"] for t in out["tests"]] == [c.key for c in ran]
    assert [t["status"] for t in out["tests"]] == [
        {"passed": "pass", "error": "error"}.get(c.status, "fail") for c in ran
    ]


def test_classroom_fractions_add_up_to_the_total():
    assert sequential_sum(exact_scores([0.1] * 10, 1.0)) == 1.0
    assert sequential_sum(exact_scores([1 / 3] * 3, 1.0)) == 1.0
    assert sequential_sum(exact_scores([0.333333] * 3 + [2.0], 3.0)) == 3.0
    assert exact_scores([], 0.0) == []


def test_assigned_points_are_exact_and_fractional(assigned):
    r = assigned["correct"]
    assert r["hooks"]["nest_mlp"]["max_score"] == 1.0  # not 0.999999
    assert r["score"] == r["max_score"]
    out = json.loads(RENDER["classroom"].render(r, STUDENT))
    nest = [t["score"] for t in out["tests"] if t["name"].startswith("nest_mlp/")]
    assert len(nest) == 3 and all(abs(s - 1 / 3) < 1e-6 for s in nest)


# -- JUnit -----------------------------------------------------------------------------------------------


def test_junit_matches_the_schema_and_the_totals(result):
    data = RENDER["junit"].render(result, STUDENT)
    xmlschema.XMLSchema(str(schemas.path("junit"))).validate(data.decode())
    root = ET.fromstring(data)
    cases = root.findall("./testsuite/testcase")
    checks = [c for _, h in graded_hooks(result) for c in h["checks"]]
    assert len(cases) == len(checks) == int(root.get("tests"))

    def prop(el, name):
        return float(el.find(f"./properties/property[@name='{name}']").get("value"))

    assert close(sum(prop(c, "score") for c in cases), hook_sum(result, "score"), len(cases))
    assert close(sum(prop(c, "max_score") for c in cases), result["max_score"], len(cases))
    run = root.find("./testsuite[@name='grader']")
    assert prop(run, "score") == result["score"]
    bad = [c for c in checks if c["status"] == "failed"]
    assert int(root.get("failures")) == len(bad) == len(root.findall(".//failure"))
    for suite in root.findall("testsuite"):
        assert int(suite.get("tests")) == len(suite.findall("testcase"))


# -- Markdown ----------------------------------------------------------------------------------------------


def _tokens(text: str):
    # CommonMark plus GitHub tables: what GitHub renders a step summary with.
    return MarkdownIt("commonmark").enable("table").parse(text)


def test_markdown_is_a_gfm_summary_with_the_right_totals(result):
    text = RENDER["markdown"].render(result, STUDENT)
    tokens = _tokens(text)
    rows, row, cell = [], None, None
    for t in tokens:
        if t.type == "tr_open":
            row = []
        elif t.type in ("td_open", "th_open"):
            cell = ""
        elif t.type == "inline" and cell is not None:
            cell += t.content
        elif t.type in ("td_close", "th_close"):
            row.append(cell)
            cell = None
        elif t.type == "tr_close":
            rows.append(row)
    header, body = rows[0], rows[1:]
    assert header == ["Section", "Hook", "Status", "Points"]
    hooks = graded_hooks(result)
    assert [r[1].strip("`") for r in body] == [n for n, _ in hooks]
    earned = [float(r[3].split("/")[0]) for r in body]
    possible = [float(r[3].split("/")[1]) for r in body]
    assert close(sum(earned), hook_sum(result, "score"), len(body) * 1000)  # cells show 4 digits
    assert close(sum(possible), result["max_score"], len(body) * 1000)
    score_line = next(t.content for t in tokens if t.type == "inline" and t.content.startswith("**Score:"))
    got, mx = re.match(r"\*\*Score: ([\d.e+-]+) / ([\d.e+-]+)\*\*", score_line).groups()
    assert float(got) == pytest.approx(total(result), rel=1e-3) and float(mx) == pytest.approx(
        result["max_score"], rel=1e-3
    )
    # One fenced block per failure line, nothing unfenced from the checks.
    fences = [t for t in tokens if t.type == "fence"]
    bad_hooks = [h for _, h in hooks if h["status"] in ("not_attempted", "error")]
    expected = len(bad_hooks) + sum(
        len(c.details(STUDENT))
        for c in folded_checks(result, hooks)
        if c.status in ("failed", "error") and result["hooks"][c.hook]["status"] not in ("not_attempted", "error")
    )
    assert len(fences) == expected


def test_text_totals(result):
    text = RENDER["text"].render(result, STUDENT)
    got, mx = re.search(r"^Score: ([\d.e+-]+)/([\d.e+-]+)", text, re.M).groups()
    assert float(got) == pytest.approx(total(result), rel=1e-3)
    assert float(mx) == pytest.approx(result["max_score"], rel=1e-3)


# -- visibility, required hooks, fail-safe -------------------------------------------------------------


def test_hidden_messages_reach_no_student_facing_field(assigned):
    r = assigned["one_bug"]
    hidden = [c for c in r["hooks"]["mlp"]["checks"] if c["id"].startswith(HIDDEN + "[") and c["status"] == "failed"]
    assert hidden and all(c["visibility"] == "hidden" for c in hidden)
    secret = hidden[0]["message"]
    assert len(secret) > 20
    # Formats that students read, with the default (student) audience.
    for name in ("text", "markdown", "junit", "classroom"):
        out = RENDER[name].render(r, STUDENT)
        out = out.decode() if isinstance(out, bytes) else out
        assert secret not in out and secret[:40] not in out, name
        # An instructor audience sees everything.
        full = RENDER[name].render(r, INSTRUCTOR)
        assert secret[:40] in (full.decode() if isinstance(full, bytes) else full), name
    # Gradescope: the hidden test carries it (Gradescope shows it only to instructors); visible
    # tests and the always-visible top-level output do not.
    for per_hook in (False, True):
        out = json.loads(RENDER["gradescope"].render(r, ReportOptions(per_hook=per_hook)))
        assert secret[:40] not in out["output"] and secret[:40] not in json.dumps(out["extra_data"])
        for t in out["tests"]:
            if t["visibility"] == "visible":
                assert secret[:40] not in t["output"]
        assert any(secret[:40] in t["output"] for t in out["tests"] if t["visibility"] == "hidden")
        # Gradescope hides the total while tests are hidden; so does our top-level output.
        assert "Score:" not in out["output"]


def test_a_failed_required_hook_zeroes_the_total_in_every_format(assigned):
    r = assigned["one_bug"]
    assert r["required_failed"] == ["mlp"] and r["final_score"] == 0
    assert r["score"] == hook_sum(r, "score") > 0  # RESULT_SCHEMA: the sum of hook scores, always
    assert json.loads(RENDER["gradescope"].render(r, STUDENT))["score"] == 0
    cl = json.loads(RENDER["classroom"].render(r, STUDENT))
    assert cl["status"] == "fail" and "mlp" in cl["message"] and sum(t["score"] for t in cl["tests"]) == 0
    assert "Required hooks did not pass" in RENDER["markdown"].render(r, STUDENT)
    assert "required hook(s) not passed: mlp" in RENDER["text"].render(r, STUDENT)
    assert b'name="required_failed" value="mlp"' in RENDER["junit"].render(r, STUDENT)
    assert not all_passed(r)
    assert assigned["correct"]["required_failed"] == []
    assert assigned["correct"]["final_score"] == assigned["correct"]["score"]


@pytest.mark.parametrize("fmt", ["json", "gradescope", "classroom", "junit", "markdown", "text"])
def test_the_failsafe_result_renders_to_a_valid_report(fmt):
    r = failsafe_result("sub", "grading did not finish")
    out = RENDER[fmt].render(r, STUDENT)
    if fmt == "junit":
        xmlschema.XMLSchema(str(schemas.path("junit"))).validate(out.decode())
        assert b'type="grading_error"' in out
    elif fmt in ("json", "gradescope", "classroom"):
        data = json.loads(out)
        jsonschema.validate(data, schemas.load(fmt))
        if fmt == "gradescope":
            assert data["score"] == 0 and "could not finish" in data["output"]
        if fmt == "classroom":
            assert data["status"] == "error"
    else:
        assert "grading did not finish" in out


def test_device_cells_fold_into_one_test():
    """As on a GPU machine: a check's cpu and cuda:0 cells share its point and fold into one
    Gradescope / Classroom test, each failing cell named."""
    cells = [
        {
            "id": "mlp/outputs[cpu]",
            "status": "passed",
            "score": 0.5,
            "max_score": 0.5,
            "device": "cpu",
            "message": "",
            "visibility": "visible",
        },
        {
            "id": "mlp/outputs[cuda:0]",
            "status": "failed",
            "score": 0.0,
            "max_score": 0.5,
            "device": "cuda:0",
            "message": "the output is on cpu, expected cuda:0",
            "visibility": "visible",
        },
        {
            "id": "mlp/shapes[wide-cpu]",
            "status": "passed",
            "score": 0.5,
            "max_score": 0.5,
            "device": "cpu",
            "message": "",
            "visibility": "visible",
        },
        {
            "id": "mlp/shapes[wide-cuda:0]",
            "status": "passed",
            "score": 0.5,
            "max_score": 0.5,
            "device": "cuda:0",
            "message": "",
            "visibility": "visible",
        },
    ]
    r = failsafe_result("sub", "x")
    del r["grading_error"]
    r.update(
        score=1.5,
        final_score=1.5,
        max_score=2.0,
        seed=1,
        devices=["cpu", "cuda:0"],
        warnings=[],
        sections={"layers_and_blocks": "5.1"},
    )
    r["hooks"] = {
        "mlp": {
            "section": "layers_and_blocks",
            "status": "failed",
            "score": 1.5,
            "max_score": 2.0,
            "message": "1 of 4 checks did not pass",
            "visibility": "visible",
            "checks": cells,
        }
    }
    jsonschema.validate(r, schemas.load("json"))
    assert [c.key for c in folded_checks(r)] == ["mlp/outputs", "mlp/shapes[wide]"]
    gs = json.loads(RENDER["gradescope"].render(r, STUDENT))
    jsonschema.validate(gs, schemas.load("gradescope"))
    outputs = gs["tests"][0]
    assert (outputs["name"], outputs["score"], outputs["max_score"], outputs["status"]) == (
        "mlp/outputs",
        0.5,
        1.0,
        "failed",
    )
    assert "on `cuda:0`" in outputs["output"] and "expected cuda:0" in outputs["output"]
    cl = json.loads(RENDER["classroom"].render(r, STUDENT))
    assert [(t["name"], t["score"]) for t in cl["tests"]] == [("mlp/outputs", 0.5), ("mlp/shapes[wide]", 1.0)]
    assert sequential_sum([t["score"] for t in cl["tests"]]) == 1.5
    xml = RENDER["junit"].render(r, STUDENT)
    xmlschema.XMLSchema(str(schemas.path("junit"))).validate(xml.decode())
    assert len(ET.fromstring(xml).findall(".//testcase")) == 4
