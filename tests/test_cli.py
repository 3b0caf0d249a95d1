"""The command line: exit codes (0 passed, 1 not passed, 2 usage, 3 grader failure), --fail-under,
several reports from one run, the fail-safe report, the starter, and the CI recipes
(`grader gradescope build`, `grader classroom workflow`) exercised as an instructor would."""

from __future__ import annotations

import base64
import json
import math
import os
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import jsonschema
import pytest
import xmlschema
from click.testing import CliRunner
from conftest import ROOT, SUBMISSIONS

from grader import schemas
from grader.cli import main
from grader.reports.classroom import sequential_sum
from grader.trusted.assignment import load_assignment

ONE_BUG = SUBMISSIONS / "bugs" / "mlp_no_relu"
GRADER = [sys.executable, "-c", "from grader.cli import main; main()"]


def grader(*args, cwd=ROOT, env=None) -> subprocess.CompletedProcess:
    """The real command in a fresh process: real exit codes, real stderr."""
    return subprocess.run(
        [*GRADER, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )


def no_traceback(p: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr


# -- exit codes 0 and 1, several outputs ------------------------------------------------------------


@pytest.mark.slow
def test_the_reference_gets_full_marks_and_exit_0(tmp_path):
    p = grader("run", "reference", "-f", "json", "-o", tmp_path / "r.json", "-f", "text")
    no_traceback(p)
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["score"] == r["max_score"] > 0
    assert f"Score: {r['score']:.4g}/{r['max_score']:.4g} (100.0%)" in p.stdout


@pytest.mark.slow
def test_one_run_writes_every_format_and_they_agree(tmp_path):
    out = {f: tmp_path / f"report.{f}" for f in ("json", "gradescope", "classroom", "junit", "markdown")}
    args = [x for f, path in out.items() for x in ("-f", f, "-o", path)]
    p = grader("run", ONE_BUG, "--only", "mlp", "--seed", "3", *args, "-f", "text")
    no_traceback(p)
    assert p.returncode == 1, p.stderr
    r = json.loads(out["json"].read_text())
    jsonschema.validate(r, schemas.load("json"))
    assert r["seed"] == 3 and 0 < r["score"] < r["max_score"]
    gs = json.loads(out["gradescope"].read_text())
    jsonschema.validate(gs, schemas.load("gradescope"))
    assert gs["score"] == r["score"] and gs["extra_data"]["grader"]["seed"] == 3
    cl = json.loads(out["classroom"].read_text())
    jsonschema.validate(cl, schemas.load("classroom"))
    assert sequential_sum([t["score"] for t in cl["tests"]]) == r["score"] and cl["status"] == "fail"
    xml = out["junit"].read_text()
    xmlschema.XMLSchema(str(schemas.path("junit"))).validate(xml)
    assert f'name="score" value="{r["score"]}"' in xml
    assert f"**Score: {r['score']:.4g} / {r['max_score']:.4g}**" in out["markdown"].read_text()
    assert "What did not pass" in p.stdout  # the text report went to standard output


@pytest.mark.slow
def test_execution_time_is_the_runs_real_time(tmp_path):
    """What Gradescope shows as the run's time is the command's wall time (torch, the worker
    template, the plugins, the checks' collection included), not only the grading's."""
    import time

    start = time.monotonic()
    p = grader(
        "run",
        ONE_BUG,
        "--only",
        "mlp",
        "-f",
        "json",
        "-o",
        tmp_path / "r.json",
        "-f",
        "gradescope",
        "-o",
        tmp_path / "g.json",
    )
    wall = time.monotonic() - start
    assert p.returncode == 1, p.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    g = json.loads((tmp_path / "g.json").read_text())
    assert wall - 1.0 < r["execution_time"] <= wall  # only Python's start and exit are left out
    assert g["execution_time"] == math.ceil(r["execution_time"])


@pytest.mark.parametrize("percent,code", [(30, 0), (40, 1)])
def test_fail_under_gates_on_the_percentage(percent, code):
    # mlp_no_relu keeps mlp/structure: 1 of 3 points, 33.3 %.
    p = grader("run", ONE_BUG, "--only", "mlp", "--fail-under", percent, "-f", "json")
    no_traceback(p)
    assert json.loads(p.stdout)["score"] == 1.0
    assert p.returncode == code


# -- exit code 2: usage and configuration -----------------------------------------------------------


@pytest.mark.parametrize(
    "args,message",
    [
        pytest.param(["run", "reference", "-f", "pdf"], "unknown format 'pdf'", marks=pytest.mark.slow),
        pytest.param(["run", "no/such/dir"], "no such file or directory", marks=pytest.mark.slow),
        pytest.param(
            ["run", "pyproject.toml"],
            "not a submission (a directory, or a .py, .ipynb or .md file)",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            ["run", "reference", "-f", "json", "-o", "a", "-o", "b"],
            "more --output than --format",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            ["run", "reference", "--only", "mlpp"], "unknown hook(s) for --only: mlpp", marks=pytest.mark.slow
        ),
        (["run", "reference", "--fail-under", "101"], "101"),
        pytest.param(
            ["run", "reference", "--assignment", "no/such.toml"], "assignment file not found", marks=pytest.mark.slow
        ),
        (["classroom", "workflow", "--step-id", "my step"], "letters and digits"),
    ],
)
def test_usage_errors_exit_2_with_a_message(args, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.slow
def test_a_bad_assignment_exits_2_before_grading(tmp_path):
    bad = tmp_path / "a.toml"
    bad.write_text('hooks = ["mlpp"]\n[points]\n"mlp/outptus" = 2\n')
    p = grader("run", "reference", "--assignment", bad, "-f", "json", "-o", tmp_path / "r.json")
    no_traceback(p)
    assert p.returncode == 2
    assert "unknown hook 'mlpp' (did you mean 'mlp'?)" in p.stderr
    assert "no check 'outptus' (did you mean 'outputs'?)" in p.stderr
    assert not (tmp_path / "r.json").exists()


# -- --seed reproduces a run ----------------------------------------------------------------------------


@pytest.mark.slow
def test_seed_reproduces_a_run_exactly_and_another_seed_changes_the_inputs(tmp_path):
    """Two fresh processes with one seed write the same result, messages included (the example's
    safetensors error names tied tensors as a Python set: its order must not vary either)."""
    example = ROOT / "examples" / "submission"

    def result(seed, name):
        p = grader("run", example, "--seed", seed, "-f", "json", "-o", tmp_path / name)
        assert p.returncode == 1, p.stderr
        r = json.loads((tmp_path / name).read_text())
        r.pop("execution_time")
        for measured in ("cpu_s", "peak_rss_mb"):  # the trusted process's own costs, measured
            r["stats"].pop(measured)
        return r

    first, again, other = result(7, "a.json"), result(7, "b.json"), result(8, "c.json")
    assert first == again
    assert "Some tensors share memory" in json.dumps(first)
    assert other["seed"] == 8 and other["score"] == first["score"]  # same verdicts ...

    def messages(r):
        return [c["message"] for h in r["hooks"].values() for c in h["checks"]]

    assert messages(other) != messages(first)  # ... on other inputs


# -- exit code 3: the grader itself failed, and the fail-safe reports ---------------------------------


@pytest.mark.slow
def test_a_grader_failure_exits_3_and_leaves_valid_fail_safe_reports(tmp_path):
    plugin = tmp_path / "broken_plugin.py"
    plugin.write_text("def grader_result(result):\n    raise RuntimeError('plugin bug')\n")
    out = {f: tmp_path / f"out.{f}" for f in ("json", "gradescope", "classroom", "junit", "markdown")}
    args = [x for f, path in out.items() for x in ("-f", f, "-o", path)]
    p = grader("run", ONE_BUG, "--only", "mlp", "--plugin", plugin, *args)
    no_traceback(p)
    assert p.returncode == 3
    assert "the grader failed: RuntimeError: plugin bug" in p.stderr
    r = json.loads(out["json"].read_text())
    jsonschema.validate(r, schemas.load("json"))
    assert "plugin bug" in r["grading_error"] and r["score"] == 0
    gs = json.loads(out["gradescope"].read_text())
    jsonschema.validate(gs, schemas.load("gradescope"))
    assert gs["score"] == 0 and "could not finish" in gs["output"]
    cl = json.loads(out["classroom"].read_text())
    jsonschema.validate(cl, schemas.load("classroom"))
    assert cl["status"] == "error"
    xmlschema.XMLSchema(str(schemas.path("junit"))).validate(out["junit"].read_text())
    assert "plugin bug" in out["markdown"].read_text()


@pytest.mark.slow
def test_a_plugin_with_broken_checks_exits_3_and_names_them_on_stderr(tmp_path):
    checks = tmp_path / "checks_broken.py"
    checks.write_text("raise ImportError('no such helper')\n")
    plugin = tmp_path / "broken_checks.py"
    plugin.write_text(f"def grader_checks():\n    return [{str(checks)!r}]\n")
    p = grader("run", ONE_BUG, "--only", "mlp", "--plugin", plugin, "-f", "json", "-o", tmp_path / "r.json")
    assert "Traceback (most recent call last)" not in p.stderr  # pytest's report of the module, not a crash
    assert p.returncode == 3
    assert "error in the checks, not the submission" in p.stderr and "no such helper" in p.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    jsonschema.validate(r, schemas.load("json"))
    assert any("checks_broken.py" in e for e in r["grading_errors"])
    assert r["hooks"]["mlp"]["status"] == "failed"  # the chapter's own checks still graded the bug


def test_k_runs_only_the_checks_it_selects_and_reports_the_others_as_not_selected(grade):
    # mlp_no_relu fails its outputs and passes its structure: -k picks which of them runs.
    for keyword, status in [("outputs", "failed"), ("structure", "passed")]:
        r = grade(ONE_BUG, only=["mlp"], keyword=keyword)
        ran = {c["id"]: c["status"] for c in r.checks() if c["status"] != "skipped"}  # (CUDA cells skip here)
        assert ran and all(keyword in i for i in ran) and set(ran.values()) == {status}, ran
        skipped = {
            c["id"]: c.get("message") for c in r.checks() if c["status"] == "skipped" and c["id"].startswith("mlp/")
        }
        # A check -k did not pick is "not selected", its CUDA cell too; one it picked, there only.
        assert all((m == "not selected in this run") == (keyword not in i) for i, m in skipped.items()), skipped
        assert any(keyword not in i for i in skipped) and any("[cuda]" in i for i in skipped), skipped


# -- the starter ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_starter_is_graded_as_not_attempted(tmp_path):
    starter = tmp_path / "starter"
    p = grader("init", starter)
    no_traceback(p)
    assert p.returncode == 0
    p = grader("run", starter, "-f", "json", "-o", tmp_path / "r.json", "-f", "text")
    no_traceback(p)
    assert p.returncode == 1
    r = json.loads((tmp_path / "r.json").read_text())
    # Every hook with checks is "not attempted" (a stub raising NotImplementedError), none failed,
    # those whose checks need another stub too (the model file, the checkpoint pair); the only
    # other is skipped: it needs two GPUs.
    statuses = {n: h["status"] for n, h in r["hooks"].items() if h["checks"]}
    skipped = {n for n, s in statuses.items() if s != "not_attempted"}
    assert skipped <= {"two_gpu_matmul"}, statuses
    assert {r["hooks"][n]["status"] for n in skipped} <= {"skipped"}
    assert {h["status"] for h in r["hooks"].values()} <= {"not_attempted", "skipped"}
    assert r["score"] == 0 and r["max_score"] > 0
    assert "not attempted" in p.stdout


# -- time limits from the assignment --------------------------------------------------------------------


@pytest.mark.slow
def test_assignment_time_limits_reach_the_worker(tmp_path):
    a = tmp_path / "a.toml"
    a.write_text('hooks = ["mlp"]\n[timeouts]\ncheck = 2\n')
    p = grader("run", SUBMISSIONS / "boundary" / "infinite_loop", "--assignment", a, "-f", "json")
    no_traceback(p)
    assert p.returncode == 1
    messages = [c["message"] for c in json.loads(p.stdout)["hooks"]["mlp"]["checks"] if c["status"] == "failed"]
    assert messages and all("timed out after 2 s" in m for m in messages)


# -- Gradescope: the autograder zip -----------------------------------------------------------------------


def test_gradescope_build_writes_an_uploadable_zip(tmp_path):
    course = tmp_path / "course"
    (course / "checks").mkdir(parents=True)
    (course / "checks" / "extra.py").write_text("def grader_points(hook, check):\n    return None\n")
    (course / "pyproject.toml").write_text(
        textwrap.dedent("""
        [tool.grader]
        name = "HW"
        hooks = ["mlp"]
        plugins = ["checks/extra.py"]
        [tool.grader.points]
        "mlp/outputs" = 2
        [tool.grader.visibility]
        "mlp/gradients" = "after_due_date"
    """)
    )
    zpath = tmp_path / "autograder.zip"
    result = CliRunner().invoke(
        main, ["gradescope", "build", "--assignment", str(course / "pyproject.toml"), "-o", str(zpath)]
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(zpath) as z:
        names = set(z.namelist())
        # Gradescope needs both entry points at the root of the zip, executable.
        for name in ("setup.sh", "run_autograder"):
            mode = z.getinfo(name).external_attr >> 16
            assert mode & stat.S_IXUSR, name
            text = z.read(name).decode()
            assert text.startswith("#!/usr/bin/env bash")
            check = subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True)
            assert check.returncode == 0, check.stderr
        assert {
            "assignment.toml",
            "checks/extra.py",
            "grader-src/pyproject.toml",
            "grader-src/setup.py",
            "grader-src/grader/cli/run.py",
            # The course content, which setup.py installs as grader.reference and grader.exercises.
            "grader-src/reference/layers_and_blocks.py",
            "grader-src/exercises/d2l_ch5/checks/test_gpu.py",
        } <= names
        assert not any(n.startswith(("grader-src/tests/", "grader-src/.venv/")) for n in names)
        run = z.read("run_autograder").decode()
        assert "--assignment /autograder/source/assignment.toml" in run
        assert "--format gradescope --output /autograder/results/results.json" in run
        assert "pip install /autograder/source/grader-src" in z.read("setup.sh").decode()
        z.extract("assignment.toml", tmp_path / "x")
        z.extract("checks/extra.py", tmp_path / "x")
    # The re-rooted [tool.grader] table loads as the same assignment, plugins included.
    a = load_assignment(tmp_path / "x" / "assignment.toml")
    assert (
        a.hooks == ["mlp"]
        and a.points == {"mlp/outputs": 2.0}
        and a.visibility_of == {"mlp/gradients": "after_due_date"}
    )
    assert a.plugins == [str((tmp_path / "x" / "checks" / "extra.py").resolve())]
    # Same inputs, same bytes.
    again = tmp_path / "again.zip"
    CliRunner().invoke(main, ["gradescope", "build", "--assignment", str(course / "pyproject.toml"), "-o", str(again)])
    assert again.read_bytes() == zpath.read_bytes()


@pytest.mark.parametrize(
    "files,graded",
    [
        (["work.ipynb"], "."),  # a notebook uploaded alone
        (["a.py", "hw/b.py"], "."),
        (["README.md", "hw/work.ipynb"], "hw"),  # a zipped folder, a README beside it
        (["hw/notes.md", "__MACOSX/hw/._notes.md"], "hw"),
        (["hw/README.md", "other/x.py"], "."),  # no single folder holding code: as uploaded
    ],
)
def test_run_autograder_grades_the_folder_holding_the_code(tmp_path, files, graded):
    """The script Gradescope runs, with /autograder moved under tmp_path and a grader that only
    says what it was asked to grade."""
    from grader.cli.gradescope import RUN_AUTOGRADER

    home = tmp_path / "autograder"
    for f in files:
        (home / "submission" / f).parent.mkdir(parents=True, exist_ok=True)
        (home / "submission" / f).write_text("")
    fake = home / "venv" / "bin" / "grader"
    fake.parent.mkdir(parents=True)
    fake.write_text(f'#!/usr/bin/env bash\necho "$2" > {tmp_path}/graded\n')
    fake.chmod(0o755)
    script = RUN_AUTOGRADER.format(assignment="", env="").replace("/autograder", str(home))
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert Path((tmp_path / "graded").read_text().strip()) == (home / "submission" / graded).resolve()


def test_gradescope_build_with_install_specs_bundles_no_source(tmp_path):
    zpath = tmp_path / "a.zip"
    result = CliRunner().invoke(
        main,
        [
            "gradescope",
            "build",
            "-o",
            str(zpath),
            "--install",
            "grader @ git+https://example.invalid/grader@v1",
            "--torch",
            "torch==2.5.1",
        ],
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(zpath) as z:
        assert set(z.namelist()) == {"setup.sh", "run_autograder"}
        setup = z.read("setup.sh").decode()
    assert "'grader @ git+https://example.invalid/grader@v1'" in setup and "torch==2.5.1" in setup


# -- GitHub Classroom: the workflow, run as the runner would run it ---------------------------------------


def _step_script(workflow: str, step: str) -> str:
    """The `run: |` block of the named step (the workflow is ours: fixed indentation)."""
    lines = workflow.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- name: {step}")
    run = next(i for i in range(start, len(lines)) if lines[i].strip() == "run: |")
    indent = len(lines[run + 1]) - len(lines[run + 1].lstrip())
    block = []
    for line in lines[run + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        block.append(line[indent:])
    return "\n".join(block) + "\n"


@pytest.mark.slow
def test_the_classroom_workflow_feeds_the_reporter(tmp_path):
    result = CliRunner().invoke(main, ["classroom", "workflow", "--assignment", "grading/assignment.toml"])
    assert result.exit_code == 0, result.output
    wf = result.stdout
    # What GitHub Classroom requires of the workflow (the reporter's README).
    assert "\nname: Autograding Tests\n" in wf and "\n  run-autograding-tests:\n" in wf
    assert "checks: write" in wf and "uses: classroom-resources/autograding-grading-reporter@v1" in wf
    assert 'GRADER_RESULTS: "${{ steps.grader.outputs.result }}"' in wf and "runners: grader" in wf
    # A student's repository: their code at the root, the assignment under grading/.
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "solution.py").write_text((ONE_BUG / "solution.py").read_text())
    (repo / "grading").mkdir()
    (repo / "grading" / "assignment.toml").write_text('hooks = ["mlp"]\n[visibility]\n"mlp/gradients" = "hidden"\n')
    output, summary = tmp_path / "github_output", tmp_path / "step_summary"
    output.touch()
    summary.touch()
    bin_dir = Path(sys.executable).parent

    def grade_step() -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "-e", "-c", _step_script(wf, "Grade")],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=600,
            env={
                **os.environ,
                "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                "GITHUB_OUTPUT": str(output),
                "GITHUB_STEP_SUMMARY": str(summary),
                "NO_COLOR": "1",
            },
        )

    p = grade_step()
    assert p.returncode == 0, p.stderr
    assert "Score:" in p.stdout  # the text report, in the log
    # What the reporter does: env var <ID>_RESULTS, base64-decoded, JSON.
    encoded = dict(line.split("=", 1) for line in output.read_text().splitlines())["result"]
    runner = json.loads(base64.b64decode(encoded))
    jsonschema.validate(runner, schemas.load("classroom"))
    assert runner["status"] == "fail" and runner["max_score"] > 0
    hidden = next(t for t in runner["tests"] if t["name"] == "mlp/gradients")
    assert hidden["status"] == "fail" and "hidden" in hidden["message"] and "differs" not in hidden["message"]
    assert "| `mlp` |" in summary.read_text()
    # A broken assignment: the grading step fails, and its log says why.
    (repo / "grading" / "assignment.toml").write_text('hooks = ["mlpp"]\n')
    (repo / "grader-classroom.json").unlink()
    p = grade_step()
    assert p.returncode != 0 and "unknown hook 'mlpp'" in p.stderr
