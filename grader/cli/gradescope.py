"""``grader gradescope build``: one zip for Gradescope's "Configure Autograder" page.

The zip holds Gradescope's two entry points (``setup.sh``, run once when the image is built;
``run_autograder``, run per submission), the assignment file and its plugin files, and the grader
itself (this installation's source tree, unless ``--install`` names where pip gets it). Every
plugin loaded here reaches Gradescope (``grader.plugin_sources``): the assignment's files and
package directories in the zip, installed plugins by pip (their project folder or archive in the
zip when they were installed from one), or the build stops, naming the plugin. See
``docs/ci-recipes.md``.
"""

from __future__ import annotations

import io
import re
import shlex
import stat
import zipfile
from pathlib import Path

import click

from ..atomic import atomic_write
from . import EXIT_USAGE, Failure, main
from .install import TORCH_INDEX, torch_requirement

SOURCE = "/autograder/source"  # where Gradescope unpacks the zip
# Fixed timestamps: the same inputs give the same zip, byte for byte.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)

SETUP_SH = """\
#!/usr/bin/env bash
# Written by `grader gradescope build`. Gradescope runs it once, as root, when it builds the
# autograder image; a failure here shows on the Configure Autograder page.
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive
{env}apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip
python3 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
# The CPU build of torch: Gradescope has no GPU, and the CUDA wheels are gigabytes.
/autograder/venv/bin/python -m pip install --index-url {torch_index} {torch}
/autograder/venv/bin/python -m pip install {install}
# Fail the build now, not at the first submission: grade an empty submission once (every hook
# "not attempted", exit code 1) to prove that torch, the worker and the assignment all load.
mkdir -p /tmp/grader-smoke
/autograder/venv/bin/grader run /tmp/grader-smoke{assignment} --format json --output /tmp/grader-smoke.json || [ $? -eq 1 ]
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Written by `grader gradescope build`. Gradescope runs it for each submission, in /autograder;
# only /autograder/results/results.json reaches students (what this prints is for instructors).
set -u
{env}submission=/autograder/submission
# Whether folder $1 holds code: a module, a notebook or Markdown notes (a README is not).
holds_code() {{
  local f
  for f in "$1"/*.py "$1"/*.ipynb "$1"/*.md; do
    [ -f "$f" ] || continue
    case "$(basename "$f")" in [Rr][Ee][Aa][Dd][Mm][Ee]*) continue ;; esac
    return 0
  done
  return 1
}}
# A zipped folder unpacks one level down: grade the single folder holding the code.
if ! holds_code "$submission"; then
  dirs=$(find "$submission" -mindepth 1 -maxdepth 1 -type d ! -name '.*' ! -name '__MACOSX')
  if [ "$(printf '%s\\n' "$dirs" | grep -c .)" = 1 ] && holds_code "$dirs"; then
    submission=$dirs
  fi
fi
mkdir -p /autograder/results
/autograder/venv/bin/grader run "$submission"{assignment} \\
  --format gradescope --output /autograder/results/results.json \\
  --format text --audience instructor
status=$?
# 1 means "some check did not pass": results.json holds the verdict, so the run succeeded.
if [ "$status" -le 1 ]; then exit 0; fi
exit "$status"
"""


@main.group()
def gradescope() -> None:
    """Gradescope: build the autograder zip."""


@gradescope.command()
@click.option(
    "--assignment",
    "assignment_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Assignment file to bundle (its plugin files come along). Without it every hook is graded.",
)
@click.option(
    "-o", "--output", default="autograder.zip", show_default=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--install",
    "installs",
    multiple=True,
    metavar="SPEC",
    help="pip requirement(s) for the grader and your plugins (repeatable), e.g. "
    "'grader @ git+https://github.com/ORG/grader@v0.1.0'. Without a requirement named grader, the zip "
    "bundles this grader's source.",
)
@click.option(
    "--torch",
    "torch_spec",
    default=None,
    metavar="SPEC",
    help="torch requirement (default: the version installed here), from --torch-index.",
)
@click.option("--torch-index", default=TORCH_INDEX, show_default=True, help="Where pip gets torch.")
def build(assignment_file, output, installs, torch_spec, torch_index):
    """Write an autograder zip (setup.sh, run_autograder, the assignment, its plugins, the
    grader) to upload on Gradescope's Configure Autograder page. Every plugin loaded here goes
    along (files and package directories in the zip, installed packages by pip), or the build
    stops naming the one it cannot carry."""
    from ..plugin_sources import requirement_name
    from ..plugins import PluginError, get_plugin_manager
    from ..trusted.assignment import AssignmentError, load_assigned_course

    files: dict[str, bytes] = {}
    run_args = ""
    base: Path | None = None
    try:
        if assignment_file is not None:
            _, pm, _ = load_assigned_course(assignment_file)
            files["assignment.toml"] = _assignment_text(assignment_file)
            base = assignment_file.resolve().parent
            run_args = f" --assignment {SOURCE}/assignment.toml"
        else:
            pm = get_plugin_manager()
    except (AssignmentError, PluginError) as e:
        raise Failure(str(e), EXIT_USAGE) from None
    requirements, local, carried = _carry(pm, list(installs), base, files, assignment_file)
    if any(requirement_name(s) == "grader" for s in installs):
        grader_install = [shlex.quote(s) for s in installs]
    else:  # the grader from this installation's source, with the --install requirements
        root = _source_tree()
        if root is None:
            raise Failure(
                "this grader is not installed from a source tree; say where pip gets it with --install", EXIT_USAGE
            )
        for rel, data in _source_files(root):
            files[f"grader-src/{rel}"] = data
        grader_install = [f"{SOURCE}/grader-src", *(shlex.quote(s) for s in installs)]
    install = " ".join(grader_install + [shlex.quote(r) for r in requirements] + local)
    torch_spec = torch_spec or torch_requirement()
    env = _environment()
    files["setup.sh"] = SETUP_SH.format(
        torch_index=shlex.quote(torch_index),
        torch=shlex.quote(torch_spec),
        install=install,
        assignment=run_args,
        env=env,
    ).encode()
    files["run_autograder"] = RUN_AUTOGRADER.format(assignment=run_args, env=env).encode()
    atomic_write(str(output), _zip(files))
    click.echo(f"wrote {output} ({len(files)} files; torch {torch_spec}; grader from {' '.join(grader_install)})")
    for line in carried:
        click.echo(f"  {line}")
    click.echo("Upload it on Gradescope: assignment → Configure Autograder → Zip file upload → Update Autograder.")


def _environment() -> str:
    """``export`` lines for the plugin selection of this shell (``GRADER_LOAD_PLUGINS``,
    ``GRADER_DISABLE_PLUGINS``), so the autograder loads the plugins loaded here."""
    from ..plugin_sources import plugin_selection

    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in plugin_selection().items())


def _carry(
    pm, installs: list[str], base: Path | None, files: dict[str, bytes], assignment_file: Path | None
) -> tuple[list[str], list[str], list[str]]:
    """Put every plugin of ``pm`` in the zip (``files``) or in the install line: returns the pip
    requirements to add, the carried folders and archives to install, and a line per plugin for
    the summary. Raises ``Failure`` (usage) for a plugin that cannot be carried."""
    from ..plugin_sources import ARCHIVE, FILE, REQUIREMENT, TREE, WITH_GRADER, covers, plugin_sources, tree_files

    requirements: list[str] = []
    local: list[str] = []
    carried: list[str] = []
    for source in plugin_sources(pm):
        if source.kind == WITH_GRADER:
            continue
        what = source.describe()
        if covers(installs, source):
            carried.append(f"{what}: installed by your --install")
        elif source.kind == FILE and source.path is not None and base is not None:
            try:
                rel = source.path.relative_to(base)
            except ValueError:
                raise Failure(
                    f"{assignment_file}: plugin {source.path} is outside the assignment's folder; move it there "
                    "(the zip keeps paths relative to the assignment file)",
                    EXIT_USAGE,
                ) from None
            if source.path.is_dir():
                for name, path in tree_files(source.path):
                    files[f"{rel.as_posix()}/{name}"] = path.read_bytes()
            else:
                files[rel.as_posix()] = source.path.read_bytes()
            carried.append(f"{what}: carried as {rel.as_posix()}")
        elif source.kind == REQUIREMENT:
            requirements.append(source.requirement)
            carried.append(f"{what}: pip installs {source.requirement!r}")
        elif source.kind == TREE and source.path is not None:
            folder = f"plugins/{source.distribution}"
            for name, path in tree_files(source.path):
                files[f"{folder}/{name}"] = path.read_bytes()
            local.append(shlex.quote(f"{SOURCE}/{folder}"))
            carried.append(f"{what}: its project folder {source.path} carried as {folder}/")
        elif source.kind == ARCHIVE and source.path is not None:
            name = f"plugins/{source.path.name}"
            files[name] = source.path.read_bytes()
            local.append(shlex.quote(f"{SOURCE}/{name}"))
            carried.append(f"{what}: {source.path} carried as {name}")
        else:
            why = source.why or "it comes from neither a file, a package directory nor an installed distribution"
            raise Failure(
                f"{what} is loaded here but cannot be carried to Gradescope: {why}. Name its .py file or package "
                "directory in the assignment's `plugins`, or say where pip gets it with --install SPEC "
                "(or leave it out here with GRADER_DISABLE_PLUGINS=NAME)",
                EXIT_USAGE,
            )
    return requirements, local, carried


def _assignment_text(path: Path) -> bytes:
    """The assignment as a standalone file: a pyproject's [tool.grader] table is re-rooted."""
    text = path.read_bytes()
    if path.name != "pyproject.toml":
        return text
    from ..trusted.assignment import tomllib

    table = tomllib.loads(text.decode("utf-8"))["tool"]["grader"]
    return _toml(table).encode()


def _toml(table: dict, prefix: str = "") -> str:
    """Enough of a TOML writer for an assignment table (strings, numbers, lists, tables)."""
    import json

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(type(v))

    lines, subtables = [], []
    for k, v in table.items():
        key = k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)
        if isinstance(v, dict):
            subtables.append((key, v))
        else:
            lines.append(f"{key} = {value(v)}")
    for key, sub in subtables:
        lines.append(f"\n[{prefix}{key}]")
        lines.append(_toml(sub, f"{prefix}{key}.").rstrip("\n"))
    return "\n".join(lines) + "\n"


def _source_tree() -> Path | None:
    """The project folder of this grader when it is installed from source (editable)."""
    from importlib.metadata import PackageNotFoundError, distribution

    from ..trusted.assignment import tomllib

    root = Path(__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    try:
        if tomllib.loads(pyproject.read_text())["project"]["name"] != "grader":
            return None
        distribution("grader")
    except (OSError, KeyError, PackageNotFoundError):
        return None
    return root


def _source_files(root: Path) -> list[tuple[str, bytes]]:
    """pyproject.toml, setup.py, the README and the packages they install: the top-level folders
    holding an ``__init__.py`` (the harness, and the course content setup.py installs under its
    namespace), less caches and build outputs (``plugin_sources.tree_files``)."""
    from ..plugin_sources import tree_files
    from ..trusted.assignment import tomllib

    meta = tomllib.loads((root / "pyproject.toml").read_text())
    out = [(name, (root / name).read_bytes()) for name in ("pyproject.toml", "setup.py") if (root / name).is_file()]
    readme = meta.get("project", {}).get("readme")
    if isinstance(readme, str):
        path = root / readme
        # setuptools refuses a missing readme; a stub keeps the bundled install working.
        out.append((readme, path.read_bytes() if path.is_file() else b"# grader\n"))
    tops = sorted(p for p in root.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    for top in tops:
        out += [(f"{top.name}/{name}", path.read_bytes()) for name, path in tree_files(top)]
    return out


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            executable = name in ("setup.sh", "run_autograder")
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, files[name])
    return buf.getvalue()


__all__ = ["gradescope", "build"]
