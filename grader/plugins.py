"""The harness plugin manager: a factory, the default plugins and plugin discovery.

Plugins are registered in this order (pluggy calls the last registered first, so for a
``firstresult`` hook such as ``grader_points`` a later plugin overrides an earlier one):

1. the built-in modules of ``DEFAULT_PLUGINS`` (the report formats);
2. the ``grader`` entry-point group: pip-installed packages, the shipped chapter among them.
   ``GRADER_DISABLE_PLUGINS=1`` loads none of them, ``GRADER_DISABLE_PLUGINS=a,b`` all but those;
   ``GRADER_LOAD_PLUGINS=a,b`` only those (set but empty: none), and naming one that is not
   installed is an error rather than a course silently missing its exercises;
3. the assignment file's ``plugins`` list, then ``--plugin`` arguments: a module name, a ``.py``
   file, or a package directory (imported under the directory's name).

Each plugin is validated as it is registered: a ``grader_*`` function that is no hook (a typo),
an argument the hook does not provide, or an argument with a default value (pluggy 1.6 never
passes it, 1.7 does) raises ``PluginError`` naming the plugin, where it came from, the hook and
its expected arguments.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from . import PROJECT, hookspecs

ENTRY_POINT_GROUP = "grader"

DEFAULT_PLUGINS = (
    "grader.reports.text",
    "grader.reports.json_report",
    "grader.reports.gradescope",
    "grader.reports.classroom",
    "grader.reports.junit",
    "grader.reports.markdown",
)


class PluginError(Exception):
    """A plugin could not be loaded or does not fit the hookspecs (message says which)."""


class HarnessPluginManager(pluggy.PluginManager):
    """Accepts unmarked ``grader_*`` functions, like pytest accepts ``pytest_*`` ones, and
    remembers where each plugin came from (``origins``, for ``grader plugins``)."""

    def __init__(self, project_name: str = PROJECT):
        super().__init__(project_name)
        self.origins: dict[str, LoadedPlugin] = {}

    def parse_hookimpl_opts(self, plugin: Any, name: str):
        if not name.startswith("grader_"):
            return None
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None:
            return opts
        try:
            method = getattr(plugin, name)
        except Exception:
            return None
        return {} if inspect.isroutine(method) else None


@dataclass
class LoadedPlugin:
    """One registered plugin: its name, where it came from, its version and file; for an entry
    point, the ``distribution`` that declares it; for the assignment's and ``--plugin`` ones,
    the ``spec`` as named (a module name, a file or a package directory)."""

    name: str
    source: str
    version: str
    path: str
    distribution: str = ""
    spec: str = ""


def _import_file(name: str, init: Path, package_dir: Path | None = None) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(package_dir)] if package_dir is not None else None
    )
    if spec is None or spec.loader is None:  # not a file Python can load as a module
        raise PluginError(f"plugin {str(package_dir or init)} cannot be loaded as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(name, None)
        raise PluginError(f"plugin {str(package_dir or init)} failed to import: {type(e).__name__}: {e}") from e
    return module


def _load_path(spec: str) -> ModuleType:
    """A plugin named on the command line or in an assignment file: a package directory, a
    ``.py`` file or an importable module name."""
    path = Path(spec)
    if path.is_dir():
        init = path / "__init__.py"
        if not init.is_file():
            raise PluginError(f"plugin directory {spec} is not a package (it has no __init__.py)")
        # Imported under its own name, so the package's absolute imports (and its check
        # modules' ``from package import ...``) work without installing it.
        name = path.resolve().name
        loaded = sys.modules.get(name)
        if loaded is not None:
            if Path(getattr(loaded, "__file__", "") or "").resolve() == init.resolve():
                return loaded
            raise PluginError(
                f"plugin directory {spec}: a different module named {name!r} is already imported ({getattr(loaded, '__file__', None)})"
            )
        return _import_file(name, init, package_dir=path.resolve())
    if spec.endswith(".py") or path.is_file():
        if not path.is_file():
            raise PluginError(f"plugin file not found: {spec}")
        return _import_file(f"grader_local_plugin_{path.stem}", path)
    try:
        return importlib.import_module(spec)
    except Exception as e:
        raise PluginError(f"plugin {spec!r} failed to import: {type(e).__name__}: {e}") from e


def _where(plugin: Any) -> str:
    module = plugin if isinstance(plugin, ModuleType) else inspect.getmodule(plugin)
    return str(getattr(module, "__file__", "") or getattr(module, "__name__", "") or type(plugin).__name__)


def _expected(pm: pluggy.PluginManager, hook: str) -> str:
    caller = getattr(pm.hook, hook, None)
    spec = getattr(caller, "spec", None)
    return f"{hook}({', '.join(spec.argnames)})" if spec is not None else hook


def _impl_text(plugin: Any, hook: str) -> str:
    try:
        return f"{hook}{inspect.signature(getattr(plugin, hook))}"
    except (TypeError, ValueError, AttributeError):
        return hook


def _known_hooks(pm: pluggy.PluginManager) -> list[str]:
    return sorted(n for n in dir(pm.hook) if n.startswith("grader_") and getattr(pm.hook, n).spec is not None)


def _validate_defaults(pm: HarnessPluginManager, plugin: Any, label: str) -> None:
    """pluggy 1.6 never passes an implementation's defaulted argument, 1.7 does: refuse them
    so a plugin behaves the same under both."""
    for attr in dir(plugin):
        if not attr.startswith("grader_") or pm.parse_hookimpl_opts(plugin, attr) is None:
            continue
        try:
            params = inspect.signature(getattr(plugin, attr)).parameters.values()
        except (TypeError, ValueError):
            continue
        defaulted = [p.name for p in params if p.default is not p.empty]
        if defaulted:
            raise PluginError(
                f"{label}: `{_impl_text(plugin, attr)}` gives {', '.join(f'`{d}`' for d in defaulted)} a default value, "
                f"which pluggy 1.6 and 1.7 treat differently; remove it (expected: `{_expected(pm, attr)}`)"
            )


def _register(
    pm: HarnessPluginManager,
    plugin: Any,
    name: str,
    source: str,
    version: str = "",
    distribution: str = "",
    spec: str = "",
) -> None:
    if pm.is_registered(plugin):
        return
    where = _where(plugin)
    existing = pm.get_plugin(name)
    if existing is not None:
        if _where(existing) == where:  # the same file named twice (--plugin and the assignment)
            return
        raise PluginError(f"two plugins are named {name!r}: {_where(existing)} and {where} (rename one)")
    label = f"plugin {name!r} ({where})"
    _validate_defaults(pm, plugin, label)
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as e:
        raise PluginError(_wrong_arguments(e, pm, plugin, label)) from e
    pm.origins[name] = LoadedPlugin(name, source, version, where, distribution, spec)
    unknown = sorted(
        caller.name
        for caller in pm.get_hookcallers(plugin) or []
        if caller.spec is None and any(i.plugin is plugin and not i.optionalhook for i in caller.get_hookimpls())
    )
    if unknown:
        pm.unregister(plugin)
        del pm.origins[name]
        raise PluginError(_unknown_hook(pm, unknown[0], label))


def _wrong_arguments(e: pluggy.PluginValidationError, pm: pluggy.PluginManager, plugin: Any, label: str) -> str:
    found = re.search(r"for hook '(\w+)'", str(e))
    if found is None:
        return f"{label}: {e}"
    hook = found.group(1)
    spec = getattr(pm.hook, hook).spec
    try:
        args = list(inspect.signature(getattr(plugin, hook)).parameters)
    except (TypeError, ValueError, AttributeError):
        args = []
    extra = [a for a in args if spec is not None and a not in spec.argnames]
    if not extra:  # some other validation failure (a wrapper that is not a generator…)
        reason = str(e).strip().splitlines()[-1]
        return f"{label}: `{_impl_text(plugin, hook)}` was rejected: {reason} (expected: `{_expected(pm, hook)}`)"
    return (
        f"{label}: `{_impl_text(plugin, hook)}` takes {', '.join(f'`{a}`' for a in extra)}, which the hook does not "
        f"provide; expected `{_expected(pm, hook)}` (an implementation may take any of these arguments, in any order, and no others)"
    )


def _unknown_hook(pm: pluggy.PluginManager, hook: str, label: str) -> str:
    known = _known_hooks(pm)
    close = difflib.get_close_matches(hook, known, n=1, cutoff=0.75)
    if close:
        return f"{label}: unknown hook `{hook}`; did you mean `{_expected(pm, close[0])}`?"
    listing = ", ".join(f"`{_expected(pm, h)}`" for h in known)
    return f"{label}: unknown hook `{hook}` (functions named grader_* must be hooks; the hooks are {listing})"


def _entry_point_plugins(pm: HarnessPluginManager) -> None:
    from importlib.metadata import entry_points

    disabled = os.environ.get("GRADER_DISABLE_PLUGINS", "").strip()
    if disabled.lower() in ("1", "true", "yes", "all"):
        return
    blocked = {x.strip() for x in disabled.split(",") if x.strip()}
    allow = os.environ.get("GRADER_LOAD_PLUGINS")
    allowed = None if allow is None else {a.strip() for a in allow.split(",") if a.strip()}
    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    if allowed:
        missing = sorted(allowed - {ep.name for ep in found})
        if missing:
            installed = ", ".join(sorted({ep.name for ep in found})) or "none"
            raise PluginError(
                f"GRADER_LOAD_PLUGINS names plugin(s) that are not installed: {', '.join(missing)} (installed: {installed})"
            )
    for ep in found:
        if ep.name in blocked or (allowed is not None and ep.name not in allowed):
            continue
        dist = getattr(ep, "dist", None)
        try:
            plugin = ep.load()
        except Exception as e:
            raise PluginError(f"plugin {ep.name!r} ({ep.value}) failed to import: {type(e).__name__}: {e}") from e
        source = f"entry point ({dist.name})" if dist is not None else "entry point"
        _register(
            pm,
            plugin,
            ep.name,
            source,
            str(dist.version) if dist is not None else "",
            distribution=dist.name if dist is not None else "",
        )


def get_plugin_manager(
    extra: Iterable[str | ModuleType] = (),
    load_entrypoints: bool = True,
    assignment: Iterable[str | ModuleType] = (),
) -> HarnessPluginManager:
    """A fresh harness plugin manager with the defaults, entry points, then ``assignment``
    (the assignment file's ``plugins``) and ``extra`` (``--plugin``) loaded and validated
    (unknown hook names and wrong argument names raise ``PluginError``)."""
    from . import __version__

    pm = HarnessPluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in DEFAULT_PLUGINS:
        _register(pm, importlib.import_module(name), name, "built-in", __version__)
    if load_entrypoints:
        _entry_point_plugins(pm)
    for items, source in ((assignment, "assignment"), (extra, "--plugin")):
        for item in items:
            module = item if isinstance(item, ModuleType) else _load_path(str(item))
            _register(
                pm,
                module,
                getattr(module, "__name__", str(item)),
                source,
                str(getattr(module, "__version__", "") or ""),
                spec=item.__name__ if isinstance(item, ModuleType) else str(item),
            )
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:  # a safety net: _register already checks each plugin
        raise PluginError(str(e)) from e
    return pm


def describe_plugins(pm: pluggy.PluginManager) -> list[LoadedPlugin]:
    """What is loaded, from where, with which version (for ``grader plugins``)."""
    origins = getattr(pm, "origins", {})
    out = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda x: x[0]):
        if plugin is None:
            continue
        if name in origins:
            out.append(origins[name])
        else:  # registered directly on the manager (the assignment file's answers, a test's plugin)
            path = str(getattr(plugin, "__file__", "") or getattr(inspect.getmodule(plugin), "__file__", "") or "")
            out.append(LoadedPlugin(name, "registered", str(getattr(plugin, "__version__", "")), path))
    return out
