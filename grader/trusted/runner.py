"""Run the course's checks with pytest, in this (trusted) process: collected once, then run for
each submission the plugin is given (one, or a grading process's queue in a batch)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from .pytest_plugin import GradingPlugin

PYTEST_ARGS = [
    "-p",
    "no:terminal",  # the grader writes its own reports
    "-p",
    "no:cacheprovider",
    "-p",
    "no:stepwise",
    "-p",
    "no:legacypath",
    # Per-submission overhead measured by benchmarks/bench.py: unraisableexception's gc.collect()
    # at exit costs ~0.2 s; logging's per-phase handler swaps ~1 ms a check once torch's hundreds
    # of loggers exist. Neither serves checks (their failures reach us as exceptions).
    "-p",
    "no:unraisableexception",
    "-p",
    "no:logging",
    "--import-mode=importlib",  # check modules of different plugins may share file names
    "-o",
    "python_functions=test_*",
    "-o",
    "xfail_strict=true",
    "--capture=sys",
    # A plugin's broken check module is reported (`grading_errors`, exit 3); the rest still grades.
    "--continue-on-collection-errors",
]


class CheckRunError(Exception):
    """pytest could not run the checks (a broken check module, a usage error)."""


def pytest_main(plugin: object, args: list[str]) -> pytest.ExitCode | int:
    """pytest.main with the grader's options and ``plugin``: the ini file of no directory it
    happens to run from, and no pytest plugin that happens to be installed (autoload is off for
    the call): what runs in the trusted process is the course's checks and its plugins."""
    with tempfile.TemporaryDirectory(prefix="grader-pytest-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n")
        old = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        try:
            return pytest.main([*PYTEST_ARGS, "--rootdir", tmp, "-c", str(ini), *args], plugins=[plugin])
        finally:
            if old is None:
                os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
            else:
                os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = old


def run_checks(plugin: GradingPlugin, check_files: list[Path], keyword: str | None = None) -> int:
    """Collect the course's checks once and let ``plugin`` run them for each of its runs;
    returns pytest's exit code. Raises CheckRunError where pytest could not run at all."""
    rc = pytest_main(plugin, [*(["-k", keyword] if keyword else []), *map(str, check_files)])
    if rc in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR) or (
        rc == pytest.ExitCode.INTERRUPTED and not plugin.outcomes
    ):
        raise CheckRunError(
            f"pytest could not run the checks (exit code {int(rc)}): " + "; ".join(plugin.internal_errors)
        )
    return int(rc)
