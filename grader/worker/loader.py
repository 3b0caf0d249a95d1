"""Import a submission's modules and find its hook implementations (inside the worker).

Every top-level module of the submission directory (``*.py`` files and packages) is imported, in
name order, each on its own so that one that fails does not stop the others. Module-level
callables whose names are hook names are the implementations; ``grader.hookimpl(specname=...)``
may rename one; names starting with ``_`` are never hooks.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any

NOT_MODULES = {"__init__", "__main__", "setup", "conftest"}


def top_level_modules(root: str) -> list[tuple[str, str]]:
    """(module name, path) of each importable top-level module, sorted by name."""
    out = []
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if entry.startswith((".", "_")) and entry != "__init__.py":
            continue
        if entry.endswith(".py") and os.path.isfile(path):
            name = entry[:-3]
            if name not in NOT_MODULES:
                out.append((name, path))
        elif os.path.isdir(path) and os.path.isfile(os.path.join(path, "__init__.py")) and entry.isidentifier():
            out.append((entry, os.path.join(path, "__init__.py")))
    return out


def describe_exception(exc: BaseException, root: str) -> dict:
    """Type, message and the submission line it came from, for a student to read."""
    where = None
    if isinstance(exc, SyntaxError) and exc.filename:
        where = {"file": _rel(exc.filename, root), "line": exc.lineno}
    else:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if _inside(frame.filename, root):
                where = {"file": _rel(frame.filename, root), "line": frame.lineno, "code": (frame.line or "")[:200]}
                break
    # A SyntaxError's str() repeats its file and line, which ``where`` holds.
    text = str(exc.msg) if isinstance(exc, SyntaxError) and exc.msg else _safe_str(exc)
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-8))
    return {"type": type(exc).__name__, "message": text[:1000], "where": where, "traceback": tb[-4000:]}


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return "<unprintable exception>"


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([os.path.abspath(path), root]) == root
    except ValueError:
        return False


def _rel(path: str, root: str) -> str:
    return os.path.relpath(path, root) if _inside(path, root) else os.path.basename(path)


def import_one(name: str, path: str, root: str) -> tuple[types.ModuleType | None, dict | None, str | None]:
    """Import one module; returns (module, error, warning)."""
    warning = None
    try:
        existing = sys.modules.get(name)
        if existing is not None and not _inside(getattr(existing, "__file__", "") or "", root):
            # The name is taken by an installed module (torch.py, json.py…): load the file
            # under a private name so its hooks still count, and say why.
            warning = f"`{os.path.basename(path)}` has the name of an installed module `{name}`; rename it"
            spec = importlib.util.spec_from_file_location(f"_submission_{name}", path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            return module, None, warning
        return importlib.import_module(name), None, warning
    except BaseException as e:  # SystemExit and KeyboardInterrupt too: a module must not end the worker
        sys.modules.pop(name, None)
        return None, describe_exception(e, root), warning


def _marker(value: Any) -> dict | None:
    opts = getattr(value, "grader_impl", None)
    return opts if isinstance(opts, dict) else None


def find_hooks(
    modules: dict[str, types.ModuleType], hook_args: dict[str, list[str]], root: str
) -> tuple[dict[str, Callable], dict]:
    """Map hook name -> implementation, and a report for the trusted side."""
    found: dict[str, list[tuple[str, Callable]]] = {}
    functions: dict[str, list[str]] = {}
    for modname, module in modules.items():
        functions[modname] = []
        for attr, value in list(vars(module).items()):
            if attr.startswith("_") or not callable(value):
                continue
            marker = _marker(value)
            hook = (marker or {}).get("specname") or attr
            if hook in hook_args:
                found.setdefault(hook, [])
                if all(v is not value for _, v in found[hook]):
                    found[hook].append((modname, value))
            elif inspect.isfunction(value) and getattr(value, "__module__", None) == module.__name__:
                functions[modname].append(attr)

    impls: dict[str, Callable] = {}
    report: dict[str, dict] = {}
    for hook, candidates in sorted(found.items()):
        # A function imported from another student module is one implementation, not two.
        owners = sorted({_owner(v, m, modules) for m, v in candidates})
        fn = candidates[0][1]
        entry: dict[str, Any] = {"module": owners[0], "where": _where(fn, root)}
        if len(owners) > 1:
            entry["error"] = "implemented in " + " and ".join(f"`{o}.py`" for o in owners) + "; keep one"
        else:
            problem = check_signature(hook, fn, hook_args[hook])
            if problem:
                entry["error"] = problem
            else:
                impls[hook] = fn
        report[hook] = entry
    return impls, {"hooks": report, "functions": functions}


def _owner(value: Any, modname: str, modules: dict[str, types.ModuleType]) -> str:
    defined = getattr(value, "__module__", None)
    return defined if defined in modules else modname


def _where(fn: Any, root: str) -> dict | None:
    try:
        code = fn.__code__
        return {"file": _rel(code.co_filename, root), "line": code.co_firstlineno}
    except AttributeError:
        return None


def check_signature(hook: str, fn: Any, expected: list[str]) -> str | None:
    """None when ``fn`` can be called with exactly the spec's keyword arguments."""
    want = f"{hook}({', '.join(expected)})"
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None  # builtins and C callables: nothing to check before calling
    try:
        sig.bind(**{a: None for a in expected})
    except TypeError:
        got = ", ".join(p for p in sig.parameters)
        return f"wrong argument names: found {hook}({got}), expected {want}"
    named = [p.name for p in sig.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    missing = [a for a in expected if a not in named]
    has_var_kw = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    if missing and not has_var_kw:
        return f"wrong argument names: expected {want}"
    return None
