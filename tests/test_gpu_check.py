"""`make gpu-check` (tools/gpu_check.py): the one call that checks the CUDA paths on a GPU
machine. Without a GPU here, these tests hold what can be held: it says so and exits 0 where
there is no CUDA, and every step it would take names commands, options, tests and fixtures that
exist."""

import json
import os
import re
import subprocess
import sys

from conftest import ROOT, SUBMISSIONS

SCRIPT = ROOT / "tools" / "gpu_check.py"


def plan() -> dict:
    p = subprocess.run([sys.executable, str(SCRIPT), "--plan"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_without_cuda_it_says_so_and_exits_0(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no CUDA, even on a GPU machine
    p = subprocess.run(
        [sys.executable, str(SCRIPT), "--log-dir", str(tmp_path), "--wheels", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "sees no CUDA device here: nothing to check" in p.stdout
    log = (tmp_path / "gpu-check.log").read_text()
    assert "nothing to check" in log and "pip install" not in log  # nothing installed, nothing run


def test_it_grades_every_fixture_a_gpu_must_see():
    """Every one-bug fixture with CUDA-only failures, or judged device-free, is in the plan."""
    want = set()
    for toml in (SUBMISSIONS / "bugs").glob("*/bug.toml"):
        text = toml.read_text()
        if re.search(r"^(cuda_fails|multi_gpu_fails) =|^device_free = true", text, re.MULTILINE):
            want.add(toml.parent.name)
    got = plan()["fixtures"]
    assert set(got) == want and {"fixed_hidden_mlp_plain_rand_weight", "time_matmul_unsynchronized"} <= want


def test_its_tests_exist():
    """pytest collects every test the plan names here (a wrong name would be an error there)."""
    tests = plan()["tests"]
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *tests],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    collected = p.stdout
    for t in tests:
        assert t in collected if "::" in t else f"{t}::" in collected, t


def test_its_grader_commands_take_their_options():
    """Each `grader` command of the plan, with `--help` added: click refuses an unknown option
    before it prints the help."""
    for step, commands in plan()["steps"].items():
        for cmd in commands:
            if "from grader.cli import console_main; console_main()" not in cmd:
                continue
            args = cmd[cmd.index("-c") + 2 :]
            p = subprocess.run(
                [sys.executable, "-c", "from grader.cli import console_main; console_main()", *args, "--help"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert p.returncode == 0, (step, p.stdout[-2000:], p.stderr[-2000:])


def test_make_targets():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^gpu-check:.*\n\t.*tools/gpu_check\.py", makefile, re.MULTILINE)
    assert re.search(r"^gpu-wheels:.*\n\t.*pip download.*\n?.*-r tools/gpu-requirements\.txt", makefile, re.MULTILINE)
    assert "--only-binary=:all:" in makefile
