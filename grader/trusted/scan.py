"""What a submission's source reaches for beyond its own work: the grader's worker code, stack
frames, the garbage collector's objects, the interpreter's hooks, raw memory.

Read from the syntax trees alone (never executed), in the trusted process. Nothing a check needs
uses any of these, so each use is worth an instructor's look: the flags go to the instructor's
report (the JSON result's ``integrity``, ``--audience instructor``) and cost no points. A
submission can hide such a use from this scan (a name built at run time, ``exec`` of a string);
those dynamic forms are flagged too, and the worker's own seal (``grader.worker.seal``) catches
the tampering itself at run time.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

# Bounds on the trusted process's work: a submission is a few small modules.
MAX_FILES = 200
MAX_SOURCE = 1 << 20  # per file
MAX_TOTAL = 4 << 20  # all files together
MAX_FLAGS = 20

GRADER_NAMES = ("_grader_worker", "grader.worker", "grader.trusted")
FRAMES = "walks stack frames"
GC = "walks the garbage collector's objects"
CODE = "rewrites a function's code or closure"
BUILTINS = "changes builtins"
HOOKS = "installs a trace, profile or audit hook, or a torch function or dispatch mode"
MODULES = "uses `sys.modules`"
MEMORY = "uses ctypes (raw memory access)"
DYNAMIC = "runs code built at run time, which this scan cannot read"

# Calls, by dotted name as written (``sys._getframe``) or as imported (``from sys import _getframe``).
CALLS = {
    "sys._getframe": FRAMES,
    "sys._current_frames": FRAMES,
    "inspect.currentframe": FRAMES,
    "inspect.stack": FRAMES,
    "inspect.trace": FRAMES,
    "inspect.getouterframes": FRAMES,
    "inspect.getinnerframes": FRAMES,
    "traceback.walk_stack": FRAMES,
    "gc.get_objects": GC,
    "gc.get_referrers": GC,
    "gc.get_referents": GC,
    "sys.settrace": HOOKS,
    "sys.setprofile": HOOKS,
    "threading.settrace": HOOKS,
    "threading.setprofile": HOOKS,
    "threading.settrace_all_threads": HOOKS,
    "threading.setprofile_all_threads": HOOKS,
    "sys.addaudithook": HOOKS,
    "types.FunctionType": CODE,
    "types.CodeType": CODE,
}
# Attributes, whatever object they are read from or written to.
ATTRIBUTES = {
    "f_back": FRAMES,
    "f_globals": FRAMES,
    "f_locals": FRAMES,
    "f_builtins": FRAMES,
    "tb_frame": FRAMES,
    "gi_frame": FRAMES,
    "cr_frame": FRAMES,
    "ag_frame": FRAMES,
    "__code__": CODE,
    "__closure__": CODE,
    "cell_contents": CODE,
    "__kwdefaults__": CODE,
    "__builtins__": BUILTINS,
    "TorchFunctionMode": HOOKS,
    "TorchDispatchMode": HOOKS,
    "_push_on_torch_function_stack": HOOKS,
    "_push_on_torch_dispatch_stack": HOOKS,
    "pythonapi": MEMORY,
    "PyFrame_LocalsToFast": MEMORY,
}
IMPORTS = {"ctypes": MEMORY, "_ctypes": MEMORY, "builtins": BUILTINS, "__builtin__": BUILTINS}


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


class _Scan(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[tuple[int, str, str]] = []  # line, what, the source's own words
        self.aliases: dict[str, str] = {}  # local name -> dotted name it was imported as

    def flag(self, node: ast.AST, what: str, detail: str) -> None:
        self.found.append((getattr(node, "lineno", 0), what, detail))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            top = alias.name.split(".")[0]
            self.aliases[alias.asname or top] = alias.name if alias.asname else top
            if top in IMPORTS:
                self.flag(node, IMPORTS[top], f"import {alias.name}")
            if any(alias.name.startswith(n) for n in GRADER_NAMES):
                self.flag(node, "imports the grader's own code", f"import {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
            full = f"{module}.{alias.name}"
            if full in CALLS:
                self.flag(node, CALLS[full], f"from {module} import {alias.name}")
            if module == "sys" and alias.name == "modules":
                self.flag(node, MODULES, "from sys import modules")
        if module.split(".")[0] in IMPORTS:
            self.flag(node, IMPORTS[module.split(".")[0]], f"from {module} import ...")
        if any(module.startswith(n) for n in GRADER_NAMES):
            self.flag(node, "imports the grader's own code", f"from {module} import ...")

    def _resolve(self, dotted: str) -> str:
        head, _, rest = dotted.partition(".")
        real = self.aliases.get(head, head)
        return f"{real}.{rest}" if rest else real

    def visit_Call(self, node: ast.Call) -> None:
        dotted = _dotted(node.func)
        if dotted is not None:
            name = self._resolve(dotted)
            if name in CALLS:
                self.flag(node, CALLS[name], f"{dotted}(...)")
            elif isinstance(node.func, ast.Name) and name in ("exec", "eval", "compile"):
                if not (node.args and isinstance(node.args[0], ast.Constant)):
                    self.flag(node, DYNAMIC, f"{dotted}(...)")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = _dotted(node) or ""
        name = self._resolve(dotted) if dotted else None
        if name == "sys.modules":
            self.flag(node, MODULES, dotted)
        elif name in ("gc.callbacks", "sys.monitoring"):
            self.flag(node, GC if name == "gc.callbacks" else HOOKS, dotted)
        elif node.attr in ATTRIBUTES:
            self.flag(node, ATTRIBUTES[node.attr], f".{node.attr}")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "__builtins__":
            self.flag(node, BUILTINS, "__builtins__")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and any(n in node.value for n in GRADER_NAMES):
            self.flag(node, "names the grader's own code", repr(node.value[:60]))


def _sources(root: Path) -> list[Path]:
    """The submission's ``.py`` files, in name order, hidden folders and links left out; the
    walk stops at ``MAX_FILES``."""
    out: list[Path] = []
    if not root.is_dir():
        return out
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(files):
            path = Path(here) / name
            if name.endswith(".py") and not name.startswith(".") and not path.is_symlink():
                out.append(path)
                if len(out) >= MAX_FILES:
                    return out
    return out


def flags(root: Path) -> list[dict]:
    """``{"file", "line", "what", "code"}`` for each use found in the submission's ``.py`` files
    (the first ``MAX_FLAGS``, one per kind of use and line; files past the size bounds are not
    read)."""
    out: list[dict] = []
    seen: set[tuple] = set()
    budget = MAX_TOTAL
    for path in _sources(root):
        try:
            size = path.stat().st_size
            if size > MAX_SOURCE or size > budget:
                continue
            budget -= size
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError, RecursionError, MemoryError, OSError):
            continue
        scan = _Scan()
        try:
            scan.visit(tree)
        except RecursionError:
            pass
        rel = str(path.relative_to(root))
        for line, what, code in sorted(scan.found):
            if (rel, line, what) in seen:
                continue
            seen.add((rel, line, what))
            out.append({"file": rel, "line": line, "what": what, "code": code})
            if len(out) >= MAX_FLAGS:
                return out
    return out
