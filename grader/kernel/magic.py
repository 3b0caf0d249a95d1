"""The IPython extension: ``%load_ext grader``, then ``%grade [--seed N] [--assignment FILE] [HOOK ...]``.

``%grade`` grades the code this kernel has executed so far: the cells of its input history as
they were typed (``history_manager.input_hist_raw``), in the order they ran, as one notebook
(IPython syntax, ``%grade`` included, never runs; a cell that did not even parse in the kernel,
and so never ran, is left out). It sends them to the kernel's grading process
(``session.Session``), which grades them in confined workers with the checks and seed rules of
``grader run``, and shows the report in the cell: HTML in Jupyter, the text report elsewhere.
The reference and the checks never enter the kernel.

With an assignment file (``--assignment``, or ``$GRADER_ASSIGNMENT`` for a whole deployment) a
grade follows it as ``grader run --assignment`` does: its exercises only, its points, visibility,
plugins and seed.

The grading process starts when the extension loads, so it is usually warm by the first
``%grade``; every later one reuses it (another assignment starts another). Ctrl-C (the kernel's interrupt) stops the wait: that
grading process is stopped and a fresh one starts for the next request, and the kernel lives on.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from ..reports import cell_output
from ..trusted.settings import Settings
from ..trusted.settings import UsageError as SettingsError
from .session import GradingUnavailable, Refused, Session

FILE = "kernel"  # the submission's name in reports: "(kernel, In [5], line 2)"
ASSIGNMENT_VARIABLE = "GRADER_ASSIGNMENT"  # a deployment's assignment file, when %grade names none

_session: Session | None = None  # the kernel's one grading process
_assignment: Path | None = None  # the assignment file it grades with


def session(assignment: str | None = None) -> Session:
    """The kernel's grading process for ``assignment`` (None: ``$GRADER_ASSIGNMENT``, else
    none), created, not started, on first use; another assignment than the current one's stops
    it and creates another. Raises the settings' ``UsageError`` for an assignment file that is
    missing or wrong."""
    global _session, _assignment
    named = assignment or os.environ.get(ASSIGNMENT_VARIABLE) or None
    path = Path(named).expanduser().resolve() if named else None
    if _session is not None and path != _assignment:
        _session.stop()
        _session = None
    if _session is None:
        settings = Settings.resolve(assignment_file=path) if path else Settings()
        _session, _assignment = Session(settings), path
    return _session


def load(ipython: Any) -> None:
    """Register ``%grade`` on ``ipython`` and start the grading process in the background (a
    failure to start is reported by the first ``%grade``)."""
    ipython.register_magics(GraderMagics(ipython))
    try:
        session().start()
    except (GradingUnavailable, SettingsError):
        pass  # said by the first %grade


def unload(ipython: Any) -> None:
    """Stop the grading process (``%unload_ext grader``, ``%reload_ext grader``)."""
    if _session is not None:
        _session.stop()


def history_cells(ipython: Any) -> list[dict]:
    """The cells this kernel has run, as typed, in order: ``{"source", "label": "In [N]"}``,
    empty cells and cells that do not parse (they never ran) left out."""
    raw = list(getattr(ipython.history_manager, "input_hist_raw", None) or [])
    cells = []
    for n, source in enumerate(raw):
        if n == 0 or not isinstance(source, str) or not source.strip():
            continue
        if not _parses(ipython, source):
            continue
        cells.append({"source": source, "label": f"In [{n}]"})
    return cells


_parsed: dict[str, bool] = {}  # cell source -> whether IPython could run it


def _parses(ipython: Any, source: str) -> bool:
    """Whether IPython would run ``source`` (its magics and shell lines transformed, then
    compiled, never run)."""
    if source not in _parsed:
        try:
            compile(ipython.transform_cell(source), "<cell>", "exec", dont_inherit=True)
            _parsed[source] = True
        except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
            _parsed[source] = False
        except Exception:
            _parsed[source] = True  # IPython's own transformers failed: let the grader say
    return _parsed[source]


@magics_class
class GraderMagics(Magics):
    @magic_arguments()
    @argument("--seed", type=int, default=None, help="Seed for every random input (default: a fresh one).")
    @argument(
        "--assignment",
        metavar="FILE",
        default=None,
        help=f"The course's assignment file: its exercises, points and visibility (default: ${ASSIGNMENT_VARIABLE}).",
    )
    @argument("hooks", nargs="*", metavar="HOOK", help="Exercises to grade (default: every one this kernel defines).")
    @line_magic
    def grade(self, line: str) -> None:
        """Grade the code this kernel has run so far (its cells, in order; magics never run), in
        a confined worker, with the checks of ``grader run``, and show the report here."""
        args = parse_argstring(self.grade, line)
        cells = history_cells(self.shell)
        try:
            s = session(args.assignment)
        except SettingsError as e:
            raise UsageError(f"%grade: {e}") from None
        try:
            result = s.grade(cells, list(args.hooks), seed=args.seed, file=FILE)
        except Refused as e:
            raise UsageError(str(e)) from None
        except GradingUnavailable as e:
            raise UsageError(f"%grade could not grade: {e}") from None
        except KeyboardInterrupt:
            print("%grade stopped; the next %grade starts a fresh grading process", file=sys.stderr)
            try:
                s.start()
            except GradingUnavailable:
                pass
            raise
        try:
            text, html = cell_output.render(result)
        except cell_output.Unreadable as e:
            raise UsageError(f"%grade could not read the grading process's answer ({e})") from None
        display({"text/plain": text, "text/html": html}, raw=True)
