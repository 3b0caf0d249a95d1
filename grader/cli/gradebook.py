"""A class at once: ``grader run`` in batch mode, and ``grader gradebook`` (see docs/batch.md).

Batch mode exit codes follow a single run's, taken over the class: 3 when the grader failed on
some submission ("grading error" rows), else 1 when some submission did not pass every check
(or scored under --fail-under), else 0; 2 for usage errors.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..atomic import atomic_write
from . import EXIT_FAILED, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, Failure, main

if TYPE_CHECKING:
    from ..trusted.settings import Settings


@main.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", "output", default="-", show_default=True, help="CSV file ('-': standard output).")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the class report (static HTML, viewable offline) here.",
)
@click.option(
    "--checks",
    "checks_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the per-check table here (CSV: a column per check, its status), for grade disputes.",
)
@click.option("--title", default=None, help="Title of the HTML report (default: the assignment's name).")
def gradebook(results, output, html_path, checks_path, title):
    """Merge JSON results (files, or directories searched for them) into one gradebook.

    The results may come from anywhere: a batch's results directory, or one `grader run -f json
    -o RESULT.json` per CI job or container. A student is named by the result's "student" field,
    else by the file name (alice.json) or, for result.json, its directory (alice/result.json).
    """
    from ..reports.gradebook import GradebookError, load

    try:
        entries, notes = load(list(results))
    except GradebookError as e:
        raise Failure(str(e), EXIT_USAGE) from None
    for note in notes:
        click.echo(f"note: {note}", err=True)
    _write_outputs(entries, output, html_path, title, checks_path)
    if output != "-":
        click.echo(_summary(entries), err=True)


def _write_outputs(
    entries, csv_path: str | Path | None, html_path: Path | None, title: str | None, checks_path: Path | None = None
) -> None:
    from ..reports import class_report
    from ..reports.gradebook import render_checks_csv, render_csv

    try:
        if csv_path == "-":
            sys.stdout.write(render_csv(entries))
            sys.stdout.flush()
        elif csv_path is not None:
            atomic_write(str(csv_path), render_csv(entries))
        if checks_path is not None:
            atomic_write(str(checks_path), render_checks_csv(entries))
        if html_path is not None:
            atomic_write(str(html_path), class_report.render(entries, title=title, html_path=html_path))
    except OSError as e:
        raise Failure(f"cannot write the gradebook: {e}", EXIT_USAGE) from None


def _summary(entries) -> str:
    import statistics

    from ..reports.class_report import assignment_names
    from ..reports.gradebook import GRADED, GRADING_ERROR, NOT_ATTEMPTED, NOTHING_FOUND, TIMED_OUT

    statuses = [e.status for e in entries]
    pct = [e.percent for e in entries if e.percent is not None and e.submitted]
    mean = f"; mean {statistics.fmean(pct):.1f} % of those who handed something in" if pct else ""
    names = assignment_names(entries)
    name = f"{names}: " if names else ""
    return (
        f"{name}{len(entries)} submissions: {statuses.count(GRADED)} graded, "
        f"{statuses.count(NOT_ATTEMPTED)} not attempted, {statuses.count(NOTHING_FOUND)} nothing found, "
        f"{statuses.count(TIMED_OUT)} timed out, {statuses.count(GRADING_ERROR)} grading error(s){mean}"
    )


# -- grader run, batch mode ---------------------------------------------------------------------


class Progress:
    """A progress bar on a terminal; elsewhere (CI logs) one line per finished submission."""

    def __init__(self, total: int, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.total = total
        self.start = time.monotonic()

    def __call__(self, row, done: int, total: int) -> None:
        score = f"{row.score:g}/{row.max_score:g}"
        what = f"{row.name}: {score} {row.status}" + (f" ({row.detail})" if row.detail and not self.tty else "")
        if not self.tty:
            self.stream.write(f"[{done}/{total}] {what}\n")
            self.stream.flush()
            return
        width = shutil.get_terminal_size((80, 20)).columns
        bar_w = max(10, min(30, width - 50))
        filled = bar_w * done // total
        elapsed = time.monotonic() - self.start
        eta = elapsed / done * (total - done)
        line = f"[{'#' * filled}{'.' * (bar_w - filled)}] {done}/{total} {elapsed:.0f}s eta {eta:.0f}s  {what}"
        self.stream.write("\r\x1b[K" + line[: width - 1])
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def grade_class(submissions: list[Path], each: list[Path], settings: Settings) -> int:
    """``grader run`` with several submissions or ``--each``: grade them all, write the results,
    the gradebook and the class report under ``settings.results_dir``; return the exit code."""
    from ..reports import all_passed, percent
    from ..reports.gradebook import GRADING_ERROR, load
    from ..trusted.batch import BatchError, collect, jobs_for, result_path, run_batch

    try:
        subs, notes = collect(submissions, each)
    except BatchError as e:
        raise Failure(
            str(e) if submissions or each else "give a SUBMISSION directory, several, or --each DIR", EXIT_USAGE
        ) from None
    for note in notes:
        click.echo(f"note: {note}", err=True)
    for sub in subs:
        if sub.note:
            click.echo(f"note: {sub.name}: {sub.note}", err=True)
    assert settings.results_dir is not None
    out = settings.results_dir
    n_jobs = jobs_for(settings.jobs, len(subs))
    click.echo(f"Grading {len(subs)} submission(s), {n_jobs} at a time; results in {out}/", err=True)
    started = time.monotonic()
    try:
        rows = run_batch(subs, settings, progress=Progress(len(subs)))
    except BatchError as e:
        raise Failure(str(e), EXIT_USAGE if e.usage else EXIT_INTERNAL) from None
    entries, _ = load([result_path(out, r.name) for r in rows])
    _write_outputs(entries, out / "gradebook.csv", out / "report.html", None, out / "checks.csv")
    click.echo(f"{_summary(entries)} in {time.monotonic() - started:.1f} s", err=True)
    click.echo(
        f"gradebook: {out / 'gradebook.csv'}\nper check: {out / 'checks.csv'}\nclass report: {out / 'report.html'}"
    )
    check_errors = dict.fromkeys(err for e in entries for err in e.result.get("grading_errors", ()))
    for error in check_errors:  # the same broken check module in every submission: say it once
        click.echo(f"grader: error in the checks, not the submissions: {error}", err=True)
    if check_errors or any(e.status == GRADING_ERROR for e in entries):
        return EXIT_INTERNAL
    if settings.fail_under is not None:
        return EXIT_OK if all(percent(e.result) >= settings.fail_under for e in entries) else EXIT_FAILED
    return EXIT_OK if all(all_passed(e.result) for e in entries) else EXIT_FAILED
