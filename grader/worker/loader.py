"""Import a submission's modules and find its hook implementations (inside the worker).

Every top-level module of the submission directory (``*.py`` files, packages, and the code-only
forms of notebooks and notes, run by ``notebook``) is imported, in name order, each on its own so
that one that fails does not stop the others. Module-level callables whose names are hook names
are the implementations; ``grader.hookimpl(specname=...)`` may rename one; names starting with
``_`` are never hooks. Failing those, the course text's own names for a hook (its spec's
``known_as``: the book's ``MLP`` for ``mlp``) are. An implementation whose parameters differ from
the spec's only in their names is called with its arguments in order.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import inspect
import os
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any

from torch import nn

from . import code_cells

NOT_MODULES = code_cells.NOT_MODULES


def top_level_modules(root: str) -> list[tuple[str, str]]:
    """(module name, path) of each importable top-level module, sorted by name."""
    out = []
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if entry.startswith((".", "_")) and entry != "__init__.py":
            continue
        if entry.endswith(code_cells.SUFFIX) and os.path.isfile(path):
            out.append((entry[: -len(code_cells.SUFFIX)], path))
        elif entry.endswith(".py") and os.path.isfile(path):
            name = entry[:-3]
            if name not in NOT_MODULES:
                out.append((name, path))
        elif os.path.isdir(path) and os.path.isfile(os.path.join(path, "__init__.py")) and entry.isidentifier():
            out.append((entry, os.path.join(path, "__init__.py")))
    return out


# Code compiled from a notebook's cells has no file of its own: its compiled file name -> the
# student's file and the cell's label (``notebook``).
CELL_FILES: dict[str, tuple[str, str | None]] = {}


def location(filename: str, line: int | None, root: str) -> dict:
    """Where a line of submission code is, as the student finds it: ``{"file", "line"}``, and
    ``"cell"`` for a notebook's cell."""
    if filename in CELL_FILES:
        file, label = CELL_FILES[filename]
        return {"file": file, **({"cell": label} if label else {}), "line": line}
    return {"file": _rel(filename, root), "line": line}


def describe_exception(exc: BaseException, root: str) -> dict:
    """Type, message and the submission line it came from, for a student to read."""
    where = None
    if isinstance(exc, SyntaxError) and exc.filename:
        where = location(exc.filename, exc.lineno, root)
    else:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if _inside(frame.filename, root):
                where = {**location(frame.filename, frame.lineno, root), "code": (frame.line or "")[:200]}
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
            if spec is None or spec.loader is None:  # not a file Python can load as a module
                raise ImportError(f"cannot load {os.path.basename(path)} as a module")
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
    modules: dict[str, types.ModuleType],
    hooks: dict[str, Any],
    root: str,
    files: dict[str, str] | None = None,
) -> tuple[dict[str, Callable], dict]:
    """Map hook name -> implementation (callable with the spec's arguments, by name or in
    order), and a report for the trusted side.

    ``hooks`` maps each hook to ``{"args": [...], "section": ..., "known_as": [{"name",
    "unpack"}]}`` (a bare list is the arguments alone). A module-level callable of the hook's name
    is its implementation. Failing that, one of the course text's names for it (``known_as``): a
    class, a function, or an ``nn.Module`` built at import (for a hook without arguments, a deep
    copy per call). Where the text's name is in several modules, the one holding most of the
    hook's section is graded, and a tie is an error. ``files``: each module's file as the student
    names it (default ``NAME.py``).
    """
    files = files or {}

    def file_of(module: str) -> str:
        return files.get(module, module + ".py")

    specs = {name: _hook_spec(value) for name, value in hooks.items()}
    text_names: dict[str, tuple[str, int, str | None]] = {}  # text's name -> (hook, rank, unpack)
    for hook, spec in specs.items():
        for rank, k in enumerate(spec["known_as"]):
            text_names.setdefault(k["name"], (hook, rank, k.get("unpack")))
    found: dict[str, list[tuple[str, Any, str]]] = {}  # hook -> (module, value, attribute)
    by_text: dict[str, list[tuple[str, Any, str]]] = {}
    functions: dict[str, list[str]] = {}
    for modname, module in modules.items():
        functions[modname] = []
        for attr, value in list(vars(module).items()):
            if attr.startswith("_") or not callable(value):
                continue
            marker = _marker(value)
            hook = (marker or {}).get("specname") or attr
            if hook in specs:
                _add(found.setdefault(hook, []), modname, value, attr)
            elif attr in text_names:
                _add(by_text.setdefault(text_names[attr][0], []), modname, value, attr)
            elif inspect.isfunction(value) and getattr(value, "__module__", None) == module.__name__:
                functions[modname].append(attr)

    # Which hooks of each section every module provides, to place the text's names.
    provides: dict[str, set[str]] = {}
    for hook, candidates in [*found.items(), *by_text.items()]:
        for m, v, _ in candidates:
            provides.setdefault(_owner(v, m, modules), set()).add(hook)

    impls: dict[str, Callable] = {}
    report: dict[str, dict] = {}
    for hook in sorted(set(found) | set(by_text)):
        spec = specs[hook]
        unpack = None
        if hook in found:
            # A function imported from another student module is one implementation, not two.
            owners = sorted({_owner(v, m, modules) for m, v, _ in found[hook]})
            _, value, attr = found[hook][0]
            if len(owners) > 1:
                report[hook] = {
                    "module": owners[0],
                    "where": _where(value, root),
                    "error": "implemented in " + " and ".join(f"`{file_of(o)}`" for o in owners) + "; keep one",
                }
                continue
            owner, also = owners[0], []
        else:
            section = {h for h, s in specs.items() if s["section"] == spec["section"]}
            by_owner: dict[str, tuple[Any, str]] = {}
            for m, v, a in sorted(by_text[hook], key=lambda c: text_names[c[2]][1]):
                by_owner.setdefault(_owner(v, m, modules), (v, a))
            score = {o: len(provides.get(o, set()) & section) for o in by_owner}
            best = max(score.values())
            owners = sorted(o for o in by_owner if score[o] == best)
            value, attr = by_owner[owners[0]]
            if len(owners) > 1:
                report[hook] = {
                    "module": owners[0],
                    "where": _where(value, root),
                    "name": attr,
                    "error": f"`{attr}` is defined in "
                    + " and ".join(f"`{file_of(o)}`" for o in owners)
                    + f": define `{hook}()` to say which one to grade",
                }
                continue
            owner, also = owners[0], sorted(o for o in by_owner if o != owners[0])
            unpack = text_names[attr][2]
        entry: dict[str, Any] = {"module": owner, "where": _where(value, root), "name": attr, "kind": _kind(value)}
        if also:
            entry["also"] = also
        impl, call, problem = bind(hook, value, attr, spec["args"], unpack)
        if problem:
            entry["error"] = problem
        else:
            entry["call"] = call
            if call == "positional":
                entry["params"] = positional_names(value)[: len(spec["args"])]
            impls[hook] = impl
        report[hook] = entry
    return impls, {"hooks": report, "functions": functions}


def _hook_spec(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {
            "args": list(value.get("args") or []),
            "section": value.get("section"),
            "known_as": [k for k in value.get("known_as") or [] if isinstance(k, dict) and k.get("name")],
        }
    return {"args": list(value), "section": None, "known_as": []}


def _add(candidates: list[tuple[str, Any, str]], modname: str, value: Any, attr: str) -> None:
    if all(v is not value for _, v, _ in candidates):
        candidates.append((modname, value, attr))


def _kind(value: Any) -> str:
    if isinstance(value, nn.Module):
        return "module"
    if inspect.isclass(value):
        return "class"
    return "function" if inspect.isfunction(value) else "callable"


def _owner(value: Any, modname: str, modules: dict[str, types.ModuleType]) -> str:
    """The submission module that defined ``value`` (a module may be loaded under a private name:
    ``_submission_NAME``), else the one it was found in."""
    if isinstance(value, nn.Module):
        return modname  # an instance: its class's module says nothing of where it was built
    defined = getattr(value, "__module__", None)
    for name, module in modules.items():
        if defined in (name, module.__name__):
            return name
    return modname


def _where(fn: Any, root: str) -> dict | None:
    try:
        code = fn.__code__
        return location(code.co_filename, code.co_firstlineno, root)
    except AttributeError:
        pass
    if inspect.isclass(fn):
        # A class has no code object: its first method's says where it is (a notebook's cell
        # included); the class statement's own line where its source file can be read.
        for member in vars(fn).values():
            code = getattr(member, "__code__", None)
            if code is not None:
                where = location(code.co_filename, code.co_firstlineno, root)
                if code.co_filename not in CELL_FILES:
                    try:
                        where["line"] = inspect.getsourcelines(fn)[1]
                    except Exception:  # source out of reach: the method's line
                        pass
                return where
    return None


class Bound:
    """An implementation whose parameters differ from the spec's only in their names (the book's
    ``init_normal(m)`` for ``init_normal(module)``), or a class taking the last argument unpacked
    (``MySequential(*modules)``): called with the spec's arguments, by name or in order (as
    ``net.apply`` calls an init function), it passes them on in order."""

    def __init__(self, fn: Callable, argnames: list[str], unpack: bool):
        self.fn, self.argnames, self.unpack = fn, list(argnames), unpack

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        values = dict(zip(self.argnames, args))
        values.update(kwargs)
        ordered = [values[a] for a in self.argnames]
        if self.unpack:
            return self.fn(*ordered[:-1], *ordered[-1])
        return self.fn(*ordered)


class FreshCopy:
    """A module built at import graded as a hook without arguments: each call returns a deep copy,
    so what one check does to it never reaches the next."""

    def __init__(self, module: nn.Module, name: str):
        self.module, self.name = module, name

    def __call__(self) -> nn.Module:
        try:
            return copy.deepcopy(self.module)
        except Exception as e:
            raise RuntimeError(
                f"`{self.name}` (a module built at import) could not be copied for grading: "
                f"{type(e).__name__}: {_safe_str(e)}; build it in a function instead"
            ) from e


def bind(hook: str, value: Any, name: str, expected: list[str], unpack: str | None) -> tuple[Any, str, str | None]:
    """(implementation callable with the spec's arguments, how it is called, error message or
    None) for ``value`` found as ``hook`` under ``name``."""
    if isinstance(value, nn.Module):
        if expected:
            return (
                None,
                "",
                f"`{name}` is a module built at import, but `{hook}({', '.join(expected)})` takes arguments: "
                "define a function (or a class) that builds it from them",
            )
        return FreshCopy(value, name), "copy", None
    call, problem = calling_convention(hook, value, expected, unpack, name)
    if problem:
        return None, "", problem
    if call == "keywords":
        return value, call, None
    return Bound(value, expected, unpack=call == "unpack"), call, None


POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def positional_names(fn: Any) -> list[str]:
    """The names of ``fn``'s positional parameters, in order (none where it has no signature)."""
    try:
        return [p.name for p in inspect.signature(fn).parameters.values() if p.kind in POSITIONAL]
    except (TypeError, ValueError):
        return []


def calling_convention(
    hook: str, fn: Any, expected: list[str], unpack: str | None = None, name: str | None = None
) -> tuple[str, str | None]:
    """How ``fn`` takes the spec's arguments ``expected``: ``("keywords", None)`` by their names;
    ``("positional", None)`` in order, when its parameters differ from the spec's only in their
    names; ``("unpack", None)`` in order with the last one unpacked (``unpack`` names it and
    ``fn`` takes ``*args``); else ``("", message)``: a wrong number of arguments, or the spec's
    names in another order."""
    name = name or hook
    want = f"{hook}({', '.join(expected)})"
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return "keywords", None  # builtins and C callables: nothing to check before calling
    params = list(sig.parameters.values())
    varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    if unpack is not None and expected and expected[-1] == unpack and varargs:
        if _binds(sig, [None] * (len(expected) - 1), {}):
            return "unpack", None
    if _binds(sig, [], {a: None for a in expected}):
        return "keywords", None
    got = f"{name}({', '.join(_shown(p) for p in params)})"
    if _binds(sig, [None] * len(expected), {}):
        positional = [p.name for p in params if p.kind in POSITIONAL][: len(expected)]
        moved = [p for i, p in enumerate(positional) if p in expected and expected.index(p) != i]
        if moved:
            return "", (
                f"arguments in another order: found {got}, expected {want} "
                f"(`{moved[0]}` is argument {expected.index(moved[0]) + 1} of {len(expected)})"
            )
        return "positional", None
    return "", f"wrong number of arguments: found {got}, expected {want}"


def _binds(sig: inspect.Signature, args: list, kwargs: dict) -> bool:
    try:
        sig.bind(*args, **kwargs)
    except TypeError:
        return False
    return True


def _shown(p: inspect.Parameter) -> str:
    if p.kind == p.VAR_POSITIONAL:
        return f"*{p.name}"
    if p.kind == p.VAR_KEYWORD:
        return f"**{p.name}"
    return p.name if p.default is p.empty else f"{p.name}=…"
