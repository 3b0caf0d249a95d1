"""``grader list``, ``grader init``, ``grader plugins``, ``grader formats``."""

from __future__ import annotations

from pathlib import Path

import click

from . import EXIT_USAGE, Failure, _renderers, main


@main.command("list")
@click.option("--plugin", "plugins", multiple=True, help="Load a plugin module or .py file (repeatable).")
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
@click.option("--plugin", "plugins", multiple=True, help="Load a plugin module or .py file (repeatable).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def init(directory, plugins, force):
    """Write a starter submission into DIRECTORY: one stub per hook, raising NotImplementedError,
    with the task statement as its docstring."""
    from ..plugins import PluginError, get_plugin_manager
    from ..trusted.course import load_course
    from ..trusted.starter import starter_files

    try:
        course = load_course(get_plugin_manager(list(plugins)))
    except PluginError as e:
        raise Failure(str(e), EXIT_USAGE) from None
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in starter_files(course).items():
        path = directory / name
        if path.exists() and not force:
            raise Failure(f"{path} exists (use --force to overwrite)", EXIT_USAGE)
        path.write_text(text)
        click.echo(f"wrote {path}")


@main.command()
@click.option("--plugin", "plugins", multiple=True, help="Load a plugin module or .py file (repeatable).")
def plugins(plugins):
    """List loaded plugins: name, where they come from, version."""
    from ..plugins import PluginError, describe_plugins, get_plugin_manager

    try:
        pm = get_plugin_manager(list(plugins))
    except PluginError as e:
        raise Failure(str(e), EXIT_USAGE) from None
    for p in describe_plugins(pm):
        click.echo(f"{p.name:<36} {p.source:<28} {p.version:<10} {p.path}")


@main.command()
@click.option("--plugin", "plugins", multiple=True, help="Load a plugin module or .py file (repeatable).")
def formats(plugins):
    """List report formats."""
    from ..plugins import get_plugin_manager

    for name, f in sorted(_renderers(get_plugin_manager(list(plugins))).items()):
        click.echo(f"{name:<12} {f.description}")


