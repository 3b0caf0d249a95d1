"""``%grade`` in the notebook itself: the IPython extension in a real kernel (nbclient,
jupyter_client), the kernel's warm grading process, the jobs it sends and the answers it reads.

The figures (a repeated ``%grade`` of one exercise within 1 s) are measured by
``benchmarks/bench.py``, not here."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from click.testing import CliRunner
from conftest import ROOT
from nbformat import v4

from grader.cli import main
from grader.kernel import session as kernel_session
from grader.kernel.session import GradingUnavailable, Refused, Session
from grader.reports import cell_output
from grader.trusted.batch import kernel as kernel_jobs
from grader.trusted.batch import process
from grader.trusted.batch.server import job_lines
from grader.trusted.grading import MAX_SEEDS, Grader
from grader.trusted.settings import Settings

IMPORTS = "import torch\nfrom torch import nn\nfrom torch.nn import functional as F"
MLP = """class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(20, 256)
        self.out = nn.Linear(256, 10)

    def forward(self, X):
        return self.out(F.relu(self.hidden(X)))


def mlp():
    return MLP()"""
CENTERED_ROW_MEAN = (  # one bug: each row's mean instead of the mean of all elements
    "class CenteredLayer(nn.Module):\n    def forward(self, X):\n        return X - X.mean(dim=-1, keepdim=True)\n\n\n"
    "def centered_layer():\n    return CenteredLayer()"
)
# Modules that must never enter a kernel: the reference, the checks, what runs them.
TRUSTED_ONLY = (
    "grader.reference",
    "grader.exercises",
    "grader.trusted.grading",
    "grader.trusted.pytest_plugin",
    "pytest",
)


def cells(*sources: str) -> list[dict]:
    return [{"source": s, "label": f"In [{n}]"} for n, s in enumerate(sources, 1)]


# -- the extension loads only when asked ----------------------------------------------------------------


def test_importing_grader_imports_no_ipython_and_the_kernel_side_no_torch():
    code = (
        "import sys, grader\n"
        "assert callable(grader.load_ipython_extension) and callable(grader.unload_ipython_extension)\n"
        "assert 'IPython' not in sys.modules\n"
        "import grader.kernel.session, grader.reports.cell_output\n"
        "assert 'IPython' not in sys.modules\n"
        "import grader.kernel.magic\n"
        f"bad = [m for m in sys.modules if m == 'torch' or m.startswith({TRUSTED_ONLY!r})]\n"
        "assert not bad, bad\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr


# -- %grade in a real kernel ------------------------------------------------------------------------------


def run_notebook(path: Path, sources: list[str | tuple[str, str]], timeout: int = 300) -> nbformat.NotebookNode:
    """Execute a notebook of ``sources`` (a cell tagged ``raises-exception`` is ``("error",
    code)``) in a fresh python3 kernel started in ``path``, as Jupyter's Run All does."""
    from nbclient import NotebookClient

    nb = v4.new_notebook()
    for s in sources:
        cell = v4.new_code_cell(s[1] if isinstance(s, tuple) else s)
        if isinstance(s, tuple):
            cell.metadata["tags"] = ["raises-exception"]
        nb.cells.append(cell)
    NotebookClient(nb, kernel_name="python3", timeout=timeout, resources={"metadata": {"path": str(path)}}).execute()
    return nb


def shown(cell: nbformat.NotebookNode, mime: str = "text/plain") -> str:
    """What a cell shows: its displays' ``mime`` form, its streams, its errors."""
    out = []
    for o in cell.outputs:
        if o.output_type in ("display_data", "execute_result"):
            out.append(o.data.get(mime, ""))
        elif o.output_type == "stream":
            out.append(o.text)
        elif o.output_type == "error":
            out.append(f"{o.ename}: {o.evalue}")
    return "".join(out)


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """A kernel's IPython directory (its history database) and temporary files of this test's own."""
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    return tmp_path


@pytest.mark.slow
def test_grade_in_a_real_kernel_shows_a_pass_and_a_failure_with_its_hint(kernel_env):
    (kernel_env / "assignment.toml").write_text(
        'hooks = ["centered_layer"]\n[points]\ncentered_layer = 5\n'
        '[visibility]\n"centered_layer/outputs" = "after_due_date"\n'
    )
    nb = run_notebook(
        kernel_env,
        [
            "%load_ext grader",
            IMPORTS,
            ("error", "def mlp(:\n    pass"),  # never ran in the kernel: left out of what is graded
            MLP,
            "%grade mlp",
            CENTERED_ROW_MEAN,
            "%grade centered_layer",
            "%grade",
            "%grade --seed 7 mlp",
            ("error", "%grade nosuchhook"),
            f"import sys\nprint(sorted(m for m in sys.modules if m.startswith({TRUSTED_ONLY!r})))",
            # An assignment's exercises, points and visibility; a missing file said as such.
            "%grade --assignment assignment.toml",
            ("error", "%grade --assignment assignment.toml mlp"),
            ("error", "%grade --assignment nowhere.toml"),
        ],
    )
    c = nb.cells[:2] + nb.cells[3:]
    passed = shown(c[3])
    assert "mlp" in passed and "passed" in passed and "Score: 3/3 (100.0%)" in passed, passed
    assert "does not parse" not in passed
    html = shown(c[3], "text/html")
    assert (
        html.startswith('<pre class="grader-report" style="white-space: pre-wrap">')
        and '<span style="color: #1a7f37">passed' in html
    )
    failed = shown(c[5])
    assert "centered_layer  FAILED" in failed and "hint: " in failed and "X.mean()" in failed, failed
    assert "centered_layer/outputs[cpu]" in shown(c[5], "text/html")
    both = shown(c[6])  # no argument: every exercise the kernel defines
    assert "mlp" in both and "centered_layer  FAILED" in both and "Score: 5/7" in both, both
    assert "seed 7 ·" in shown(c[7])
    refused = shown(c[8])
    assert "UsageError: no exercise `nosuchhook`" in refused and "mlp, my_sequential" in refused, refused
    assert shown(c[9]).strip() == "[]"  # the reference and the checks never entered the kernel
    assigned = shown(c[10])
    assert "centered_layer  FAILED" in assigned and "mlp" not in assigned, assigned
    assert "Score: 2.5/5 (50.0%)" in assigned and "details shown after the due date" in assigned, assigned
    assert "UsageError: `mlp` is not part of this assignment" in shown(c[11]), shown(c[11])
    assert "UsageError: %grade: " in shown(c[12]) and "nowhere.toml" in shown(c[12]), shown(c[12])


@pytest.mark.slow
def test_the_starter_notebook_works_with_grade_cells(kernel_env):
    """`grader init --notebook`'s notebook run as is: each `%grade HOOK` cell grades its exercise,
    not attempted (skipped where this machine cannot run it, not gradable where it needs an
    exercise further down); the reference's code pasted into a cell then passes."""
    r = CliRunner().invoke(main, ["init", "--notebook", str(kernel_env / "work")])
    assert r.exit_code == 0, r.output
    starter = nbformat.read(kernel_env / "work" / "work.ipynb", as_version=4)
    sources = [c.source for c in starter.cells if c.cell_type == "code"]
    sources += [MLP, "%grade mlp"]
    nb = run_notebook(kernel_env, sources, timeout=600)
    grades = [(c.source.split()[1], shown(c)) for c in nb.cells[:-1] if c.source.startswith("%grade ")]
    assert len(grades) == 44
    for hook, text in grades:
        row = next(line for line in text.splitlines() if line.startswith(f"  {hook} "))
        # A partner defined further down is not defined yet when this cell runs: said so.
        assert "not attempted" in row or "skipped" in row or "not gradable without `" in text, text
    assert "Score: 3/3 (100.0%)" in shown(nb.cells[-1]), shown(nb.cells[-1])


def _execute(kc, code: str, timeout: float = 300) -> tuple[dict, str]:
    out: list[str] = []

    def hook(msg: dict) -> None:
        content = msg["content"]
        if msg["msg_type"] == "stream":
            out.append(content["text"])
        elif msg["msg_type"] in ("display_data", "execute_result"):
            out.append(content["data"].get("text/plain", ""))
        elif msg["msg_type"] == "error":
            out.append(f"{content['ename']}: {content['evalue']}")

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    return reply["content"], "".join(out)


def _gone(pid: int, within: float) -> bool:
    """Whether process ``pid`` ends (or is a zombie) within ``within`` seconds."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


GRADING_PID = "from grader.kernel.magic import session\nprint(session().process.proc.pid)"


@pytest.mark.slow
def test_ctrl_c_stops_the_wait_and_the_kernel_lives_on(kernel_env):
    """An interrupt during `%grade` ends the wait at once (the cell shows KeyboardInterrupt), stops
    that grading process, and the next `%grade` works; the kernel's exit ends its grading process."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(kernel_env))
    try:
        _execute(kc, f"%load_ext grader\n{IMPORTS}")
        _execute(kc, MLP)
        _, text = _execute(kc, "%grade mlp")
        assert "Score: 3/3" in text, text
        _, pid = _execute(kc, GRADING_PID)
        # A cell that is quick in the kernel (``__main__``) and hangs in the worker.
        _execute(kc, "import time\nif __name__ != '__main__':\n    time.sleep(60)")
        kc.execute("%grade mlp")
        time.sleep(2)
        interrupted = time.monotonic()
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=60)["content"]
        assert time.monotonic() - interrupted < 5
        assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt", reply
        assert _gone(int(pid), 10)  # that grading process, its template and workers
        _execute(kc, "%reset -f in")  # the hanging cell leaves the history (so do the others)
        _execute(kc, f"{IMPORTS}\n{MLP}")
        _, text = _execute(kc, "%grade mlp")
        assert "Score: 3/3" in text, text
        _, pid = _execute(kc, GRADING_PID)
    finally:
        km.shutdown_kernel(now=False)  # an orderly exit: its atexit stops the grading process
    assert _gone(int(pid), 10)


@pytest.mark.slow
def test_the_grading_process_ends_when_its_kernel_is_killed(kernel_env):
    """No atexit runs in a killed kernel: the grading process sees its stdin close and ends."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(kernel_env))
    try:
        _execute(kc, "%load_ext grader")
        _, pid = _execute(kc, GRADING_PID)
        _, kernel_pid = _execute(kc, "import os\nprint(os.getpid())")
        os.kill(int(kernel_pid), signal.SIGKILL)
        # It notices once it reads its stdin: when started (a cold start), or between grades.
        assert _gone(int(pid), 120)
        # What it leaves (its log) goes when the next kernel's grading process starts.
        (left,) = (kernel_env / "tmp").glob(f"grader-kernel-{int(kernel_pid)}-*")
        kernel_session.sweep(kernel_env / "tmp")
        assert not left.exists()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# -- the kernel's grading process (no kernel: the session as the magic uses it) ---------------------------------

LEAKY = """
import os, torch
if __name__ != "__main__":
    open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "leak"), "w").close()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            with open(PIDFILE, "w") as f:
                f.write(str(os.getpid()))
            import time
            time.sleep(60)
        os._exit(0)
    torch.set_default_dtype(torch.float64)
    torch.nn.Linear.forward = lambda self, x: x.new_zeros(x.shape[:-1] + (self.out_features,))
"""
VICTIM = """
import os, torch
_leaked = os.path.exists(os.path.join(os.environ.get("TMPDIR", "/tmp"), "leak"))
if _leaked or torch.get_default_dtype() != torch.float32:
    def mlp():
        return nn.Sequential()
"""


@pytest.mark.slow
def test_the_kernels_grading_process_grades_what_each_request_asks(tmp_path, monkeypatch):
    """One warm grading process: each request has its own hooks (none: those its cells define)
    and seed (none: a fresh one), an unknown or book name gets what exists, and nothing of one
    grade (files, a daemon, torch's globals) reaches the next."""
    # A folder named like the kernel's submission where the grading process runs is not read.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "spy.py").write_text("import sys\nframe = sys._getframe()\n")
    # The weakest level (only the sweep stops the daemon); `mlp`'s messages shown after the due date.
    s = Session(Settings(sandbox="process", plugins=[str(ROOT / "tests" / "plugins" / "points_and_visibility.py")]))
    try:
        r = s.grade(cells(IMPORTS, MLP), ["mlp"], seed=5)
        assert r["seed"] == 5 and r["selection"] == ["mlp"] and r["score"] == r["max_score"] == 3
        assert r["submission"] == "kernel" and "integrity" not in r
        r = s.grade(cells(IMPORTS, MLP, CENTERED_ROW_MEAN), [])
        assert r["selection"] == ["mlp", "centered_layer"] and r["hooks"]["centered_layer"]["status"] == "failed"
        other = s.grade(cells(IMPORTS, MLP), ["mlp"])
        assert other["seed"] != r["seed"]  # a fresh seed each, as `grader run` draws one
        with pytest.raises(Refused, match=r"no exercise `mpl` \(did you mean `mlp`\?\)\. The exercises: mlp, "):
            s.grade(cells(MLP), ["mpl"])
        with pytest.raises(Refused, match="the book's name for `mlp`: `%grade mlp`"):
            s.grade(cells(MLP), ["MLP"])
        # What a student may not read yet never reaches their kernel.
        wrong = s.grade(cells(IMPORTS, "def mlp():\n    return nn.Linear(20, 10)"), ["mlp"])
        failed = [c for c in wrong["hooks"]["mlp"]["checks"] if c["status"] == "failed"]
        assert failed and {c["message"] for c in failed} == {"details shown after the due date"}
        assert not any("hint" in c for c in failed)
        with pytest.raises(Refused, match="no exercise is defined in this kernel yet"):
            s.grade(cells(IMPORTS, "x = 1"), [])
        with pytest.raises(Refused, match="the kernel's history is too large to grade"):  # past MAX_LINE
            s.grade(cells("#" + "x" * (17 << 20)), [])
        pid = s.process.proc.pid if s.process else None
        pidfile = tmp_path / "daemon.pid"
        leaky = s.grade(cells(IMPORTS, LEAKY.replace("PIDFILE", repr(str(pidfile))), MLP), ["mlp"])
        assert leaky["score"] < leaky["max_score"]  # its own forward is broken
        victim = s.grade(cells(IMPORTS, MLP, VICTIM), ["mlp"])
        assert victim["score"] == victim["max_score"] == 3, victim["hooks"]["mlp"]
        assert s.process is not None and s.process.proc.pid == pid  # the same warm process throughout
        assert pidfile.exists() and _gone(int(pidfile.read_text()), 5)
    finally:
        s.stop()
    assert pid is not None and _gone(pid, 10)


@pytest.mark.slow
def test_a_grading_process_whose_reader_ended_mid_grade_ends_quietly(tmp_path):
    """A kernel shut down (or a coordinator killed) while its grade runs: the answer has no one
    to go to, and the grading process ends with exit code 0 and no traceback in its log."""
    r, w = os.pipe()
    p = subprocess.Popen(
        [*process.COMMAND, str(w)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=(w,),
        cwd=tmp_path,
    )
    os.close(w)
    assert p.stdin is not None
    p.stdin.write(Settings(sandbox="process").to_json().encode() + b"\n")
    p.stdin.flush()
    with os.fdopen(r, "rb") as reply:
        assert json.loads(reply.readline())["event"] == "ready"
    job = {"i": 1, "cells": [{"source": IMPORTS + "\n" + MLP, "label": "In [1]"}], "hooks": ["mlp"], "seed": 1}
    p.stdin.write(json.dumps(job).encode() + b"\n")
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0 and b"Traceback" not in out, out.decode(errors="replace")


FAKE = """
import json, os, sys
reply = os.fdopen(int(sys.argv[1]), "wb", buffering=0)
sys.stdin.buffer.readline()  # the settings
"""


@pytest.mark.parametrize(
    "script, expected",
    [
        (
            "raise SystemExit('torch is not installed here')",
            GradingUnavailable("the grading process ended (exit code 1): torch is not installed here"),
        ),
        (
            'reply.write(b\'{"event": "fatal", "message": "no confinement level works here"}\\n\')',
            GradingUnavailable("the grader cannot start: no confinement level works here"),
        ),
        (  # lines that are not JSON objects, another job's answer: ignored; a result that is not one
            'reply.write(b\'not json\\n[1]\\n{"event": "ready", "deadline": "soon"}\\n\')\n'
            "job = json.loads(sys.stdin.buffer.readline())\n"
            "reply.write(json.dumps({'event': 'done', 'i': job['i'] + 1, 'result': {}}).encode() + b'\\n')\n"
            "reply.write(json.dumps({'event': 'done', 'i': job['i'], 'result': [1]}).encode() + b'\\n')\n"
            "sys.stdin.buffer.readline()",
            GradingUnavailable("the grading process sent an answer that could not be read"),
        ),
        (
            'reply.write(b\'{"event": "done", "i": 1, "error": "no exercise \\\\u001b[31m"}\\n\')\n'
            "sys.stdin.buffer.readline()",
            Refused("no exercise \\x1b[31m"),
        ),
        (
            'reply.write(b\'{"event": "done", "i": 1, "result": "\' + b\'x\' * 300)\nsys.stdin.buffer.readline()',
            GradingUnavailable("the grading process sent an answer too large to read"),
        ),
        (
            'reply.write(b\'{"event": "ready", "deadline": 0.5}\\n\')\nsys.stdin.buffer.readline()\nimport time\ntime.sleep(30)',
            GradingUnavailable("grading took longer than 0.5 s; it was stopped"),
        ),
    ],
    ids=["crash", "fatal", "garbage", "refused", "too-large", "deadline"],
)
def test_the_kernel_reads_its_grading_process_defensively(monkeypatch, script, expected):
    monkeypatch.setattr(process, "COMMAND", [sys.executable, "-c", FAKE + script])
    monkeypatch.setattr(kernel_session, "MAX_ANSWER", 200)
    s = Session()
    try:
        with pytest.raises(type(expected)) as e:
            s.grade(cells("x = 1"), [])
        assert str(e.value) == str(expected)
        # No answer: that process is gone (the next request starts afresh); an answer: it stays.
        assert (s.process is None) == isinstance(expected, GradingUnavailable)
    finally:
        s.stop()


def test_a_killed_kernels_leftovers_are_swept_and_nothing_else(tmp_path):
    zombie = subprocess.Popen(["true"])  # ended, not yet reaped: a killed kernel before its wait
    while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)
    dead, mine = tmp_path / "grader-kernel-999999999-abc", tmp_path / f"grader-kernel-{os.getpid()}-abc"
    other, reaped = tmp_path / "grader-kernel-x-abc", tmp_path / f"grader-kernel-{zombie.pid}-abc"
    for d in (dead, mine, other, reaped):
        (d / "tmp-1").mkdir(parents=True)
    (tmp_path / "grader-kernel-999999998-link").symlink_to(mine)
    kernel_session.sweep(tmp_path)
    zombie.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, other.name, "grader-kernel-999999998-link"])


# -- a kernel's job, read by the grading process ---------------------------------------------------------------

COURSE = SimpleNamespace(
    hooks={
        "mlp": SimpleNamespace(known_as=[SimpleNamespace(name="MLP")]),
        "centered_layer": SimpleNamespace(known_as=[]),
    }
)
GRADER = SimpleNamespace(course=COURSE, selection=[])
# A grader with an assignment of one exercise.
ASSIGNED = SimpleNamespace(course=COURSE, selection=["centered_layer"])


def read(grader=GRADER, **job) -> tuple[list[str] | None, int | None, str]:
    got = kernel_jobs.read_job(grader, job)
    try:
        return got.only, got.seed, str(got.submission.given)
    finally:
        got.submission.close()


def test_a_kernel_job_grades_what_it_names_or_what_its_cells_define():
    assert read(cells=cells("def centered_layer(): pass"), hooks=["mlp"], seed=3) == (["mlp"], 3, "kernel")
    # No hook named: the ones the cells define, the book's names included, in course order.
    defined = cells("class MLP: pass", "centered_layer = None", "%grade")
    assert read(cells=defined, file="work/../x") == (["mlp", "centered_layer"], None, "work_.._x")


def test_with_an_assignment_a_kernel_job_grades_its_exercises_only():
    defined = cells("class MLP: pass", "centered_layer = None")
    assert read(ASSIGNED, cells=defined) == (["centered_layer"], None, "kernel")
    with pytest.raises(
        kernel_jobs.Refused, match="`mlp` is not part of this assignment; its exercises: centered_layer"
    ):
        read(ASSIGNED, cells=defined, hooks=["mlp"])
    with pytest.raises(kernel_jobs.Refused, match=r"no exercise of this assignment .* \(`def centered_layer"):
        read(ASSIGNED, cells=cells("class MLP: pass"))


@pytest.mark.parametrize(
    "job, message",
    [
        ({"cells": "x = 1"}, "the kernel's history could not be read"),
        ({"cells": [{"source": 1}]}, "a cell that is not text"),
        ({"cells": [{"source": "x" * (1 << 20)}] * 3}, "more than 2 MiB of code"),
        ({"cells": [], "hooks": ["mlp"], "seed": "3"}, "--seed takes a whole number"),
        ({"cells": [], "hooks": ["mlp"], "seed": True}, "--seed takes a whole number"),
        ({"cells": [], "hooks": ["mlp"], "seed": 1 << 70}, "--seed takes a whole number"),
        ({"cells": [], "hooks": "mlp"}, "the exercises to grade could not be read"),
        ({"cells": [], "hooks": ["centred_layer"]}, "(did you mean `centered_layer`?)"),
        ({"cells": [], "hooks": ["MLP"]}, "the book's name for `mlp`"),
        ({"cells": cells("import torch")}, "no exercise is defined in this kernel yet"),
    ],
)
def test_a_kernel_job_that_cannot_be_graded_says_why(job, message):
    with pytest.raises(kernel_jobs.Refused) as e:
        read(**job)
    assert message in str(e.value)


def test_job_lines_are_bounded():
    stream = io.BytesIO(b'{"i": 1}\n' + b"x" * 50 + b"\n" + b'{"i": 2}\n' + b"y" * 30)
    assert list(job_lines(stream, limit=20)) == [b'{"i": 1}\n', b"", b'{"i": 2}\n', b""]


def test_reference_observations_are_kept_for_the_last_seeds_only():
    g = SimpleNamespace(caches={})
    stores = [Grader.cache_for(g, seed) for seed in range(MAX_SEEDS + 2)]  # type: ignore[arg-type]
    assert list(g.caches) == list(range(2, MAX_SEEDS + 2))
    assert Grader.cache_for(g, 2) is stores[2]  # type: ignore[arg-type]
    assert list(g.caches)[-1] == 2  # the most recent last: the next one dropped is 3


# -- what the cell shows ------------------------------------------------------------------------------------


def test_the_cells_html_is_the_text_report_escaped_and_coloured():
    from grader.trusted.scoring import failsafe_result

    result = failsafe_result("<b>kernel</b>", 'the worker said <script>alert("x")</script>\x1b[2J & left')
    text, html = cell_output.render(result)
    assert "grading error: the worker said <script>" in text  # text as the terminal shows it
    assert "<script>" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "\x1b" not in html and "\\x1b[2J &amp; left" in html
    assert '<span style="color: #8250df">grading error: ' in html
    assert html.count("<span") == html.count("</span>") and html.count("<") == 2 + 2 * html.count("<span")


def test_a_students_copy_of_a_result_holds_no_withheld_message():
    from grader.reports import ReportOptions
    from grader.reports.text import render

    def check(name: str, status: str, message: str, visibility: str, hint: str | None = None) -> dict:
        c = {"id": f"mlp/{name}[cpu]", "status": status, "score": 0.0, "max_score": 1.0, "device": "cpu"}
        return {**c, "message": message, "visibility": visibility, **({"hint": hint} if hint else {})}

    checks = [
        check("outputs", "failed", "visible difference", "visible", "visible hint"),
        check("gradients", "failed", "the secret is 42", "hidden", "secret hint"),
    ]
    hooks = {
        "mlp": {
            "section": "s",
            "status": "failed",
            "score": 0,
            "max_score": 2,
            "message": "2 of 2 checks did not pass",
        },
        "nest_mlp": {"section": "s", "status": "error", "score": 0, "max_score": 1, "message": "the secret is 43"},
    }
    hooks["mlp"].update(visibility="visible", checks=checks)
    hooks["nest_mlp"].update(visibility="visible", checks=[check("outputs", "error", "the secret is 43", "hidden")])
    result = {"submission": "kernel", "seed": 1, "score": 0, "max_score": 3, "sections": {"s": "S"}, "hooks": hooks}
    result["integrity"] = [{"source": "source", "file": "a.py", "line": 1, "what": "walks stack frames", "code": "x"}]
    copy = kernel_jobs.answer(result)["result"]
    assert "secret" not in json.dumps(copy) and "integrity" not in copy and "walks" not in json.dumps(copy)
    text = render(copy, ReportOptions())
    assert "visible difference" in text and "hint: visible hint" in text and "details hidden from students" in text
    assert "secret" in json.dumps(result)  # the grading process's own result is left whole
    assert "secret" in json.dumps(kernel_jobs.answer(result, "instructor")["result"])


@pytest.mark.parametrize("result", [{}, {"submission": "x", "seed": 1, "hooks": []}, {"hooks": {"mlp": 3}}])
def test_a_result_that_cannot_be_rendered_is_unreadable(result):
    with pytest.raises(cell_output.Unreadable):
        cell_output.render(result)


def test_the_docs_show_the_magic_as_it_is():
    """docs/notebooks.md documents `%grade`'s options, as the magic's own help gives them."""
    doc = (ROOT / "docs" / "notebooks.md").read_text()
    assert "%load_ext grader" in doc and "%grade [--seed N] [--assignment FILE] [HOOK ...]" in doc
    assert "GRADER_ASSIGNMENT" in doc
    p = subprocess.run(
        [sys.executable, "-c", "from grader.kernel.magic import GraderMagics; print(GraderMagics.grade.__doc__)"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0 and "--seed SEED" in p.stdout and "--assignment FILE" in p.stdout, p.stdout + p.stderr
