"""Harness hooks: how plugins add exercises, references, checks, tolerances, points,
visibility and report formats.

Each hook's docstring is its contract. Implement them in a module or class registered through
the ``grader`` entry-point group, ``--plugin`` (a module, a ``.py`` file or a package directory)
or the assignment file's ``plugins`` list; name the function after the hook
(``@grader.hookimpl`` is optional, as in pytest). An implementation may take any subset of the
hook's arguments, none with a default value; a ``grader_*`` function that matches no hook, or
takes an argument the hook does not provide, is rejected when the plugin loads. The chapter that
ships with the grader (``grader.exercises.d2l_ch5``) and the built-in report formats use these
same hooks. ``docs/plugin-authors.md`` walks through writing a plugin.

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
def grader_exercises() -> list[ModuleType]:  # type: ignore[empty-body]  # a spec: pluggy never runs its body
    """Add exercise sections: modules whose ``@grader.hookspec`` functions are hooks a
    submission can implement.

    :return: a list of section modules. Each sets ``SECTION`` (an identifier, e.g.
        ``"layers_and_blocks"``) and ``TITLE`` (e.g. ``"5.1 Layers and blocks"``).

    Each hookspec in a section is typed, has no default argument values (pluggy 1.6 and 1.7
    treat them differently), has a name unique across all loaded sections, and has a docstring
    that is the task statement a student reads: ``grader init`` copies it into the starter
    file, ``grader list`` shows its first line.

    All implementations are called; sections keep plugin registration order.
    """


@hookspec
def grader_reference() -> list[ModuleType]:  # type: ignore[empty-body]  # a spec: pluggy never runs its body
    """Register the reference: modules that implement exercise hooks correctly.

    :return: a list of modules in which a module-level function named after an exercise hook
        implements it.

    They are registered, in the trusted process only, on a plugin manager holding every
    section's hookspecs, and checks call them through the ``ref`` fixture
    (``ref.my_linear(in_units=3, units=2)``). Keep each module self-contained, so that its
    folder is also a valid submission and grading it gives full marks.

    All implementations are called.
    """


@hookspec
def grader_checks() -> list[str | ModuleType]:  # type: ignore[empty-body]  # a spec: pluggy never runs its body
    """Add checks: pytest test modules run against every submission.

    :return: a list of check modules, as modules or paths to ``.py`` files.

    A check is a plain pytest function. It belongs to the exercise hook named by its ``hook``
    parameter or by ``@pytest.mark.hook("name")`` (any loaded section, another plugin's
    included), may set its default points with ``@pytest.mark.points(n)``, and may use the
    fixtures the built-in checks use: ``sub``, ``ref``, ``device``, ``seed``, ``rng``,
    ``make_rng``, ``tolerance``, ``cache`` (see ``grader.kit``). Its id in results is
    ``hook/name[params]``, ``name`` being the function name without ``test_``; the first line
    of its docstring describes it in reports.

    All implementations are called.
    """


# -- grading policy ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def grader_tolerance(hook: str, check: str, dtype: torch.dtype, device: str) -> tuple[float, float] | None:
    """Set the tolerance for comparing tensors of one dtype on one device in one check.

    :param hook: the exercise hook, e.g. ``"my_linear"``.
    :param check: the check's name without parameters or device cell, e.g. ``"outputs"``.
    :param dtype: the dtype of the expected tensor, e.g. ``torch.float32``.
    :param device: where the tensors were computed: ``"cpu"`` or ``"cuda:i"``.
    :return: ``(rtol, atol)``, or ``None`` to leave it to the next plugin.

    Stops at the first non-None result; the plugin registered last answers first. Without an
    answer: ``torch.testing.assert_close``'s per-dtype tolerance, and ``(1e-5, 1e-5)`` for
    float32 on CUDA (kernels may sum in another order).
    """


@hookspec(firstresult=True)
def grader_points(hook: str, check: str | None) -> float | None:
    """Set the points of one check, or the total of one hook.

    :param hook: the exercise hook.
    :param check: the check's key after ``hook/``: its name plus any parameters other than
        ``hook`` and ``device`` (``"outputs"``, ``"shapes[rgnet]"``); ``None`` asks for the
        hook's total.
    :return: points (a number, not negative), or ``None`` for no opinion.

    Without an answer a check is worth its ``@pytest.mark.points(n)``, else 1. When a hook's
    total is given, its checks share it in proportion to their own points; the device cells of
    one check share that check's points, and a skipped cell (no CUDA device) is worth nothing.
    Stops at the first non-None result: the assignment file answers first, then the plugin
    registered last.
    """


@hookspec(firstresult=True)
def grader_visibility(hook: str, check: str | None) -> str | None:
    """Set who may read the messages of one check, or of one hook's checks.

    :param hook: the exercise hook.
    :param check: the check's key after ``hook/`` (as for ``grader_points``), or ``None`` for
        the hook.
    :return: ``"visible"``, ``"hidden"``, ``"after_due_date"`` or ``"after_published"``, or
        ``None`` for no opinion.

    A check without an answer takes its hook's visibility; a hook without one is visible.
    Hidden checks still count; student-facing reports withhold their messages. Stops at the
    first non-None result, as ``grader_points``.
    """


# -- reports ----------------------------------------------------------------------------------


@hookspec
def grader_report_formats() -> list[ReportFormat]:  # type: ignore[empty-body]  # a spec: pluggy never runs its body
    """Add report formats for ``grader run --format NAME``.

    :return: a list of ``grader.reports.ReportFormat``: ``name`` (for ``--format``),
        ``description`` (shown by ``grader formats``), ``render(result, options) -> str |
        bytes`` and ``extension``.

    ``render`` derives the report from the JSON result (``RESULT_SCHEMA.md``) and the
    ``ReportOptions`` alone, so no two formats can disagree about a score; for
    ``options.audience == "student"`` it withholds the messages of checks that are not
    ``visible``. Names must be unique: a name offered twice (a built-in's included) stops the
    command with a message naming both plugins. All implementations are called; the built-in
    formats are implementations too.
    """


@hookspec
def grader_result(result: dict[str, Any]) -> None:
    """Read or annotate the JSON result of one submission before any report is rendered.

    :param result: the result (``RESULT_SCHEMA.md``); the hook may add fields to it.

    Never rename or drop a field and never change a score: scores come from checks and points.
    The return value is ignored; all implementations are called.
    """
