"""Confinement levels: the probe, forcing and requiring a level, what a worker sees at each level
(identity, capabilities, limits, environment, filesystem, secrets), whole-tree kills, a valid
report from a grader killed mid-run, and a hostile hook that does not stop the correct ones."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_exploits import EXPLOITS, SEED, Host, assert_gains_nothing, snoop_report, strongest

from grader.testing import Graded
from grader.trusted.grading import Grader
from grader.trusted.sandbox import LEVELS, Limits, SandboxUnavailable, choose_level, runtime_roots, survey_levels
from grader.trusted.settings import Settings, Timeouts
from grader.trusted.workers import WORKER_ENV

# Module-scoped graders: under pytest-xdist (make test) the module runs on one worker, so that
# they start once.
pytestmark = pytest.mark.xdist_group("test_confinement")

ROOT = Path(__file__).resolve().parent.parent
PROBES = survey_levels()
TIMEOUTS = Timeouts(check=4, import_module=4, submission=60)


def level_param(name: str):
    ok, why = PROBES[name]
    return pytest.param(name, marks=pytest.mark.skipif(not ok, reason=f"level {name!r} not available here: {why}"))


@pytest.fixture(scope="module")
def graders():
    made: dict[str, Grader] = {}

    def get(level: str) -> Grader:
        if level not in made:
            made[level] = Grader(
                Settings(sandbox=level, timeouts=TIMEOUTS, limits=Limits(memory=1 << 30, processes=64))
            )
        return made[level]

    yield get
    for g in made.values():
        g.close()


@pytest.fixture
def host(tmp_path):
    h = Host(tmp_path)
    yield h
    h.cleanup()


# -- probing, forcing, requiring ---------------------------------------------------------------


@pytest.mark.slow
def test_the_probe_reports_every_level_and_the_strongest_is_chosen(graders):
    assert set(PROBES) == set(LEVELS)
    assert PROBES["process"] == (True, "")  # always there
    for name, (ok, why) in PROBES.items():
        assert ok or why, f"{name}: unavailable without a reason"
    best = strongest()
    assert choose_level().name == best
    g = Grader(Settings(timeouts=TIMEOUTS))
    try:
        assert g.level.name == best
        r = g.grade(EXPLOITS / "exit_at_import", seed=1, only=["nest_mlp"])
        assert r["sandbox"]["level"] == best and r["sandbox"]["details"]
    finally:
        g.close()


def test_unknown_forced_and_required_levels_are_refused():
    with pytest.raises(SandboxUnavailable, match="unknown sandbox level 'jail'"):
        choose_level("jail")
    with pytest.raises(SandboxUnavailable, match="below the required 'bwrap'"):
        choose_level("process", minimum="bwrap")


@pytest.mark.slow
def test_cli_refuses_to_grade_below_the_minimum(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from grader.cli import main; main()",
            "run",
            str(EXPLOITS / "exit_at_import"),
            "--sandbox",
            "process",
            "--min-sandbox",
            strongest() if strongest() != "process" else "bwrap",
            "-f",
            "json",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 2
    assert "below the required" in proc.stderr or "not available" in proc.stderr


# -- what a worker sees, level by level ----------------------------------------------------------


def snoop(g: Grader, host: Host) -> dict:
    r = Graded(g.grade(host.submission("proc_snoop"), seed=SEED, only=["mlp"]))
    return snoop_report(r.check("mlp/structure")["message"])


@pytest.mark.slow
@pytest.mark.parametrize("level", [level_param(n) for n in LEVELS])
def test_what_a_worker_sees(graders, host, level):
    seen = snoop(graders(level), host)
    view = seen["view"]
    # Every level: a cleared environment, the template's argv (no secret), no capabilities, rlimits.
    assert set(view["env"]) <= set(WORKER_ENV) | {"HOME", "TMPDIR", "NUMEXPR_NUM_THREADS"}
    assert not any(str(SEED) in a for a in view["argv"])
    assert int(view["caps"], 16) == 0
    limits = view["limits"]
    assert 0 < limits["cpu"] < 1 << 40 and 0 < limits["fsize"] < 1 << 40 and 0 < limits["nofile"] <= 4096
    assert 0 < limits["as"] < 1 << 45
    if level == "process":
        # Same user, same files, same /proc: nothing more is promised, and the probe finds the grader.
        assert view["grader_visible"] is True
        return
    assert seen["found"] == [], "the run's seed reached the worker"
    assert view["grader_visible"] is False
    if os.geteuid() == 0:
        assert view["uid"] >= 2_000_000_000  # a per-worker uid
        assert 0 < limits["nproc"] <= 64
    if level in ("bwrap", "unshare"):
        assert view["pid"] < 10 and seen["seen"]["procs"] <= 3  # its own PID namespace
    if level == "bwrap":
        # The host layout plus the top directory of each runtime root (the venv lives wherever the
        # project was cloned: /work here, elsewhere in CI).
        runtime_tops = {r.strip("/").split("/")[0] for r in runtime_roots()}
        assert "root_cut" not in view
        assert (
            set(view["root"])
            <= {
                "bin",
                "dev",
                "etc",
                "lib",
                "lib32",
                "lib64",
                "libx32",
                "proc",
                "root",
                "sbin",
                "submission",
                "sys",
                "tmp",
                "usr",
            }
            | runtime_tops
        )


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="unprivileged already: test_what_a_worker_sees[bwrap] covers it")
@pytest.mark.skipif(not PROBES["bwrap"][0], reason=f"bwrap not available here: {PROBES['bwrap'][1]}")
def test_bwrap_as_an_unprivileged_user(host, monkeypatch):
    """The layout bubblewrap makes for a user who is not root: nested user namespaces, the
    worker seen as uid 65534. Forced here (CI runs as root) by giving the sandbox its user
    namespace; the worker must join the namespaces' owner first (else setns(mnt): EPERM)."""
    from grader.trusted.sandbox import BwrapLevel

    monkeypatch.setattr(BwrapLevel, "userns", lambda self: True)
    g = Grader(Settings(sandbox="bwrap", timeouts=TIMEOUTS, limits=Limits(memory=1 << 30, processes=64)))
    try:
        seen = snoop(g, host)
        view = seen["view"]
        assert view["uid"] == 65534 and int(view["caps"], 16) == 0
        assert view["pid"] < 10 and seen["found"] == [] and view["grader_visible"] is False
        r = Graded(g.grade(ROOT / "reference", seed=SEED, only=["mlp"]))
        assert r.hook("mlp")["status"] == "passed", r.messages("mlp")
    finally:
        g.close()


@pytest.mark.parametrize("level", [level_param(n) for n in LEVELS if n != "process"])
def test_no_network(graders, host, level):
    r = Graded(graders(level).grade(host.submission("socket_exfil"), seed=1, only=["mlp"]))
    assert_gains_nothing(r)
    host.assert_unharmed(settle=0.2)


# -- per-worker uids ---------------------------------------------------------------------------


def test_graders_alive_at_once_never_share_a_worker_uid(monkeypatch, tmp_path):
    """As root each worker runs under a uid of its own (its RLIMIT_NPROC, its signals): two grading
    processes at once (xdist workers, a batch's graders: pids close together, each grading many
    submissions) never hand out the same uid, nor does one process across its submissions."""
    from types import SimpleNamespace

    from grader.trusted import sandbox

    class Level:
        name, rank = "fake", 1

        def prepare(self, submission, ctx):
            uids.append(ctx.uid)
            return sandbox.Prepared(plan={})

    class Zygote:
        def ready(self):
            return {}

        def spawn(self, plan):
            return SimpleNamespace()

    def uids_of(pid: int, submissions: int) -> list[int]:
        """The uids a fresh grading process with this pid gives its first workers."""
        monkeypatch.setattr(os, "getpid", lambda: pid)
        monkeypatch.setattr(sandbox.Launcher, "_spawned", itertools.count(1))
        uids.clear()
        for _ in range(submissions):
            launcher = sandbox.Launcher(Zygote(), Level(), hidden=[])
            launcher.spawn(sub, {}, [])
            launcher.spawn(sub, {}, [])  # a second worker for the same submission
            launcher.close()
        return list(uids)

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    sub = tmp_path / "sub"
    sub.mkdir()
    uids: list[int] = []
    first = uids_of(40_000, 40)
    assert len(set(first)) == len(first) and None not in first
    for other in (40_001, 40_002, 40_000 + (1 << 14)):
        assert not set(first) & set(uids_of(other, 3)), other


# -- kills ------------------------------------------------------------------------------------


def _children_of(pid: int) -> list[tuple[int, str]]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    comm, rest = f.read().rsplit(")", 1)
                if int(rest.split()[1]) == pid and rest.split()[0] != "Z":
                    out.append((int(entry), comm.split("(", 1)[1]))
            except (OSError, ValueError, IndexError):
                pass
    return out


@pytest.mark.parametrize("level", [level_param(n) for n in LEVELS])
def test_nothing_outlives_a_grade(graders, host, level):
    """A setsid daemon and a fork bomb's children are gone once `grade` returns: results are
    written only after every worker tree (and every sandbox placeholder) is gone."""
    g = graders(level)
    g.grade(host.submission("setsid_daemon"), seed=1, only=["mlp"])
    assert host.survivors() == []
    assert [c for c in _children_of(os.getpid()) if c[1] in ("bwrap", "unshare", "setpriv", "sleep", "sh")] == []
    template = g.template.proc.pid
    assert [c for c in _children_of(template)] == []
    if level != "process":  # a plain process can write where its user can, while it lives
        host.assert_unharmed(settle=0.5)


@pytest.mark.slow
def test_a_killed_grader_leaves_a_valid_report_and_no_worker(host, tmp_path):
    """The fail-safe report is written before grading starts, for every output file; killing
    the grader mid-run leaves it readable, and its workers die with it."""
    outs = {"json": tmp_path / "r.json", "junit": tmp_path / "r.xml"}
    args = []
    for fmt, path in outs.items():
        args += ["-f", fmt, "-o", str(path)]
    sub = host.submission("import_never_returns")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from grader.cli import main; main()", "run", str(sub), *args, "--timeout", "120"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not all(p.exists() for p in outs.values()):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        time.sleep(1.0)  # grading is under way (the import hangs)
        assert proc.poll() is None
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    data = json.loads(outs["json"].read_text())
    assert data["score"] == 0 and data.get("grading_error")
    import xml.etree.ElementTree as ET

    ET.parse(outs["junit"])
    time.sleep(1.0)
    leftovers = [
        e for e in os.listdir("/proc") if e.isdigit() and _cmdline(e).startswith("bwrap") and str(sub) in _cmdline(e)
    ]
    assert leftovers == []


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# -- one hostile hook among correct ones ----------------------------------------------------------

HOSTILE_MLP = """

def mlp():  # replaced: exits the worker, leaving a daemon and an atexit hook behind
    import atexit, ctypes, os, time
    atexit.register(lambda: open("/tmp/grader-exploit-canary/atexit", "w").write("x"))
    if os.fork() == 0:
        os.setsid()
        ctypes.CDLL(None).prctl(15, b"grader-exploit", 0, 0, 0)
        time.sleep(30)
        os._exit(0)
    os._exit(0)
"""


@pytest.mark.slow
def test_one_hostile_hook_among_correct_ones(host, tmp_path):
    sub = tmp_path / "mixed"
    shutil.copytree(ROOT / "reference", sub, ignore=shutil.ignore_patterns("__pycache__"))
    with open(sub / "layers_and_blocks.py", "a") as f:
        f.write(host.own(HOSTILE_MLP))
    host.path, host.before = sub, {}
    g = Grader(Settings(timeouts=Timeouts(check=10, import_module=10, submission=300)))
    try:
        r = Graded(g.grade(sub, seed=5))
    finally:
        g.close()
    assert r.hook("mlp")["score"] == 0
    others = {name: h for name, h in r["hooks"].items() if name != "mlp"}
    # Only the checks that use the submission's own `mlp` (saving and reloading its model) fail
    # with it; every other check is graded as for the reference.
    lost = {c["id"] for h in others.values() for c in h["checks"] if c["status"] in ("failed", "error")}
    assert lost <= {"save_model_file/file_written", "load_model_file/round_trip[mlp]"}, lost
    assert sum(h["score"] for h in others.values()) >= sum(h["max_score"] for h in others.values()) - len(lost)
    assert host.survivors() == []
    assert sorted(os.listdir(host.canary)) == []


# -- grader sandbox: what an instructor checks on a new machine ----------------------------------


@pytest.mark.slow
def test_grader_sandbox_lists_every_level_and_the_choice(monkeypatch):
    from click.testing import CliRunner

    from grader.cli import main

    out = CliRunner().invoke(main, ["sandbox"])
    assert out.exit_code == 0, out.output
    lines = {
        line.split()[0]: line.split()[1]
        for line in out.output.splitlines()
        if line.split() and line.split()[0] in LEVELS
    }
    assert set(lines) == set(LEVELS) and lines["process"] == "yes"
    assert f"grader run uses: {strongest()}" in out.output
    # A level that cannot run here says so, with the reason, and is not chosen.
    top = strongest()
    if top != "process":
        monkeypatch.setattr(LEVELS[top], "available", lambda self, features=None: (False, "missing in this test"))
        out = CliRunner().invoke(main, ["sandbox"])
        assert out.exit_code == 0, out.output
        assert any(
            line.startswith(top) and "no" in line.split()[1] and "missing in this test" in line
            for line in out.output.splitlines()
        )
        assert f"grader run uses: {top}" not in out.output


@pytest.mark.slow
@pytest.mark.parametrize("limit", ["RLIMIT_AS", "RLIMIT_DATA"])
def test_headroom_is_seen_under_either_memory_limit(limit):
    """``serve.has_headroom`` (which retires a hoarding worker, and blames a module whose import
    hoards) sees the limit the worker runs under: RLIMIT_AS, or RLIMIT_DATA where CUDA is
    graded. A shared mapping would pass under RLIMIT_DATA whatever the hoard."""
    code = f"""
import resource
from grader.worker import confine, serve
now = confine.vm_size() if "{limit}" == "RLIMIT_AS" else confine.vm_data()
resource.setrlimit(resource.{limit}, (now + (256 << 20), resource.RLIM_INFINITY))
roomy = serve.has_headroom()
resource.setrlimit(resource.{limit}, (now + (32 << 20), resource.RLIM_INFINITY))
print(roomy, serve.has_headroom())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "False"]
