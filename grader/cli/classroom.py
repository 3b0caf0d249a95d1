"""``grader classroom workflow``: the GitHub Actions workflow for a GitHub Classroom assignment.

GitHub Classroom takes points only from a workflow named ``Autograding Tests`` whose single job
is ``run-autograding-tests`` (the reporter's README). The grading step writes the runner JSON
(``--format classroom``) and hands it, base64-encoded, to
``classroom-resources/autograding-grading-reporter`` through the environment variable named
after the step id, upper-cased, plus ``_RESULTS``. Every plugin loaded here reaches the runner: the
assignment's files and package directories are in the repository, installed plugins are added
to the install step, and one that the runner could not get stops the command, naming it. See
``docs/ci-recipes.md``.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click

from .. import __version__
from ..atomic import atomic_write
from . import EXIT_USAGE, Failure, main
from .install import TORCH_INDEX, torch_requirement

DEFAULT_INSTALL = f"grader @ git+https://github.com/YOUR-ORG/grader@v{__version__}"

WORKFLOW = """\
# Written by `grader classroom workflow`. Save as .github/workflows/classroom.yml in the
# assignment's template repository. GitHub Classroom reads points only from a workflow named
# "Autograding Tests" with one job named "run-autograding-tests": keep both names.
name: Autograding Tests
on:
  push:
  workflow_dispatch:
  repository_dispatch:
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    timeout-minutes: {timeout_minutes}
{env}    steps:
      - name: Checkout code
        uses: actions/checkout@v4
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "{python}"
      - name: Install the grader
        run: |
          python -m pip install --index-url {torch_index} {torch}
          python -m pip install {install}
      - name: Allow the bwrap confinement level
        # The runner is a non-root user, and Ubuntu 24.04 (ubuntu-latest) lets AppArmor refuse
        # unprivileged user namespaces, which bubblewrap needs: without this step the grader
        # confines the student's code at the weaker landlock level. `grader sandbox` logs which
        # levels work; every report records the one used.
        run: |
          if [ -e /proc/sys/kernel/apparmor_restrict_unprivileged_userns ]; then
            sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0
          fi
          grader sandbox
      - name: Grade
        id: {step_id}
        # The n-th --output goes with the n-th --format; the text report goes to the log. The
        # grader's exit code is 1 when a check fails; the reporter turns the result into points
        # and fails the job itself, so this step only has to leave the result behind.
        run: |
          grader run {submission}{assignment} \\
            --format classroom --output grader-classroom.json \\
            --format markdown --output "$GITHUB_STEP_SUMMARY" \\
            --format text || true
          # The grader writes this file before it grades; it is missing only when the grader
          # could not start (a bad option or assignment file), and its message is in this log.
          test -s grader-classroom.json
          echo "result=$(base64 -w0 grader-classroom.json)" >> "$GITHUB_OUTPUT"
      - name: Autograding Reporter
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
          {env_name}: "${{{{ steps.{step_id}.outputs.result }}}}"
        with:
          runners: {step_id}
"""


@main.group()
def classroom() -> None:
    """GitHub Classroom: print the autograding workflow."""


@classroom.command()
@click.option(
    "--assignment",
    "assignment_path",
    default=None,
    metavar="PATH",
    help="The assignment file's path inside the student repository, e.g. .github/grader/assignment.toml "
    "(checked here when that path exists).",
)
@click.option("--submission", default=".", show_default=True, help="What to grade, relative to the repository root.")
@click.option(
    "--install",
    "installs",
    multiple=True,
    metavar="SPEC",
    help=f"pip requirement(s) for the grader and your plugins (repeatable). Default: '{DEFAULT_INSTALL}' (edit ORG).",
)
@click.option(
    "--torch",
    "torch_spec",
    default=None,
    metavar="SPEC",
    help="torch requirement (default: the version installed here).",
)
@click.option(
    "--torch-index",
    default=TORCH_INDEX,
    show_default=True,
    help="Where pip gets torch (the CPU build: runners have no GPU).",
)
@click.option("--python", "python_version", default="3.11", show_default=True, help="Python version on the runner.")
@click.option("--step-id", default="grader", show_default=True, help="Id of the grading step (letters and digits).")
@click.option("--timeout-minutes", type=click.IntRange(1, 360), default=20, show_default=True)
@click.option("-o", "--output", default="-", help="Write the workflow here instead of standard output.")
def workflow(
    assignment_path, submission, installs, torch_spec, torch_index, python_version, step_id, timeout_minutes, output
):
    """Print .github/workflows/classroom.yml: install the grader, grade, report points to Classroom."""
    if not re.fullmatch(r"[A-Za-z0-9]+", step_id):
        # The reporter reads "<ID>_RESULTS" and documents ids as letters and digits.
        raise Failure(f"--step-id {step_id!r}: use letters and digits only", EXIT_USAGE)
    from ..plugin_sources import plugin_selection

    requirements = _plugin_requirements(assignment_path, list(installs))
    selection = plugin_selection()
    text = WORKFLOW.format(
        timeout_minutes=timeout_minutes,
        python=python_version,
        torch_index=shlex.quote(torch_index),
        torch=shlex.quote(torch_spec or torch_requirement()),
        install=" ".join(shlex.quote(s) for s in [*(installs or (DEFAULT_INSTALL,)), *requirements]),
        step_id=step_id,
        env_name=f"{step_id.upper()}_RESULTS",
        submission=shlex.quote(submission),
        assignment=f" --assignment {shlex.quote(assignment_path)}" if assignment_path else "",
        env="    env:\n" + "".join(f"      {k}: {json.dumps(v)}\n" for k, v in selection.items()) if selection else "",
    )
    if output == "-":
        click.echo(text, nl=False)
    else:
        atomic_write(output, text)
        click.echo(f"wrote {output}", err=True)
    if not installs:
        click.echo("note: edit YOUR-ORG in the install line (or pass --install) to where your grader lives", err=True)


def _plugin_requirements(assignment_path: str | None, installs: list[str]) -> list[str]:
    """The pip requirements the workflow adds for the plugins loaded here, the assignment's
    included (checked here, with its names, when its path exists from this directory: the
    repository's root). Raises ``Failure`` (usage) for a plugin the workflow could not get."""
    from ..plugin_sources import FILE, REQUIREMENT, WITH_GRADER, covers, plugin_sources
    from ..plugins import PluginError, get_plugin_manager
    from ..trusted.assignment import AssignmentError, load_assigned_course

    try:
        if assignment_path is not None and Path(assignment_path).is_file():
            _, pm, _ = load_assigned_course(assignment_path)
        else:
            if assignment_path is not None:
                click.echo(
                    f"note: {assignment_path} is not here, so its names and plugins were not checked "
                    "(run this command at the root of the template repository)",
                    err=True,
                )
            pm = get_plugin_manager()
    except (AssignmentError, PluginError) as e:
        raise Failure(str(e), EXIT_USAGE) from None
    repository = Path.cwd().resolve()
    out = []
    for source in plugin_sources(pm):
        if source.kind == WITH_GRADER or covers(installs, source):
            continue
        what = source.describe()
        if source.kind == FILE and source.path is not None:
            if not source.path.is_relative_to(repository):
                raise Failure(
                    f"{what} lies outside this repository ({repository}), so the workflow's checkout would not "
                    "have it: move it next to the assignment file",
                    EXIT_USAGE,
                )
            continue  # in the repository: the checkout has it
        if source.kind == REQUIREMENT:
            out.append(source.requirement)
            click.echo(f"note: {what}: the workflow installs {source.requirement!r}", err=True)
            continue
        where = f"it was installed from {source.path}" if source.path else (source.why or "its origin is unknown")
        raise Failure(
            f"{what} is loaded here but the workflow could not install it ({where}). Push it where pip can "
            "get it and name it with --install SPEC, or put its package directory next to the assignment "
            "file and name it in the assignment's `plugins` (or leave it out here with "
            "GRADER_DISABLE_PLUGINS=NAME)",
            EXIT_USAGE,
        )
    return out


__all__ = ["classroom", "workflow"]
