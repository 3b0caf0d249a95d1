"""The harness plugin manager: a factory, the default plugins and plugin discovery.

Plugins come from, in order: the built-in modules of ``DEFAULT_PLUGINS``; the ``grader``
entry-point group (pip-installed packages, the shipped chapter among them) unless
``GRADER_DISABLE_PLUGINS=1``, or only those named in ``GRADER_LOAD_PLUGINS=a,b``; then
``--plugin`` arguments and the assignment file's ``plugins`` list (modules or ``.py`` files).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

import pluggy

from . import PROJECT, hookspecs

ENTRY_POINT_GROUP = "grader"

DEFAULT_PLUGINS = (
    "grader.reports.text",
    "grader.reports.json_report",
)


class PluginError(Exception):
    """A plugin could not be loaded or does not fit the hookspecs (message says which)."""


class HarnessPluginManager(pluggy.PluginManager):
    """Accepts unmarked ``grader_*`` functions, like pytest accepts ``pytest_*`` ones."""

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
    name: str
    source: str
    version: str
    path: str


def _load_path(spec: str) -> ModuleType:
    path = Path(spec)
    if spec.endswith(".py") or path.is_file():
        if not path.is_file():
            raise PluginError(f"plugin file not found: {spec}")
        name = f"grader_local_plugin_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as e:
            raise PluginError(f"plugin {spec} failed to import: {type(e).__name__}: {e}") from e
        return module
    try:
        return importlib.import_module(spec)
    except Exception as e:
        raise PluginError(f"plugin {spec!r} failed to import: {type(e).__name__}: {e}") from e


def _register(pm: pluggy.PluginManager, plugin: Any, name: str) -> None:
    if pm.is_registered(plugin) or pm.get_plugin(name) is not None:
        return
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as e:
        raise PluginError(_explain(e, pm)) from e


def _explain(e: pluggy.PluginValidationError, pm: pluggy.PluginManager) -> str:
    text = str(e)
    for hook_name in dir(pm.hook):
        if hook_name in text and not hook_name.startswith("_"):
            caller = getattr(pm.hook, hook_name)
            if caller.spec is not None:
                args = ", ".join(caller.spec.argnames)
                text += f"\nexpected: {hook_name}({args})"
                break
    return text


def get_plugin_manager(
    extra: Iterable[str | ModuleType] = (),
    load_entrypoints: bool = True,
) -> HarnessPluginManager:
    """A fresh harness plugin manager with the defaults, entry points and ``extra`` loaded and
    validated (unknown hook names and wrong argument names raise ``PluginError``)."""
    pm = HarnessPluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in DEFAULT_PLUGINS:
        _register(pm, importlib.import_module(name), name)
    if load_entrypoints and os.environ.get("GRADER_DISABLE_PLUGINS", "") not in ("1", "true", "yes"):
        allow = [a.strip() for a in os.environ.get("GRADER_LOAD_PLUGINS", "").split(",") if a.strip()]
        from importlib.metadata import entry_points

        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if allow and ep.name not in allow:
                continue
            try:
                plugin = ep.load()
            except Exception as e:
                raise PluginError(f"plugin {ep.name!r} ({ep.value}) failed to import: {type(e).__name__}: {e}") from e
            _register(pm, plugin, ep.name)
    for item in extra:
        module = item if isinstance(item, ModuleType) else _load_path(str(item))
        _register(pm, module, getattr(module, "__name__", str(item)))
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise PluginError(_unknown_hook_message(e, pm)) from e
    return pm


def _unknown_hook_message(e: pluggy.PluginValidationError, pm: pluggy.PluginManager) -> str:
    import difflib

    text = str(e)
    known = [h for h in dir(pm.hook) if h.startswith("grader_")]
    for word in text.replace("'", " ").split():
        if word.startswith("grader_") and word not in known:
            close = difflib.get_close_matches(word, known, n=1)
            if close:
                text += f" (did you mean `{close[0]}`?)"
            break
    return text


def describe_plugins(pm: pluggy.PluginManager) -> list[LoadedPlugin]:
    """What is loaded, from where, with which version (for ``grader plugins``)."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    out = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda x: x[0]):
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        if dist is not None:
            source, version = f"entry point ({dist.project_name})", dist.version
        elif name in DEFAULT_PLUGINS:
            from . import __version__

            source, version = "built-in", __version__
        else:
            source, version = "--plugin / assignment", getattr(plugin, "__version__", "")
        out.append(LoadedPlugin(name, source, str(version), str(getattr(plugin, "__file__", "") or "")))
    return out
