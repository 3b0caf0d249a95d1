"""The host's filesystem as the levels see it: where the Python runtime and the grader live
(``runtime_roots``, ``grader_paths``: what a worker may import, what it must never see) and
what an unprivileged uid can read there."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
import types
from collections.abc import Iterable


def runtime_roots() -> list[str]:
    """The directories of the Python runtime the workers run on (stdlib, venv, site-packages)."""
    roots = set()
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        for q in (p, os.path.realpath(p)):
            if os.path.isdir(q):
                roots.add(os.path.normpath(q))
    exe = os.path.realpath(sys.executable)
    roots.add(os.path.dirname(os.path.dirname(exe)))
    # Nested roots are covered by their parent.
    out: list[str] = []
    for r in sorted(roots, key=len):
        if not any(is_under(r, o) for o in out):
            out.append(r)
    return out


def is_under(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or lies beneath it (by name: nothing is resolved)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def grader_paths(plugins: Iterable[object] = ()) -> list[str]:
    """Directories (or files) of the grader and every plugin: the reference, the checks, the
    specs. Never visible to a worker, wherever they are installed (editable or site-packages)."""
    found: set[str] = set()

    def add_module(name: str, whole: bool = False) -> None:
        # A module hides its whole top-level package; ``whole`` hides the package ``name`` itself.
        top = name if whole else name.split(".")[0]
        if top in ("", "builtins", "__main__", "torch", "pluggy", "pytest", "_pytest"):
            return
        mod = sys.modules.get(top)
        locations: list[str] = []
        if mod is not None:
            locations = list(getattr(mod, "__path__", []) or []) or [getattr(mod, "__file__", None) or ""]
        else:
            try:
                spec = importlib.util.find_spec(top)
            except (ImportError, ValueError):
                spec = None
            if spec is not None:
                locations = list(spec.submodule_search_locations or []) or [spec.origin or ""]
        for loc in locations:
            if loc and os.path.exists(loc):
                found.add(os.path.realpath(loc))

    # The course content installs under the grader's namespace, from folders of its own in an
    # editable install.
    for name in ("grader", "grader.reference", "grader.exercises"):
        add_module(name, whole=True)
    try:
        for ep in importlib.metadata.entry_points(group="grader"):
            add_module(ep.module)
    except Exception:
        pass
    for plugin in plugins:
        if isinstance(plugin, types.ModuleType):
            name = plugin.__name__
            path = getattr(plugin, "__file__", None)
            if (
                path
                and not getattr(plugin, "__path__", None)
                and "." not in name
                and name not in sys.builtin_module_names
            ):
                found.add(os.path.realpath(path))  # a --plugin file.py
                continue
        else:
            name = type(plugin).__module__
        add_module(name)
    # Never hide the runtime itself (a plugin that is a top-level module of site-packages is a
    # file, not its directory).
    roots = runtime_roots() + ["/usr", "/"]
    return sorted(p for p in found if not any(is_under(r, p) for r in roots))


def parent_dirs(path: str) -> list[str]:
    """Every directory above ``path`` except /, outermost first."""
    out = []
    p = os.path.dirname(path)
    while p not in ("/", ""):
        out.append(p)
        p = os.path.dirname(p)
    return out[::-1]


def make_readable(root: str | os.PathLike[str]) -> None:
    """Let any uid read the tree under ``root`` (a copy the grader made: directories 0755, files
    0644); symbolic links are left as they are, never followed."""
    for dirpath, _dirs, names in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in names:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, 0o644)


def readable_by_others(path: str) -> bool:
    """Can an arbitrary unprivileged uid reach ``path`` (x on every parent, r on it)?"""
    try:
        for parent in parent_dirs(path + "/x"):
            if not os.stat(parent).st_mode & 0o001:
                return False
        return bool(os.stat(path).st_mode & 0o004)
    except OSError:
        return False
