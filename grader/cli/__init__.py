"""The ``grader`` command (one module per group of subcommands).

Exit codes: 0 every check that ran passed; 1 some check did not pass; 2 usage or configuration
error; 3 the grader itself failed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class Failure(click.ClickException):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.exit_code = code


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="grader")
def main() -> None:
    """Grade PyTorch exercise submissions against a reference, safely."""


def console_main() -> None:
    """The ``grader`` console script: ``main``, then ``fast_exit`` (``main`` stays the click
    group that tests and ``python -c`` call)."""
    try:
        main()
        code: object = 0
    except SystemExit as e:
        code = e.code
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    fast_exit(int(code or 0))


def fast_exit(code: int) -> None:
    """Exit without the interpreter's teardown of torch's modules (over a second once
    torch._dynamo is loaded, as where an instructor's check builds a torch.optim optimizer in
    this process; benchmarks/bench.py). Every report is written (atomically) by now, and atexit
    handlers still run."""
    import atexit

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        atexit._run_exitfuncs()
    except Exception:
        pass
    os._exit(code)


def _atomic_write(path: str, data: str | bytes) -> None:
    target = Path(path)
    if target.exists() and not target.is_file():  # /dev/stdout, a pipe: write through, never replace
        with open(target, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(tmp, mode) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)


def _renderers(pm) -> dict:
    """Every report format by name; two plugins offering one name is a PluginError (silently
    keeping one would let an instructor's `json` lose to the built-in, or replace it)."""
    from ..plugins import PluginError

    out, owner = {}, {}
    for impl in pm.hook.grader_report_formats.get_hookimpls():
        plugin = getattr(impl.plugin, "__file__", None) or impl.plugin_name
        for f in impl.function() or []:
            if f.name in out:
                a, b = sorted((owner[f.name], plugin))
                raise PluginError(f"report format {f.name!r} is offered by both {a} and {b}: rename one")
            out[f.name], owner[f.name] = f, plugin
    return out


# Subcommands register themselves on `main` when their module is imported.
from . import classroom, gradebook, gradescope, info, run  # noqa: E402,F401
