"""Batch grading: a class in one command. A crash, a hang, a memory blow-up, a grader that dies
or hangs on one submission: the others are graded and each row says what happened. Results
merge from anywhere (`grader gradebook`). Nothing of one student's run reaches the next."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, SUBMISSIONS

from grader.cli import main
from grader.reports.gradebook import (
    GRADED,
    GRADING_ERROR,
    NOT_ATTEMPTED,
    NOTHING_FOUND,
    TIMED_OUT,
    Entry,
    load,
    render_checks_csv,
    render_csv,
    row_status,
)
from grader.trusted.batch import BatchError, collect, result_path, run_batch
from grader.trusted.sandbox import Limits
from grader.trusted.scoring import validate
from grader.trusted.settings import Settings, Timeouts

GRADER = [sys.executable, "-c", "from grader.cli import main; main()"]
ONLY = ["mlp", "nest_mlp"]
MiB = 1 << 20

MLP = """
from torch import nn


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(20, 256)
        self.out = nn.Linear(256, 10)

    def forward(self, X):
        return self.out(self.hidden(X).relu())


class NestMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.linear = nn.Linear(32, 16)

    def forward(self, X):
        return self.linear(self.net(X))


def nest_mlp():
    return NestMLP()
"""

# A grader plugin with bugs that strike on one submission each: the grading process exits, or
# hangs, after grading it (what a crash of the trusted side itself looks like to the batch).
SABOTAGE = """
import os, time

def grader_result(result):
    name = os.path.basename(os.path.normpath(result["submission"]))
    if name == "f_kills_the_grader":
        os._exit(7)
    if name == "a_hangs_the_grader":
        time.sleep(3600)
"""


def write(root: Path, name: str, source: str) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "solution.py").write_text(textwrap.dedent(source))
    return d


def grader(*args, cwd=ROOT, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*GRADER, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )


# -- one batch with every kind of failure ---------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    subs = root / "submissions"
    subs.mkdir()
    write(subs, "a_hangs_the_grader", MLP + "\ndef mlp():\n    return MLP()\n")
    shutil.copytree(ROOT / "reference", subs / "b_correct")
    shutil.copytree(SUBMISSIONS / "boundary" / "exit_in_forward", subs / "c_crash")
    shutil.copytree(SUBMISSIONS / "boundary" / "infinite_loop", subs / "d_hang")
    write(
        subs,
        "e_memory",
        MLP
        + """
import torch

class Hog(MLP):
    def forward(self, X):
        hog = []
        while True:  # 64 MiB at a time, touched, until the worker's memory limit stops it
            hog.append(torch.ones(1 << 24))

def mlp():
    return Hog()
""",
    )
    write(subs, "f_kills_the_grader", MLP + "\ndef mlp():\n    return MLP()\n")
    (subs / "notes.txt").write_text("not a submission")
    plugin = root / "sabotage.py"
    plugin.write_text(SABOTAGE)
    out = root / "out"
    found, notes = collect([], [subs])
    settings = Settings(
        results_dir=out,
        jobs=2,
        seed=11,
        only=ONLY,
        plugins=[str(plugin)],
        formats=["text"],
        timeouts=Timeouts(check=3, import_module=5, submission=60),
        limits=Limits(memory=512 * MiB),
        deadline=25,
    )
    seen = []
    started = time.monotonic()
    rows = run_batch(found, settings, progress=lambda row, done, total: seen.append((row.name, done, total)))
    return {
        "rows": {r.name: r for r in rows},
        "out": out,
        "notes": notes,
        "seen": seen,
        "seconds": time.monotonic() - started,
    }


# The batch takes half a minute (most of it waiting on the hung grader): under pytest-xdist its
# tests share one worker (--dist loadgroup), so that it runs once.
ONE_BATCH = pytest.mark.xdist_group("hostile_batch")


def result_of(batch, name) -> dict:
    return json.loads(result_path(batch["out"], name).read_text())


@pytest.mark.slow
@ONE_BATCH
def test_every_submission_gets_a_row_that_says_what_happened(hostile_batch):
    rows = hostile_batch["rows"]
    assert list(rows) == ["a_hangs_the_grader", "b_correct", "c_crash", "d_hang", "e_memory", "f_kills_the_grader"]
    assert any("notes.txt" in n for n in hostile_batch["notes"])
    # The grader's own failures: its process stopped at the deadline, or died; the batch went on.
    assert rows["a_hangs_the_grader"].status == TIMED_OUT
    assert "longer than 25 s" in rows["a_hangs_the_grader"].detail
    assert rows["f_kills_the_grader"].status == GRADING_ERROR
    assert "ended unexpectedly (exit code 7)" in rows["f_kills_the_grader"].detail
    # The students' failures: each fails its own hook, and is graded.
    assert (rows["b_correct"].status, rows["b_correct"].score, rows["b_correct"].max_score) == (GRADED, 6, 6)
    for name, what in [("c_crash", "worker ended"), ("d_hang", "timed out"), ("e_memory", None)]:
        assert rows[name].status == GRADED, (name, rows[name])
        r = result_of(hostile_batch, name)
        assert r["hooks"]["nest_mlp"]["status"] == "passed", name
        assert r["hooks"]["mlp"]["status"] == "failed", name
        if what:
            assert what in rows[name].detail
    memory = [c["message"] for c in result_of(hostile_batch, "e_memory")["hooks"]["mlp"]["checks"]]
    assert any("memory" in m.lower() for m in memory), memory
    # Progress: every submission reported once, counting up.
    assert sorted(d for _, d, _ in hostile_batch["seen"]) == [1, 2, 3, 4, 5, 6]


@pytest.mark.slow
@ONE_BATCH
def test_every_submission_has_a_valid_result_file_and_its_reports(hostile_batch):
    for name, row in hostile_batch["rows"].items():
        r = result_of(hostile_batch, name)
        assert validate(r) == [], name
        assert r["student"] == name and r["grading_status"] == row.status
        assert r["seed"] == 11  # one seed for the whole batch
        if row.status == GRADED:
            assert (result_path(hostile_batch["out"], name).parent / "text.txt").read_text().strip()
        else:
            assert r["grading_error"] and r["score"] == 0
    # Nothing else is left in the results directory: results are written atomically.
    leftovers = [p for p in hostile_batch["out"].rglob("*") if p.is_file() and ".tmp-" in p.name]
    assert leftovers == []


@pytest.mark.slow
@ONE_BATCH
def test_the_gradebook_has_a_row_per_student_and_a_column_per_hook(hostile_batch):
    entries, _ = load([hostile_batch["out"] / "submissions"])
    table = list(csv.reader(io.StringIO(render_csv(entries))))
    assert table[0] == [
        "student",
        "status",
        "score",
        "max_score",
        "percent",
        "mlp",
        "nest_mlp",
        "detail",
        "seed",
        "submission",
        "assignment",
    ]
    by_name = {row[0]: dict(zip(table[0], row)) for row in table[1:]}
    assert list(by_name) == list(hostile_batch["rows"])
    assert by_name["b_correct"]["percent"] == "100.0" and by_name["b_correct"]["mlp"] == "3"
    assert by_name["c_crash"]["mlp"] == "0" and by_name["c_crash"]["nest_mlp"] == "3"
    assert by_name["f_kills_the_grader"]["status"] == "grading error"
    assert by_name["f_kills_the_grader"]["mlp"] == ""  # not graded: no score rather than a zero
    assert {row["seed"] for row in by_name.values()} == {"11"}


# -- no state passes from one student to the next ---------------------------------------------------

LEAKY = (
    MLP
    + """
import glob, os, time
import torch

# Leave things behind for whoever comes next: files in scratch, a daemon that writes into every
# scratch directory it can find, and torch globals changed.
scratch = os.environ.get("TMPDIR", "/tmp")
with open(os.path.join(scratch, "leak"), "w") as f:
    f.write("from the previous student")
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        try:
            with open(PIDFILE, "w") as f:
                f.write(str(os.getpid()))
        except OSError:
            pass
        base = os.path.dirname(os.path.dirname(scratch))
        for _ in range(600):
            for d in glob.glob(os.path.join(base, "grader-*", "*")):
                try:
                    open(os.path.join(d, "leak"), "w").close()
                except OSError:
                    pass
            time.sleep(0.05)
    os._exit(0)
torch.set_default_dtype(torch.float64)
torch.nn.Linear.forward = lambda self, x: x.new_zeros(x.shape[:-1] + (self.out_features,))
torch.manual_seed(0)

def mlp():
    return MLP()
"""
)

VICTIM = (
    MLP
    + """
import os, time
import torch

def mlp():
    time.sleep(0.5)  # time for anything left behind to show itself
    leaked = [p for p in (os.environ.get("TMPDIR"), os.environ.get("HOME")) if p and os.path.exists(os.path.join(p, "leak"))]
    if leaked or torch.get_default_dtype() != torch.float32:
        return nn.Sequential()  # fails every check
    return MLP()
"""
)


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", ["process", None], ids=["process-level", "strongest-level"])
def test_nothing_of_one_student_reaches_the_next(tmp_path, monkeypatch, sandbox):
    """At the process level (same user, same files) only the sweep between submissions stops the
    daemon; at a namespace level the sandbox does too."""
    # The grading process's temporary directory (and so every scratch directory) is ours here,
    # so the daemon's search stays inside this test.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    pidfile = tmp_path / "daemon.pid"
    subs = tmp_path / "class"
    write(subs, "a_leaky", LEAKY.replace("PIDFILE", repr(str(pidfile))))
    write(subs, "b_victim", VICTIM)
    found, _ = collect([], [subs])
    # One grading process: the victim is graded right after the leaky one, by the same grader and
    # the same worker template.
    rows = run_batch(found, Settings(results_dir=tmp_path / "out", jobs=1, seed=3, only=ONLY, sandbox=sandbox))
    victim = json.loads(result_path(tmp_path / "out", "b_victim").read_text())
    assert rows[1].status == GRADED
    assert victim["score"] == victim["max_score"] == 6, victim["hooks"]["mlp"]
    # The daemon did not outlive its student's grading (where it could say who it was).
    if pidfile.exists():
        pid = int(pidfile.read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _verdicts(result: dict) -> dict:
    checks = {
        c["id"]: (c["status"], c["score"], c.get("message"), c.get("hint"))
        for h in result["hooks"].values()
        for c in h["checks"]
    }
    return {"score": result["score"], "warnings": result["warnings"], "checks": checks}


@pytest.mark.slow
def test_a_batch_grades_each_submission_as_if_graded_alone(tmp_path):
    """One grading process grades its whole queue in one pytest session (the checks collected
    once): each submission still gets every check of its own, with fresh fixtures (`sub`, `seed`)
    and the same verdicts, messages and hints as `grader run` gives it alone."""
    subs = tmp_path / "class"
    subs.mkdir()
    for name, src in [
        ("a_example", ROOT / "examples" / "submission"),
        ("b_reference", ROOT / "reference"),
        ("c_from_memory", SUBMISSIONS / "bugs" / "load_model_file_from_memory"),
    ]:
        shutil.copytree(src, subs / name, ignore=shutil.ignore_patterns("__pycache__", "bug.toml"))
    found, _ = collect([], [subs])
    rows = run_batch(found, Settings(results_dir=tmp_path / "out", jobs=1, seed=5))
    assert [r.status for r in rows] == [GRADED] * 3
    for sub in sorted(subs.iterdir()):
        alone = tmp_path / f"{sub.name}.json"
        p = grader("run", sub, "--seed", "5", "-f", "json", "-o", alone)
        assert p.returncode in (0, 1), p.stderr[-2000:]
        batch = json.loads(result_path(tmp_path / "out", sub.name).read_text())
        assert _verdicts(batch) == _verdicts(json.loads(alone.read_text())), sub.name
    scores = [json.loads(result_path(tmp_path / "out", s.name).read_text())["score"] for s in sorted(subs.iterdir())]
    assert scores[1] == 127 and len(set(scores)) == 3  # three different submissions, three results


@pytest.mark.slow
def test_grade_each_goes_past_a_bad_entry_and_raises_what_its_caller_raises(tmp_path):
    """A queue entry that is not a submission gets its error and the next one is graded; an error
    of the caller's own result handling (a full disk) stops the queue and reaches the caller,
    instead of becoming a check failure of every later submission."""
    from grader.trusted.grading import Grader
    from grader.trusted.settings import UsageError

    g = Grader(Settings(seed=3, only=["mlp"]))
    try:
        seen = []
        g.grade_each([("missing", tmp_path / "nope"), ("ref", ROOT / "reference")], lambda k, r: seen.append((k, r)))
        assert [k for k, _ in seen] == ["missing", "ref"]
        assert isinstance(seen[0][1], UsageError) and seen[1][1]["score"] == seen[1][1]["max_score"] == 3

        class DiskFull(Exception):
            pass

        def handle(key, result):
            seen.append((key, result))
            raise DiskFull(key)

        seen.clear()
        with pytest.raises(DiskFull, match="first"):
            g.grade_each([("first", ROOT / "reference"), ("second", ROOT / "reference")], handle)
        assert [k for k, _ in seen] == ["first"]
        assert g.grade(ROOT / "reference")["score"] == 3  # the grader goes on
    finally:
        g.close()


# -- results produced anywhere, merged -------------------------------------------------------------


@pytest.mark.slow
def test_grader_gradebook_merges_results_produced_separately(tmp_path):
    # As on CI: one `grader run` per student, each writing its JSON result somewhere.
    results = tmp_path / "collected"
    for student, sub in [("alice", ROOT / "reference"), ("bob", SUBMISSIONS / "bugs" / "mlp_no_relu")]:
        p = grader("run", sub, "--only", "mlp", "--seed", "5", "-f", "json", "-o", results / f"{student}.json")
        assert p.returncode in (0, 1), p.stderr
    (results / "unrelated.json").write_text('{"not": "a result"}')
    runner = CliRunner()
    r = runner.invoke(
        main, ["gradebook", str(results), "-o", str(tmp_path / "gb.csv"), "--html", str(tmp_path / "class.html")]
    )
    assert r.exit_code == 0, r.output
    assert "unrelated.json: not a grader result" in r.output
    table = list(csv.DictReader((tmp_path / "gb.csv").open()))
    assert [(row["student"], row["status"], row["percent"]) for row in table][0] == ("alice", "graded", "100.0")
    assert table[1]["student"] == "bob" and float(table[1]["percent"]) < 100 and table[1]["mlp"] == "1"
    assert "<svg" in (tmp_path / "class.html").read_text()
    # To standard output by default; two results for one student are refused, naming both.
    r = runner.invoke(main, ["gradebook", str(results / "alice.json")])
    assert r.exit_code == 0 and r.output.startswith("student,status,score")
    twin = tmp_path / "twin"
    twin.mkdir()
    shutil.copy(results / "alice.json", twin / "alice.json")
    r = runner.invoke(main, ["gradebook", str(results / "alice.json"), str(twin / "alice.json")])
    assert r.exit_code == 2 and "two results for student 'alice'" in r.output
    r = runner.invoke(main, ["gradebook", str(results / "unrelated.json")])
    assert r.exit_code == 2 and "not a grader result" in r.output


@pytest.mark.slow
def test_grader_run_with_several_submissions_writes_the_class_outputs(tmp_path):
    import nbformat
    from nbformat import v4

    out = tmp_path / "out"
    nb = v4.new_notebook()
    nb.cells = [v4.new_code_cell("%matplotlib inline\n" + (ROOT / "reference" / "layers_and_blocks.py").read_text())]
    (tmp_path / "carol.ipynb").write_text(nbformat.writes(nb))  # a student's single notebook
    p = grader(
        "run",
        ROOT / "reference",
        tmp_path / "carol.ipynb",
        SUBMISSIONS / "bugs" / "mlp_no_relu",
        "--only",
        "mlp",
        "--jobs",
        "2",
        "--results-dir",
        out,
        "-f",
        "text",
        "-f",
        "junit",
    )
    assert p.returncode == 1, p.stderr  # one submission did not pass every check
    assert "Traceback" not in p.stderr
    assert "[3/3]" in p.stderr  # progress, one line per submission off a terminal
    table = list(csv.DictReader((out / "gradebook.csv").open()))
    assert [row["student"] for row in table] == ["carol", "mlp_no_relu", "reference"]
    assert table[0]["score"] == table[0]["max_score"] == "3"  # the notebook: full marks
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    for name in ("reference", "mlp_no_relu", "carol"):
        assert {p.name for p in (out / "submissions" / name).iterdir()} == {"result.json", "text.txt", "junit.xml"}


@pytest.mark.slow
def test_a_class_report_tells_who_handed_in_what(tmp_path):
    """A class as an instructor gets it: a zipped folder (graded inside, the gradebook says so),
    a starter left untouched ("not attempted"), an empty hand-in ("nothing found"), a correct
    and a wrong solution. The non-submitters are out of the pass rates, every row links to its
    feedback, the per-check table and the assignment's name are there."""
    cls = tmp_path / "class"
    for where, source in [
        ("alice/hw3", ROOT / "reference" / "layers_and_blocks.py"),
        ("dan", SUBMISSIONS / "bugs" / "mlp_no_relu" / "solution.py"),
    ]:
        (cls / where).mkdir(parents=True)
        shutil.copy(source, cls / where / "solution.py")
    (cls / "bob").mkdir()
    (cls / "bob" / "notes.txt").write_text("I will hand it in tomorrow")
    p = grader("init", cls / "carol", "--plugin", "grader.exercises.d2l_ch5")
    assert p.returncode == 0, p.stderr
    assignment = tmp_path / "hw.toml"
    assignment.write_text('name = "Homework 1: MLP"\nhooks = ["mlp"]\n')
    out = tmp_path / "out"
    p = grader(
        "run",
        "--each",
        cls,
        "--assignment",
        assignment,
        "--seed",
        "3",
        "--jobs",
        "2",
        "--results-dir",
        out,
        "-f",
        "text",
    )
    assert p.returncode == 1, p.stderr
    assert "note: alice: graded `hw3/`, the single folder in alice/ (a zipped folder)" in p.stderr
    assert "Homework 1: MLP: 4 submissions: 2 graded, 1 not attempted, 1 nothing found" in p.stderr
    rows = {r["student"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert {n: r["status"] for n, r in rows.items()} == {
        "alice": GRADED,
        "bob": NOTHING_FOUND,
        "carol": NOT_ATTEMPTED,
        "dan": GRADED,
    }
    assert rows["alice"]["percent"] == "100.0" and "single folder in alice/" in rows["alice"]["detail"]
    assert "no Python module, notebook or notes at the top level" in rows["bob"]["detail"]
    assert {r["assignment"] for r in rows.values()} == {"Homework 1: MLP"}
    checks = {r["student"]: r for r in csv.DictReader((out / "checks.csv").open())}
    assert (checks["dan"]["mlp/outputs"], checks["dan"]["mlp/structure"]) == ("failed", "passed")
    assert checks["carol"]["mlp/outputs"] == checks["bob"]["mlp/outputs"] == "not attempted"
    page = (out / "report.html").read_text()
    assert "<title>Homework 1: MLP: class report</title>" in page
    for name in rows:  # each name links to that student's text report
        assert f'<a href="submissions/{name}/text.txt">{name}</a>' in page
    # mlp/outputs: alice passed, dan failed; bob and carol count nowhere.
    assert 'data-check="mlp/outputs" data-rate="0.5000"' in page and "1/2 (50 %)" in page


def test_a_grader_folder_where_the_batch_runs_is_not_imported(tmp_path):
    """Grading processes import the installed grader, not a ``grader/`` folder in the working
    directory (``python -m`` would put it first on the import path)."""
    work = tmp_path / "course"
    (work / "grader").mkdir(parents=True)
    (work / "grader" / "__init__.py").write_text("raise SystemExit('imported the grader/ folder')\n")
    console = Path(sys.executable).with_name("grader")
    p = subprocess.run(
        [
            str(console),
            "run",
            ROOT / "reference",
            SUBMISSIONS / "bugs" / "mlp_no_relu",
            "--only",
            "mlp",
            "--jobs",
            "1",
            "--results-dir",
            tmp_path / "out",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert p.returncode == 1, p.stderr
    assert "imported the grader/ folder" not in p.stderr + p.stdout
    rows = list(csv.DictReader((tmp_path / "out" / "gradebook.csv").open()))
    assert {row["student"]: row["status"] for row in rows} == {"mlp_no_relu": GRADED, "reference": GRADED}


def test_batch_usage_errors_exit_2(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["run", "--each", str(tmp_path)])
    assert r.exit_code == 2 and "no submissions to grade" in r.output
    r = runner.invoke(main, ["run", str(ROOT / "reference"), str(tmp_path / "missing")])
    assert r.exit_code == 2 and "no such file or directory" in r.output
    (tmp_path / "notes.txt").write_text("")
    r = runner.invoke(main, ["run", str(ROOT / "reference"), str(tmp_path / "notes.txt")])
    assert r.exit_code == 2 and "not a submission (a directory, or a .py, .ipynb or .md file)" in r.output
    r = runner.invoke(main, ["run", "--each", str(tmp_path), "-f", "json", "-o", "x.json"])
    assert r.exit_code == 2 and "--output names one file" in r.output


@pytest.mark.slow
def test_an_unknown_format_stops_the_batch_before_grading(tmp_path):
    subs = tmp_path / "class"
    write(subs, "a", MLP)
    found, _ = collect([], [subs])
    with pytest.raises(BatchError, match="unknown format 'pdf'") as e:
        run_batch(found, Settings(results_dir=tmp_path / "out", jobs=1, formats=["pdf"]))
    assert e.value.usage


# -- the pieces -------------------------------------------------------------------------------------


def test_collect_names_submissions_uniquely_and_says_what_it_left_out(tmp_path):
    for d in ("x/alice", "x/bob", "x/.git", "x/__pycache__", "y/alice"):
        (tmp_path / d).mkdir(parents=True)
    for f in ("README.md", "grades.csv", "carol.ipynb", "bob.py"):
        (tmp_path / "x" / f).write_text("")
    subs, notes = collect([tmp_path / "y" / "alice"], [tmp_path / "x"])
    # A student's single notebook (or module) is a submission, named without its suffix.
    assert [(s.name, s.path.relative_to(tmp_path).as_posix()) for s in subs] == [
        ("alice", "y/alice"),
        ("alice-2", "x/alice"),
        ("bob", "x/bob"),
        ("bob-2", "x/bob.py"),
        ("carol", "x/carol.ipynb"),
    ]
    left_out = "not a submission (a directory, or a .py, .ipynb or .md file), left out"
    assert notes == [f"{tmp_path / 'x' / n}: {left_out}" for n in ("README.md", "grades.csv")]
    with pytest.raises(BatchError, match="not a submission"):
        collect([tmp_path / "x" / "grades.csv"])
    with pytest.raises(BatchError, match="no such file or directory"):
        collect([tmp_path / "x" / "missing"])


def test_each_steps_into_the_single_folder_of_a_zipped_submission(tmp_path):
    """As Gradescope's run_autograder: a student folder without .py files but with exactly one
    folder holding some (macOS's __MACOSX and hidden folders aside) is graded in that folder,
    under the student's name, with a note saying so; anything else is graded as it is."""
    layout = {
        "alice/hw3/solution.py": "",
        "bob/__MACOSX/._hw.py": "",
        "bob/.git/x.py": "",
        "bob/hw/solution.py": "",
        "carol/a/x.py": "",
        "carol/b/y.py": "",
        "dan/solution.py": "",
        "dan/extra/more.py": "",
        "erin/hw/README.md": "",
        "fay/hw/Work.IPYNB": "",  # a notebook whatever the case of its suffix, as Sources reads it
    }
    for rel, text in layout.items():
        (tmp_path / "class" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "class" / rel).write_text(text)
    subs, _ = collect([], [tmp_path / "class"])
    got = {s.name: (s.path.relative_to(tmp_path / "class").as_posix(), s.note) for s in subs}
    assert got["alice"] == ("alice/hw3", "graded `hw3/`, the single folder in alice/ (a zipped folder)")
    assert got["bob"][0] == "bob/hw" and "`hw/`" in got["bob"][1]
    assert got["fay"][0] == "fay/hw"
    assert {n: got[n] for n in ("carol", "dan", "erin")} == {
        "carol": ("carol", ""),
        "dan": ("dan", ""),
        "erin": ("erin", ""),
    }


def _result(student=None, **extra) -> dict:
    r = {
        "schema": "grader-result/1",
        "submission": "s",
        "score": 1.0,
        "max_score": 2.0,
        "seed": 1,
        "hooks": {"mlp": {"section": "s", "status": "failed", "score": 1.0, "max_score": 2.0, "checks": []}},
    }
    if student:
        r["student"] = student
    r.update(extra)
    return r


def test_row_status_says_what_happened():
    assert row_status(_result()) == (GRADED, "")
    assert row_status(_result(stats={"budget_spent": True, "timeouts": 1, "worker_failures": 1}))[0] == TIMED_OUT
    status, detail = row_status(_result(stats={"timeouts": 1, "worker_failures": 3}))
    assert status == GRADED and detail == "1 request(s) timed out; its worker ended 2 time(s) (exit, crash or memory)"
    assert row_status(_result(grading_error="the grader failed: X")) == (GRADING_ERROR, "the grader failed: X")
    assert row_status(_result(required_failed=["mlp"]))[1] == "required hook(s) not passed: mlp"


def _hooks(**statuses) -> dict:
    return {
        hook: {"section": "s", "status": st, "score": 0.0, "max_score": 1.0, "message": "m", "checks": [{}]}
        for hook, st in statuses.items()
    }


def test_row_status_tells_not_attempted_nothing_found_and_failed_apart():
    assert row_status(_result(hooks=_hooks(mlp="not_attempted", nest_mlp="skipped"))) == (NOT_ATTEMPTED, "")
    assert row_status(_result(hooks=_hooks(mlp="not_attempted", nest_mlp="failed")))[0] == GRADED
    assert row_status(_result(hooks=_hooks(mlp="failed")))[0] == GRADED
    empty = _result(hooks=_hooks(mlp="not_attempted"), nothing_found=True, warnings=["no Python module at the top"])
    assert row_status(empty) == (NOTHING_FOUND, "no Python module at the top")
    # What collecting noted (the folder graded instead) reaches the detail, whatever happened.
    noted = _result(notes=["graded `hw3/`, the single folder in alice/ (a zipped folder)"])
    assert row_status(noted) == (GRADED, "graded `hw3/`, the single folder in alice/ (a zipped folder)")
    failed = _result(grading_error="boom", notes=["graded `hw3/`"])
    assert row_status(failed) == (GRADING_ERROR, "boom; graded `hw3/`")
    assert not Entry("x", empty).submitted and not Entry("x", failed).submitted and Entry("x", noted).submitted


def test_the_per_check_table_has_a_column_per_check_with_its_status():
    def check(cid, status, **more):
        return {"id": cid, "status": status, "score": 0.0, "max_score": 0.5, "device": "cpu", "message": "", **more}

    r = _result(
        "ann",
        hooks={
            "mlp": {
                "section": "s",
                "status": "failed",
                "score": 1.0,
                "max_score": 2.0,
                "message": "",
                "checks": [
                    check("mlp/outputs[cpu]", "passed"),
                    check("mlp/outputs[cuda]", "skipped", device="cuda"),
                    check("mlp/gradients[cpu]", "failed"),
                    {**check("mlp/structure", "error"), "device": None},
                ],
            },
            "chimera": {
                "section": "s",
                "status": "not_attempted",
                "score": 0.0,
                "max_score": 1.0,
                "message": "not attempted",
                "checks": [check("chimera/outputs[cpu]", "failed", not_attempted=True)],
            },
        },
    )
    table = list(csv.reader(io.StringIO(render_checks_csv([Entry("ann", r), Entry("=bo", _result(hooks={}))]))))
    assert table[0] == [
        "student",
        "status",
        "score",
        "max_score",
        "percent",
        "mlp/outputs",
        "mlp/gradients",
        "mlp/structure",
        "chimera/outputs",
        "detail",
    ]
    assert table[1][5:9] == ["passed", "failed", "error", "not attempted"]
    assert table[2][0] == "'=bo" and table[2][5:9] == ["", "", "", ""]  # not graded: empty, not "failed"


def test_gradebook_cells_cannot_be_spreadsheet_formulas():
    entries = [Entry('=HYPERLINK("x")', _result(grading_error="-1+1"))]
    row = list(csv.reader(io.StringIO(render_csv(entries))))[1]
    assert row[0] == '\'=HYPERLINK("x")' and "'-1+1" in row


@pytest.mark.slow
def test_the_budget_running_out_is_recorded(tmp_path):
    """What makes a row "timed out" without the batch stopping anything: the submission's own
    time budget, spent by a hook that never returns."""
    from grader.trusted.grading import Grader

    g = Grader(Settings(timeouts=Timeouts(check=5, import_module=5, submission=1.5)))
    try:
        r = g.grade(SUBMISSIONS / "boundary" / "infinite_loop", seed=1, only=["mlp"])
    finally:
        g.close()
    assert r["stats"]["budget_spent"] is True
    assert row_status(r)[0] == TIMED_OUT


@pytest.mark.slow
def test_the_console_script_keeps_exit_codes_and_output(tmp_path):
    """`grader` ends with os._exit (no teardown of torch's modules): same exit codes, and what it
    printed is all there."""
    from grader.cli import console_main  # noqa: F401  the entry point pyproject.toml names

    script = Path(sys.executable).with_name("grader")
    if not script.exists():
        pytest.skip("the grader console script is not installed next to this interpreter")
    p = subprocess.run([str(script), "run", str(tmp_path / "missing")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "no such file or directory" in p.stderr
    result = tmp_path / "alice.json"
    result.write_text(json.dumps(_result()))
    p = subprocess.run([str(script), "gradebook", str(result)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.splitlines()[1].startswith("alice,graded,1,2,50.0")
