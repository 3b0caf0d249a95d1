"""``grader run``: grade one submission (several: ``gradebook.grade_class``)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..atomic import atomic_write
from . import EXIT_FAILED, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, STARTED, Failure, main

if TYPE_CHECKING:
    from ..trusted.settings import Settings


@main.command()
@click.argument("submissions", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--each",
    "each",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Grade every subdirectory (or .py, .ipynb, .md file) of this directory, one submission each (repeatable): batch mode.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Batch mode: submissions graded at once (default: one per CPU core, memory permitting).",
)
@click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Batch mode: where per-submission results, gradebook.csv and report.html go (default: grader-results).",
)
@click.option(
    "-f", "--format", "formats", multiple=True, help="Report format (repeatable; see `grader formats`). Default: text."
)
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    help="File for the matching --format (repeatable): the n-th --output goes with the n-th --format; '-' or none is standard output.",
)
@click.option("--seed", type=int, default=None, help="Seed for every random input; reproduces a run exactly.")
@click.option("--only", multiple=True, help="Grade only this hook (repeatable).")
@click.option("-k", "keyword", default=None, help="pytest -k expression selecting checks.")
@click.option(
    "--plugin",
    "plugins",
    multiple=True,
    help="Load a plugin: a module, a .py file or a package directory (repeatable).",
)
@click.option("--sandbox", default=None, help="Force a confinement level.")
@click.option("--min-sandbox", default=None, help="Refuse to grade below this confinement level.")
@click.option("--timeout", type=float, default=None, help="Seconds allowed for one check (default 20).")
@click.option(
    "--total-timeout", type=float, default=None, help="Seconds allowed for the whole submission (default 600)."
)
@click.option("--no-cuda", is_flag=True, help="Grade on the CPU only, even where CUDA devices exist.")
@click.option(
    "--assignment",
    "assignment_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Assignment TOML file (or a pyproject.toml with [tool.grader]): hooks graded, points, visibility, required hooks, time limits, seed.",
)
@click.option(
    "--fail-under",
    type=click.FloatRange(0, 100),
    default=None,
    metavar="PERCENT",
    help="Exit 0 when the score is at least PERCENT of the maximum, 1 below it (instead of 0 only when every check passed).",
)
@click.option(
    "--audience",
    type=click.Choice(["student", "instructor"]),
    default="student",
    show_default=True,
    help="Who reads the reports: 'student' withholds the messages of checks that are not visible yet.",
)
def run(
    submissions,
    formats,
    outputs,
    seed,
    only,
    keyword,
    plugins,
    sandbox,
    min_sandbox,
    timeout,
    total_timeout,
    no_cuda,
    assignment_file,
    fail_under,
    audience,
    each,
    jobs,
    results_dir,
):
    """Grade SUBMISSION: a directory of .py files, notebooks (.ipynb) and notes (.md), or one such
    file (several, or --each DIR: a class; see docs/batch.md)."""
    from ..trusted.settings import Settings, UsageError

    batch = bool(each or jobs or results_dir or len(submissions) != 1)
    try:
        settings = Settings.resolve(
            assignment_file=assignment_file,
            seed=seed,
            only=only,
            keyword=keyword,
            plugins=plugins,
            sandbox=sandbox,
            min_sandbox=min_sandbox,
            timeout=timeout,
            total_timeout=total_timeout,
            cuda=not no_cuda,
            formats=formats,
            outputs=outputs,
            audience=audience,
            fail_under=fail_under,
            batch=batch,
            results_dir=results_dir,
            jobs=jobs,
        )
    except UsageError as e:
        raise Failure(str(e), EXIT_USAGE) from None
    if batch:
        from .gradebook import grade_class

        sys.exit(grade_class(list(submissions), list(each), settings))
    sys.exit(grade_one(submissions[0], settings))


def grade_one(submission: Path, settings: Settings) -> int:
    """``grader run`` with one submission: grade it, write the reports; return the exit code."""
    from ..trusted.sources import is_submission

    problem = is_submission(submission)
    if problem:
        raise Failure(problem, EXIT_USAGE)
    from ..trusted.workers import WorkerTemplate

    # Start the worker template first: its torch import overlaps ours.
    template = WorkerTemplate()
    try:
        return _grade(template, submission, settings)
    finally:
        template.close()


def _grade(template, submission: Path, settings: Settings) -> int:
    from ..plugins import PluginError
    from ..reports import report_formats
    from ..trusted.grading import Grader, GradingError
    from ..trusted.sandbox import SandboxUnavailable
    from ..trusted.settings import UsageError

    try:
        grader = Grader(settings, template=template)
        renderers = report_formats(grader.pm)
    except (PluginError, UsageError, SandboxUnavailable) as e:
        raise Failure(str(e), EXIT_USAGE) from None
    pairs = settings.reports
    for fmt, _ in pairs:
        if fmt not in renderers:
            raise Failure(f"unknown format {fmt!r} (known: {', '.join(sorted(renderers))})", EXIT_USAGE)
    # Every output file holds a valid "did not finish" report until the real one replaces it, so
    # a grader killed mid-run (a platform timeout) still leaves something the platform can read.
    _write_failsafe(str(submission), "grading did not finish", pairs, renderers)
    try:
        result = grader.grade(submission)
    except UsageError as e:
        raise Failure(str(e), EXIT_USAGE) from None
    except (GradingError, Exception) as e:  # the grader itself failed: say so, exit 3
        reason = f"the grader failed: {type(e).__name__}: {e}"
        _write_failsafe(str(submission), reason, pairs, renderers)
        raise Failure(reason, EXIT_INTERNAL) from e
    # The run's real time, from the command's start (the worker template, torch, the plugins and
    # the checks' collection included), not only the grading's.
    result["execution_time"] = round(time.monotonic() - STARTED, 3)
    try:
        _write_reports(result, pairs, renderers, audience=settings.audience)
    except OSError as e:
        raise Failure(f"cannot write a report: {e}", EXIT_USAGE) from None
    except Exception as e:  # a format that cannot render the result is the grader's failure
        raise Failure(f"the grader failed writing reports: {type(e).__name__}: {e}", EXIT_INTERNAL) from e
    # Broken checks (an instructor plugin that cannot be collected, say) leave the grade
    # incomplete: the reports are written, but the run says so and exits 3, not 0 or 1.
    for error in result.get("grading_errors", ()):
        click.echo(f"grader: error in the checks, not the submission: {error}", err=True)
    if result.get("grading_errors"):
        return EXIT_INTERNAL
    return _exit_code(result, settings.fail_under)


def _write_failsafe(submission: str, reason: str, pairs: list[tuple[str, str]], renderers: dict) -> None:
    from ..reports import ReportOptions
    from ..trusted.scoring import failsafe_result

    for fmt, out in pairs:
        if out != "-" and (Path(out).is_file() or not Path(out).exists()):  # not into a pipe
            try:
                atomic_write(out, renderers[fmt].render(failsafe_result(submission, reason), ReportOptions()))
            except OSError as e:
                raise Failure(f"cannot write {out}: {e}", EXIT_USAGE) from None
            except Exception:  # a format that cannot render even this fails later, with the real result
                pass


def _exit_code(result: dict, fail_under: float | None = None) -> int:
    """0 every graded check passed (or, with ``--fail-under``, the score reached PERCENT); else 1."""
    from ..reports import percent

    if fail_under is not None:
        return EXIT_OK if not result.get("grading_error") and percent(result) >= fail_under else EXIT_FAILED
    return EXIT_OK if _all_passed(result) else EXIT_FAILED


def _write_reports(result: dict, pairs: list[tuple[str, str]], renderers: dict, audience: str = "student") -> None:
    from ..reports import ReportOptions

    for fmt, out in pairs:
        color = out == "-" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        data = renderers[fmt].render(result, ReportOptions(color=color, audience=audience))
        if out == "-":
            if isinstance(data, bytes):
                sys.stdout.buffer.write(data)
            else:
                sys.stdout.write(data)
            sys.stdout.flush()
        else:
            atomic_write(out, data)


def _all_passed(result: dict) -> bool:
    from ..reports import all_passed

    return all_passed(result)
