"""Run a notebook's (or notes file's) code cells as one module, inside the worker.

The cells (``code_cells``, written by the trusted side) run in order in one namespace, the
module's. A cell that raises is recorded (its place, line and exception) and the next cell still
runs, as in a notebook run top to bottom, so a failing demo cell costs only what depends on it.
IPython syntax is never executed (``ipython_syntax``); what was left out is reported. A cell that
fails because a module is not installed here (``from d2l import torch as d2l``), or because it
uses a name such an import would have bound, is marked with that module, so the trusted side
can say it once.
"""

from __future__ import annotations

import ast
import importlib.util
import linecache
import os
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any

from . import code_cells, loader
from .ipython_syntax import Budget, python_source

MAX_RECORDED = 200  # failed cells and skipped lines reported per file


def is_form(path: str) -> bool:
    return path.endswith(code_cells.SUFFIX)


def _module_name(name: str) -> str:
    """``name``, unless an installed or already imported module has it (a notebook named
    ``copy.ipynb`` must not replace the standard library's ``copy``)."""
    try:
        taken = name in sys.modules or importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        taken = True
    return f"_submission_{name}" if taken else name


def display(*objs: Any, **kwargs: Any) -> None:
    """IPython's ``display``, which notebooks use without importing it: shows nothing here."""


def _bound_by_imports(tree: ast.AST, module: str) -> set[str]:
    """Names the cell's imports of ``module`` (or its submodules) would have bound."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == module:
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == module:
            names.update(alias.asname or alias.name for alias in node.names if alias.name != "*")
    return names


def run(name: str, path: str, root: str, on_cell: Callable[[str], None] | None = None) -> tuple[types.ModuleType, dict]:
    """Run the code-only form at ``path`` as module ``name``; return the module and a report:
    ``{"file", "cells", "failed": [...], "skipped": [...]}``. ``on_cell(where)`` is called as each
    cell starts (``cell 7``; the trusted side names the cell that was running if the import time
    runs out)."""
    with open(path, "rb") as f:
        file, cells = code_cells.load(f.read())
    module = types.ModuleType(_module_name(name))
    module.__dict__["display"] = display
    sys.modules[module.__name__] = module
    failed: list[dict] = []
    skipped: list[dict] = []
    missing_names: dict[str, str] = {}  # a name a failed import would have bound -> its module
    base = os.path.join(root, file)
    budget = Budget()
    for cell in cells:
        n, label, first = int(cell["n"]), cell.get("label"), int(cell.get("first_line") or 1)
        if on_cell is not None:
            on_cell(label or f"the code block at line {first}")
        code, left_out = python_source(str(cell["source"]), budget)
        for line, text in left_out:
            if len(skipped) < MAX_RECORDED:
                skipped.append({"n": n, "label": label, "line": line + first - 1, "text": text[:200]})
        if code is None:
            continue
        filename = f"{base}:{n}"
        loader.CELL_FILES[filename] = (file, label)
        lines = [""] * (first - 1) + code.splitlines(keepends=True)
        linecache.cache[filename] = (len(code), None, lines, filename)
        record: dict[str, Any] = {"n": n, "label": label}
        try:
            # Never this module's ``from __future__`` flags (dont_inherit): the cell's own only.
            if first == 1:
                compiled = compile(code, filename, "exec", dont_inherit=True)
            else:  # notes: the file's line numbers
                tree = ast.parse(code, filename)
                ast.increment_lineno(tree, first - 1)
                compiled = compile(tree, filename, "exec", dont_inherit=True)
        except SyntaxError as e:
            record.update(line=(e.lineno or 1) + first - 1, type=type(e).__name__, message=str(e.msg)[:1000])
            _record(failed, record)
            continue
        except (ValueError, RecursionError, MemoryError) as e:
            record.update(line=first, type=type(e).__name__, message=loader.describe_exception(e, root)["message"])
            _record(failed, record)
            continue
        try:
            exec(compiled, module.__dict__)
        except BaseException as e:  # SystemExit and KeyboardInterrupt too: a cell must not end the worker
            described = loader.describe_exception(e, root)
            numbers = [n for frame, n in traceback.walk_tb(e.__traceback__) if frame.f_code.co_filename == filename]
            record.update(
                line=numbers[-1] if numbers else first,
                type=described["type"],
                message=described["message"],
            )
            deepest = described.get("where") or {}
            if deepest and (deepest.get("file"), deepest.get("cell")) != (file, label):
                record["where"] = deepest  # raised in code of another cell or file
            if isinstance(e, ModuleNotFoundError) and e.name:
                top = e.name.split(".")[0]
                record["missing"] = top
                missing_names.update(dict.fromkeys(_bound_by_imports(ast.parse(code), top), top))
            elif isinstance(e, NameError) and getattr(e, "name", None) in missing_names:
                record["missing"] = missing_names[e.name]  # type: ignore[index]
            _record(failed, record)
    return module, {"file": file, "cells": len(cells), "failed": failed, "skipped": skipped}


def _record(failed: list[dict], record: dict) -> None:
    if len(failed) < MAX_RECORDED:
        failed.append(record)
