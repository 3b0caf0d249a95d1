"""Where each loaded plugin comes from, in a form another machine can reproduce.

A Gradescope zip (``grader gradescope build``) or a GitHub Classroom workflow (``grader classroom
workflow``) grades on a machine that has only what they carry or install. For the course graded
there to be the course loaded here, each plugin loaded here must reach it: this module says how
(:func:`plugin_sources`), and the command carries it, installs it, or refuses, naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from .plugins import describe_plugins

SELECTION_VARIABLES = ("GRADER_LOAD_PLUGINS", "GRADER_DISABLE_PLUGINS")  # see grader.plugins
GRADER_DISTRIBUTION = "grader"  # the distribution of the harness and the shipped chapter

# How another machine gets a plugin (``PluginSource.kind``).
WITH_GRADER = "grader"  # it comes with the grader itself: the report formats, the shipped chapter
REQUIREMENT = "requirement"  # pip installs ``requirement`` (from an index, a VCS URL, an archive URL)
TREE = "tree"  # a local project folder pip installed it from (editable or not): carry it, install it
ARCHIVE = "archive"  # a local wheel or sdist pip installed it from: carry it, install it
FILE = "file"  # a .py file or a package directory named by path (the assignment's ``plugins``)
UNKNOWN = "unknown"  # none of these: ``why`` says what is missing


@dataclass
class PluginSource:
    """How another machine gets one loaded plugin: ``kind`` (one of the constants above), the
    ``distribution`` and ``version`` that provide it (for an installed one), the pip
    ``requirement`` or the local ``path`` to carry, and for ``UNKNOWN`` ``why``."""

    plugin: str
    kind: str
    distribution: str = ""
    version: str = ""
    requirement: str = ""
    path: Path | None = None
    why: str = ""

    def describe(self) -> str:
        """The plugin as a message names it: ``plugin 'layernorm' (grader-layernorm 0.1.0)``."""
        if self.distribution:
            return f"plugin {self.plugin!r} (distribution {self.distribution} {self.version})".rstrip()
        return f"plugin {self.plugin!r}" + (f" ({self.path})" if self.path else "")


def plugin_sources(pm) -> list[PluginSource]:
    """How another machine gets each plugin loaded on ``pm``: the entry points, the assignment's
    ``plugins`` and the ``--plugin`` ones (built-in ones and those registered directly, such as
    the assignment's own answers, need nothing). One entry per plugin, in name order."""
    out = []
    for p in describe_plugins(pm):
        if p.source in ("built-in", "registered"):
            continue
        if p.source.startswith("entry point"):
            if not p.distribution:
                out.append(PluginSource(p.name, UNKNOWN, why="its entry point names no distribution"))
            else:
                out.append(distribution_source(p.name, p.distribution))
            continue
        spec = p.spec or p.name
        path = Path(spec)
        if path.is_file() or path.is_dir():
            out.append(PluginSource(p.name, FILE, path=path.resolve()))
            continue
        out.append(_module_source(p.name, spec, p.path))
    return out


def _module_source(plugin: str, module: str, file: str) -> PluginSource:
    """A plugin named by module name: the distribution that installed it, if any."""
    top = module.split(".", 1)[0]
    if top == "grader":
        return PluginSource(plugin, WITH_GRADER, GRADER_DISTRIBUTION)
    owners = metadata.packages_distributions().get(top) or []
    if not owners:
        return PluginSource(
            plugin,
            UNKNOWN,
            path=Path(file) if file else None,
            why=f"module {module!r} ({file or 'no file'}) belongs to no installed distribution",
        )
    return distribution_source(plugin, owners[0])


def distribution_source(plugin: str, name: str) -> PluginSource:
    """How pip reinstalls distribution ``name`` elsewhere, from its ``direct_url.json`` (PEP 610):
    the VCS commit or archive URL it came from, the local folder or file it was installed from,
    or (without one: it came from a package index) ``name==version``."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return PluginSource(plugin, UNKNOWN, name, why=f"distribution {name} is not installed")
    version = str(dist.version or "")
    if name.lower().replace("_", "-") == GRADER_DISTRIBUTION:
        return PluginSource(plugin, WITH_GRADER, name, version)
    base = PluginSource(plugin, UNKNOWN, name, version)
    try:
        direct = json.loads(dist.read_text("direct_url.json") or "null")
    except ValueError:
        direct = None
    if not isinstance(direct, dict):
        base.kind, base.requirement = REQUIREMENT, f"{name}=={version}"
        return base
    url = str(direct.get("url") or "")
    sub = str(direct.get("subdirectory") or "")
    fragment = f"#subdirectory={sub}" if sub else ""
    vcs = direct.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs"):
        revision = vcs.get("commit_id") or vcs.get("requested_revision")
        base.kind = REQUIREMENT
        base.requirement = f"{name} @ {vcs['vcs']}+{url}" + (f"@{revision}" if revision else "") + fragment
        return base
    if not url.startswith("file:"):
        base.kind, base.requirement = REQUIREMENT, f"{name} @ {url}{fragment}"
        return base
    path = Path(url2pathname(unquote(urlparse(url).path)))
    if "dir_info" in direct:
        folder = path / sub if sub else path
        if folder.is_dir():
            base.kind, base.path = TREE, folder
        else:
            base.why, base.path = f"it was installed from {folder}, which no longer exists", folder
        return base
    if path.is_file():
        base.kind, base.path = ARCHIVE, path
    else:
        base.why, base.path = f"it was installed from {path}, which no longer exists", path
    return base


def plugin_selection() -> dict[str, str]:
    """The environment variables that choose the entry-point plugins here
    (``GRADER_LOAD_PLUGINS``, ``GRADER_DISABLE_PLUGINS``), where set: a deployment sets them too,
    so it loads the plugins loaded here."""
    import os

    return {name: os.environ[name] for name in SELECTION_VARIABLES if name in os.environ}


def requirement_name(spec: str) -> str | None:
    """The normalized distribution name a pip requirement installs (``None`` for a bare path or
    URL, whose name pip learns only by building it)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        return canonicalize_name(Requirement(spec).name)
    except InvalidRequirement:
        return None


def covers(installs: list[str], source: PluginSource) -> bool:
    """Whether one of the pip requirements ``installs`` installs ``source``'s distribution."""
    from packaging.utils import canonicalize_name

    if not source.distribution:
        return False
    names = {requirement_name(s) for s in installs}
    return canonicalize_name(source.distribution) in names


TREE_SKIP = {
    "__pycache__",
    ".git",
    ".hg",
    ".svn",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".tox",
    ".nox",
    ".venv",
    "venv",
    "build",
    "dist",
    "node_modules",
}


def tree_files(root: Path) -> list[tuple[str, Path]]:
    """The files of a plugin's project folder or package directory that a copy needs to build
    and load (build outputs, caches, virtual environments and VCS folders left out), as
    ``(relative POSIX path, file)`` in name order."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in TREE_SKIP or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and not path.is_symlink() and path.suffix not in (".pyc", ".pyo"):
            out.append((rel.as_posix(), path))
    return out


__all__ = [
    "ARCHIVE",
    "FILE",
    "PluginSource",
    "REQUIREMENT",
    "TREE",
    "UNKNOWN",
    "WITH_GRADER",
    "covers",
    "distribution_source",
    "plugin_selection",
    "plugin_sources",
    "requirement_name",
    "tree_files",
]
