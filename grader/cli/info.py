"""``grader list``, ``grader init``, ``grader plugins``, ``grader formats``, ``grader sandbox``."""

from __future__ import annotations

from pathlib import Path

import click

from . import EXIT_USAGE, Failure, main


@main.command("list")
@click.option(
    "--plugin", "plugins", multiple=True, help="Load a plugin: module, .py file or package directory (repeatable)."
)
def list_(plugins):
    """List sections, hooks and their checks."""
    from ..plugins import PluginError, get_plugin_manager
    from ..trusted.course import load_course
    from ..trusted.inventory import check_inventory

    try:
        pm = get_plugin_manager(list(plugins))
        course = load_course(pm)
        inventory = check_inventory(course, pm)
    except PluginError as e:
        raise Failure(str(e), EXIT_USAGE) from None
    for section in course.sections:
        click.echo(f"{section.title} [{section.id}]")
        for hook in section.hooks:
            checks = inventory.get(hook.name, [])
            total = sum(c["points"] for c in checks)
            click.echo(f"  {hook.signature:<48} {total:g} pt  {hook.summary}")
            for c in checks:
                click.echo(f"      {c['key']:<44} {c['points']:g} pt  {c['doc']}")
        click.echo("")


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--plugin", "plugins", multiple=True, help="Load a plugin: module, .py file or package directory (repeatable)."
)
@click.option(
    "--assignment",
    "assignment_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write stubs only for the exercises this assignment file grades (its plugins loaded too).",
)
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.option(
    "--notebook",
    is_flag=True,
    help="Write one notebook (work.ipynb): per exercise its task statement, a stub cell and a `%grade` cell.",
)
def init(directory, plugins, assignment_file, force, notebook):
    """Write a starter submission into DIRECTORY: one stub per hook (every loaded section's, or
    the assignment's), raising NotImplementedError, with the task statement as its docstring
    (--notebook: as one notebook)."""
    from ..trusted.starter import NOTEBOOK, starter_files, starter_notebook, starter_sections

    course, hooks = _starter_course(list(plugins), assignment_file)
    if notebook:
        files = {NOTEBOOK: starter_notebook(course, hooks=hooks)} if starter_sections(course, hooks) else {}
    else:
        files = starter_files(course, hooks)
    if not files:
        raise Failure("nothing to write: no exercise is selected", EXIT_USAGE)
    existing = [directory / name for name in files if (directory / name).exists()]
    if existing and not force:
        raise Failure(f"{existing[0]} exists (use --force to overwrite)", EXIT_USAGE)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = directory / name
        path.write_text(text)
        click.echo(f"wrote {path}")


def _starter_course(plugins: list[str], assignment_file: Path | None):
    """The course a starter is written for, and the hooks to stub (``None``: all): the plugins
    loaded (entry points, the assignment's ``plugins``, ``--plugin``) and the assignment's
    selection, its names checked against the course."""
    from ..plugins import PluginError, get_plugin_manager
    from ..trusted.assignment import AssignmentError, load_assigned_course
    from ..trusted.course import load_course

    try:
        if assignment_file is None:
            return load_course(get_plugin_manager(plugins)), None
        assignment, _, course = load_assigned_course(assignment_file, check_names=False, extra=plugins)
        return course, assignment.selection(course)
    except (AssignmentError, PluginError) as e:
        raise Failure(str(e), EXIT_USAGE) from None


@main.command()
@click.option(
    "--plugin", "plugins", multiple=True, help="Load a plugin: module, .py file or package directory (repeatable)."
)
def plugins(plugins):
    """List loaded plugins: name, where they come from, version, file.

    Entry-point plugins (the ``grader`` group) load unless GRADER_DISABLE_PLUGINS=1 (or a list
    of names to skip); GRADER_LOAD_PLUGINS=a,b loads only those."""
    from ..plugins import PluginError, describe_plugins, get_plugin_manager

    try:
        pm = get_plugin_manager(list(plugins))
    except PluginError as e:
        raise Failure(str(e), EXIT_USAGE) from None
    rows = [("name", "source", "version", "file")] + [
        (p.name, p.source, p.version or "-", p.path) for p in describe_plugins(pm)
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        click.echo("  ".join(f"{c:<{w}}" for c, w in zip(r, widths)) + f"  {r[3]}")


@main.command()
@click.option(
    "--plugin", "plugins", multiple=True, help="Load a plugin: module, .py file or package directory (repeatable)."
)
def formats(plugins):
    """List report formats."""
    from ..plugins import PluginError, get_plugin_manager
    from ..reports import report_formats

    try:
        renderers = report_formats(get_plugin_manager(list(plugins)))
    except PluginError as e:
        raise Failure(str(e), EXIT_USAGE) from None
    for name, f in sorted(renderers.items()):
        click.echo(f"{name:<12} {f.description}")


@main.command()
def sandbox():
    """Confinement levels on this machine, strongest first: whether each works here (the host
    has what it needs and a worker really starts under it) or why not, and the one `grader run` picks."""
    from ..trusted.sandbox import LEVELS, choose_level, survey_levels
    from ..trusted.workers import WorkerTemplate

    template = WorkerTemplate()  # the levels are tried with real workers, as a run would
    try:
        found = survey_levels(template)
        for name, cls in sorted(LEVELS.items(), key=lambda kv: -kv[1].rank):
            ok, why = found[name]
            click.echo(f"{name:<9} {'yes' if ok else 'no':<4} {cls().describe() if ok else why}")
        click.echo(
            f"\ngrader run uses: {choose_level(template=template).name} (--sandbox forces a level, --min-sandbox refuses to run below one)"
        )
    finally:
        template.close()
