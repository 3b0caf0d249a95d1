"""The options of one ``grader run``, resolved once: :class:`Settings`.

This module imports no torch: the command line resolves the settings before the worker template
starts importing it, and a batch's coordinator never imports it.

The command line builds them with :meth:`Settings.resolve`, which reads the assignment file and
applies the precedence of every option: the command line first, then the assignment file, then
the grader's default. A single run hands them to its ``Grader``; a batch hands them, as JSON
(:meth:`Settings.to_json`), to each grading process, which grades with them as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from .sandbox import Limits

if TYPE_CHECKING:
    from .assignment import Assignment


class UsageError(Exception):
    """Bad options or configuration (exit code 2)."""


@dataclass
class Timeouts:
    """Seconds. ``check`` bounds one request; ``submission`` bounds all the work on one submission."""

    check: float = 20.0
    import_module: float = 20.0
    submission: float = 600.0


DEFAULT_FORMAT = "text"  # a single run's report when no --format is given
DEFAULT_RESULTS_DIR = Path("grader-results")  # a batch's --results-dir when none is given


@dataclass
class Settings:
    """Every option of one run, resolved: what a ``Grader`` grades with, which reports the run
    writes, and how a batch runs. Built directly (tests, ``grader.testing``) its defaults are the
    grader's own; from the command line, with :meth:`resolve`."""

    # -- what is graded, and how ---------------------------------------------------------------
    seed: int | None = None  # None: a fresh random seed for each submission graded
    only: list[str] = field(default_factory=list)  # hooks graded (empty: the assignment's, else all)
    keyword: str | None = None  # pytest -k expression selecting checks
    plugins: list[str] = field(default_factory=list)  # loaded after the assignment's own plugins
    sandbox: str | None = None  # a confinement level forced (None: the strongest that works)
    min_sandbox: str | None = None  # refuse to grade below this level
    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: Limits = field(default_factory=Limits)
    cuda: bool = True  # grade on the CUDA devices too, where there are any
    assignment: Assignment | None = None  # selection, points, visibility, required hooks
    # -- reports and exit code -------------------------------------------------------------------
    formats: list[str] = field(default_factory=list)  # report formats; in a batch, besides result.json
    outputs: list[str] = field(default_factory=list)  # a single run: one file per format, "-" for stdout
    audience: str = "student"  # "student" withholds the messages of checks not visible yet
    fail_under: float | None = None  # exit 0 from this percentage of the maximum (None: all passed)
    # -- a batch (``results_dir`` set) ------------------------------------------------------------
    results_dir: Path | None = None  # where a batch writes its results; None: a single run
    jobs: int = 0  # submissions graded at once; 0: one per CPU core, memory permitting
    deadline: float | None = None  # seconds a grading process may spend on one submission; None: from timeouts

    @classmethod
    def resolve(
        cls,
        *,
        assignment_file: str | Path | None = None,
        seed: int | None = None,
        only: Iterable[str] = (),
        keyword: str | None = None,
        plugins: Iterable[str] = (),
        sandbox: str | None = None,
        min_sandbox: str | None = None,
        timeout: float | None = None,
        total_timeout: float | None = None,
        cuda: bool = True,
        formats: Iterable[str] = (),
        outputs: Iterable[str] = (),
        audience: str = "student",
        fail_under: float | None = None,
        batch: bool = False,
        results_dir: str | Path | None = None,
        jobs: int | None = None,
    ) -> Settings:
        """The settings of a run from the command line's values (None or empty: not given) and
        the assignment file: the assignment's seed, time limits and ``min_sandbox`` are defaults
        that the command line overrides. ``timeout`` bounds one check, ``total_timeout`` the whole
        submission. A single run writes each format to the matching output (standard output past
        the last one; the text report when no format is given); a batch writes every report under
        ``results_dir`` (default ``grader-results``), ``jobs`` at a time (default: one per CPU
        core, memory permitting). Raises ``UsageError`` (an ``--output`` that
        names no format, or any in a batch) and ``AssignmentError`` (the file is missing or
        wrong)."""
        formats, outputs = list(formats), list(outputs)
        if batch and outputs:
            raise UsageError("--output names one file: in batch mode every report goes under --results-dir")
        if len(outputs) > len(formats or [DEFAULT_FORMAT]):
            raise UsageError("more --output than --format options")
        if not batch:
            formats = formats or [DEFAULT_FORMAT]
            outputs += ["-"] * (len(formats) - len(outputs))
        assignment = None
        if assignment_file is not None:
            from .assignment import load_assignment

            assignment = load_assignment(assignment_file)
        if batch and not jobs:
            from .batch.budget import default_jobs

            jobs = default_jobs()
        timeouts = assignment.make_timeouts() if assignment else Timeouts()
        if timeout is not None:
            timeouts.check = timeout
        if total_timeout is not None:
            timeouts.submission = total_timeout
        return cls(
            seed=assignment.seed if seed is None and assignment else seed,
            only=list(only),
            keyword=keyword,
            plugins=list(plugins),
            sandbox=sandbox,
            min_sandbox=min_sandbox or (assignment.min_sandbox if assignment else None),
            timeouts=timeouts,
            cuda=cuda,
            assignment=assignment,
            formats=formats,
            outputs=outputs,
            audience=audience,
            fail_under=fail_under,
            results_dir=Path(results_dir or DEFAULT_RESULTS_DIR) if batch else None,
            jobs=jobs or 0,
        )

    @property
    def reports(self) -> list[tuple[str, str]]:
        """A single run's reports: ``(format, output)`` pairs, output "-" for standard output."""
        return list(zip(self.formats, self.outputs))

    def to_json(self) -> str:
        """These settings as one line of JSON, read back by :meth:`from_json` (the assignment
        goes as its parsed contents: the file is not read again)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["timeouts"] = asdict(self.timeouts)
        data["limits"] = asdict(self.limits)
        if self.assignment is not None:
            data["assignment"] = {**asdict(self.assignment), "path": str(self.assignment.path)}
        if self.results_dir is not None:
            data["results_dir"] = str(self.results_dir)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        """The settings :meth:`to_json` wrote."""
        from .assignment import Assignment

        data = json.loads(text)
        data["timeouts"] = Timeouts(**data["timeouts"])
        data["limits"] = Limits(**data["limits"])
        if data["assignment"] is not None:
            data["assignment"] = Assignment(**{**data["assignment"], "path": Path(data["assignment"]["path"])})
        if data["results_dir"] is not None:
            data["results_dir"] = Path(data["results_dir"])
        return cls(**data)


__all__ = ["DEFAULT_RESULTS_DIR", "Settings", "Timeouts", "UsageError"]
