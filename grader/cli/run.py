"""``grader run``: grade one submission."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from . import EXIT_FAILED, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, Failure, _atomic_write, _renderers, main


@main.command()
@click.argument("submission", type=click.Path(file_okay=False, path_type=Path))
@click.option("-f", "--format", "formats", multiple=True, help="Report format (repeatable; see `grader formats`). Default: text.")
@click.option("-o", "--output", "outputs", multiple=True, help="File for the matching --format (repeatable); '-' is standard output.")
@click.option("--seed", type=int, default=None, help="Seed for every random input; reproduces a run exactly.")
@click.option("--only", multiple=True, help="Grade only this hook (repeatable).")
@click.option("-k", "keyword", default=None, help="pytest -k expression selecting checks.")
@click.option("--plugin", "plugins", multiple=True, help="Load a plugin module or .py file (repeatable).")
@click.option("--sandbox", default=None, help="Force a confinement level.")
@click.option("--min-sandbox", default=None, help="Refuse to grade below this confinement level.")
@click.option("--timeout", type=float, default=None, help="Seconds allowed for one check (default 20).")
@click.option("--total-timeout", type=float, default=None, help="Seconds allowed for the whole submission (default 600).")
@click.option("--no-cuda", is_flag=True, help="Grade on the CPU only, even where CUDA devices exist.")
def run(submission, formats, outputs, seed, only, keyword, plugins, sandbox, min_sandbox, timeout, total_timeout, no_cuda):
    """Grade SUBMISSION, a directory of .py files."""
    from ..trusted.workers import Zygote

    # Start the worker template first: its torch import overlaps ours.
    zygote = Zygote()
    try:
        code = _run(zygote, submission, formats, outputs, seed, only, keyword, plugins, sandbox, min_sandbox, timeout, total_timeout, no_cuda)
    finally:
        zygote.close()
    sys.exit(code)


def _pairs(formats: tuple[str, ...], outputs: tuple[str, ...]) -> list[tuple[str, str]]:
    formats = formats or ("text",)
    if len(outputs) > len(formats):
        raise Failure("more --output than --format options", EXIT_USAGE)
    return [(f, outputs[i] if i < len(outputs) else "-") for i, f in enumerate(formats)]


def _run(zygote, submission, formats, outputs, seed, only, keyword, plugins, sandbox, min_sandbox, timeout, total_timeout, no_cuda) -> int:
    from ..plugins import PluginError
    from ..trusted.grading import Grader, GradingError, Options, UsageError
    from ..trusted.sandbox import SandboxUnavailable
    from ..trusted.submission import Timeouts

    pairs = _pairs(formats, outputs)
    if not submission.is_dir():
        raise Failure(f"{submission}: not a directory", EXIT_USAGE)
    timeouts = Timeouts()
    if timeout is not None:
        timeouts.check = timeout
    if total_timeout is not None:
        timeouts.submission = total_timeout
    options = Options(
        seed=seed, only=list(only), keyword=keyword, plugins=list(plugins), sandbox=sandbox,
        min_sandbox=min_sandbox, timeouts=timeouts, cuda=not no_cuda,
    )
    try:
        grader = Grader(options, zygote=zygote)
    except (PluginError, UsageError, SandboxUnavailable) as e:
        raise Failure(str(e), EXIT_USAGE) from None
    renderers = _renderers(grader.pm)
    for fmt, _ in pairs:
        if fmt not in renderers:
            raise Failure(f"unknown format {fmt!r} (known: {', '.join(sorted(renderers))})", EXIT_USAGE)
    from ..trusted.scoring import failsafe_result

    for fmt, out in pairs:
        if out != "-" and fmt == "json":
            import json

            _atomic_write(out, json.dumps(failsafe_result(str(submission), "grading did not finish"), indent=2))
    try:
        result = grader.grade(submission)
    except (UsageError,) as e:
        raise Failure(str(e), EXIT_USAGE) from None
    except (GradingError, Exception) as e:  # the grader itself failed: say so, exit 3
        raise Failure(f"the grader failed: {type(e).__name__}: {e}", EXIT_INTERNAL) from e
    _write_reports(result, pairs, renderers)
    return EXIT_OK if _all_passed(result) else EXIT_FAILED


def _write_reports(result: dict, pairs: list[tuple[str, str]], renderers: dict) -> None:
    from ..reports import ReportOptions

    for fmt, out in pairs:
        color = out == "-" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        data = renderers[fmt].render(result, ReportOptions(color=color))
        if out == "-":
            if isinstance(data, bytes):
                sys.stdout.buffer.write(data)
            else:
                sys.stdout.write(data)
            sys.stdout.flush()
        else:
            _atomic_write(out, data)


def _all_passed(result: dict) -> bool:
    return all(
        c["status"] in ("passed", "skipped") for h in result["hooks"].values() for c in h["checks"]
    ) and all(h["status"] in ("passed", "skipped") for h in result["hooks"].values())


