"""Harness hooks: how plugins add exercises, references, checks, tolerances, points,
visibility and report formats.

Each hook's docstring is its contract. Implement them in a module or class registered through the
``grader`` entry-point group, ``--plugin MODULE_OR_FILE.py`` or the assignment file's ``plugins``
list; name the function after the hook (``@grader.hookimpl`` is optional, as in pytest). The
chapter that ships with the grader (``exercises.d2l_ch5``) and the built-in report formats use
these same hooks.

Exercise hooks themselves (``mlp()``, ``my_linear(in_units, units)``…) are not declared here:
they come from the modules a plugin returns from ``grader_exercises``.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import hookspec

if TYPE_CHECKING:
    import torch

    from .reports import ReportFormat


# -- course content ---------------------------------------------------------------------------


@hookspec
def grader_exercises() -> list[ModuleType]:
    """Return exercise sections: modules whose ``@grader.hookspec`` functions are hooks a
    submission can implement.

    Each module sets ``SECTION`` (an identifier, e.g. ``"layers_and_blocks"``) and ``TITLE``
    (e.g. ``"5.1 Layers and blocks"``). Each hookspec is typed, has no default argument values
    (pluggy 1.6 and 1.7 treat defaults differently) and a docstring that is the task statement a
    student reads (``grader init`` copies it into the starter file). Hook names must be unique
    across all loaded sections.
    """


@hookspec
def grader_reference() -> list[ModuleType]:
    """Return modules that implement exercise hooks correctly: the reference.

    They are registered, in the trusted process only, on a plugin manager holding every section's
    hookspecs; a module-level function whose name is a hook name is an implementation. The
    reference should be a valid submission directory too (self-contained modules), so that
    grading it gives full marks.
    """


@hookspec
def grader_checks() -> list[str | ModuleType]:
    """Return check modules: pytest test modules (a module or a path to a ``.py`` file).

    Checks are plain pytest functions. A check belongs to the hook named by its ``hook``
    parameter or by ``@pytest.mark.hook("name")``, and may use the fixtures of
    ``grader.kit`` (``sub``, ``ref``, ``device``, ``seed``, ``rng``, ``tolerance``…). Its id in
    results is ``hook/name[params]`` where ``name`` is the function name without ``test_``.
    Checks of any section may be added, including sections of other plugins.
    """


# -- grading policy ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def grader_tolerance(hook: str, check: str, dtype: torch.dtype, device: str) -> tuple[float, float] | None:
    """Return ``(rtol, atol)`` for comparing tensors of ``dtype`` on ``device`` in ``check``
    (its name without the device cell, e.g. ``"outputs"``) of ``hook``, or ``None`` to leave
    it to the next plugin. The first non-None answer wins; the built-in default is
    ``torch.testing.assert_close``'s per-dtype tolerance (documented in the README)."""


@hookspec(firstresult=True)
def grader_points(hook: str, check: str | None) -> float | None:
    """Return the points of one check (``check`` is its name, e.g. ``"outputs"``), or with
    ``check=None`` the points of the whole hook, or ``None`` for no opinion.

    When a hook's total is given, its checks share it in proportion to their own points
    (default 1 each); device cells of one check share that check's points. The first non-None
    answer wins (the assignment file answers first)."""


@hookspec(firstresult=True)
def grader_visibility(hook: str, check: str | None) -> str | None:
    """Return the visibility of a check (or, with ``check=None``, of a whole hook): one of
    ``visible``, ``hidden``, ``after_due_date``, ``after_published``; or ``None``. Hidden
    checks still count; their messages never reach a student-visible field."""


# -- reports ----------------------------------------------------------------------------------


@hookspec
def grader_report_formats() -> list[ReportFormat]:
    """Return report formats (``grader.reports.ReportFormat``): a name for ``--format``, a
    description, and ``render(result, options) -> str | bytes`` that derives the report from
    the JSON result (``RESULT_SCHEMA.md``) alone. Names must be unique."""


@hookspec
def grader_result(result: dict[str, Any]) -> None:
    """Called with the JSON result just before reports are written. May add fields (never
    rename or drop one, never change a score: scores come from checks and points)."""
