"""What a submission provides, hook by hook, told to the student in plain words.

The worker reports what its imports found (and, for a notebook or notes file, which cells
raised and which IPython lines were left out); the trusted side also reads each source's syntax
tree (``sources``, never executing it), so a module that hung or killed the worker while
importing, or a cell that raised before defining a hook, can still be named as the reason the
hook is missing. A hook graded through the course text's own name for it (the book's class
``MLP`` for ``mlp``), or called with its arguments in order, gets a note saying so; code written
for another framework (the book's MXNet, TensorFlow, JAX or Paddle tabs) is told how to
translate it to PyTorch.
A file that does not parse is read as text for its definitions (its hooks are broken, not
missing), and its syntax error is kept for the top of the reports.

The worker's report is a submission's word: every name in it is checked for type, sanitized
(``grader.sanitize``) and capped in number and length before use, and "did you mean" compares at
most ``MAX_CANDIDATES`` names with the hook names, once a submission.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import sanitize

if TYPE_CHECKING:
    from .sources import Sources

MAX_MODULES = 1000  # modules of a submission described (more are hostile: their hooks still count)
MAX_NAMES = 200  # top-level names kept for each module
MAX_CANDIDATES = 2000  # names compared with the hook names for "did you mean"
MAX_NEAR_MISSES = 20  # "did you mean" warnings at most
NAME_LIMIT = 100
MAX_CELL_WARNINGS = 20  # failed cells listed one per line; the rest are counted
MAX_SKIPPED_SHOWN = 8  # IPython lines named in the one warning that lists them
# Modules a student may expect where submissions are graded, and what to do instead.
MISSING_ADVICE = {
    "d2l": "the book's helper library; the grader grades your own code, so define what your answers use in your own cells",
}


# The grader's own magics (``%load_ext grader``, ``%grade``): never run when grading, as expected.
GRADER_MAGICS = re.compile(r"^%(grade\b|(load_ext|reload_ext)\s+grader\b)")


def frameworks_imported(tree: ast.AST) -> list[str]:
    """The keys of ``FRAMEWORKS`` that ``tree`` imports, in the order of its imports."""
    out: list[str] = []
    for node in ast.walk(tree):
        packages: list[str] = []
        if isinstance(node, ast.Import):
            packages = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            packages = [node.module]
            if node.module == "d2l":  # the book's `from d2l import mxnet as d2l`
                packages += [alias.name for alias in node.names]
        for package in packages:
            key = package.split(".")[0]
            if key in FRAMEWORKS and key not in out:
                out.append(key)
    return out


def _listed(items: list[str], limit: int) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def one_line(text: Any, limit: int = 300) -> str:
    """Student-made text (a cell's line, an exception message) as one line, its whitespace
    collapsed, sanitized (``grader.sanitize``) and capped."""
    return sanitize.name(" ".join(str(text).split()), limit)


def where_text(where: Any) -> str:
    """``file, line N``, or ``file, cell 7, line N`` in a notebook, of a place the worker named
    (``{"file", "line", "cell"}``), sanitized."""
    if not isinstance(where, dict) or not where:
        return ""
    line = where.get("line")
    line = line if isinstance(line, int) and not isinstance(line, bool) else "?"
    cell = f"{sanitize.name(where['cell'], 40)}, " if where.get("cell") else ""
    return f"{sanitize.name(where.get('file'), NAME_LIMIT)}, {cell}line {line}"


def exception_text(err: Any) -> str:
    """An exception the worker described (``{"type", "message", "where"}``) as one line for a
    message: ``Type: message (where)``, sanitized whatever the worker sent. One line in every
    report: messages such as safetensors' span several indented lines."""
    if not isinstance(err, dict):
        err = {"message": err}
    message = sanitize.text(" ".join(str(err.get("message", ""))[:4000].split()), 1000)
    kind = sanitize.name(err.get("type") or "Exception", NAME_LIMIT)
    text = f"{kind}: {message}".rstrip(": ")
    if err.get("where"):
        text += f" ({where_text(err['where'])})"
    return text


# Frameworks whose code a PyTorch course may receive (the book's other tabs), by the top-level
# package a failed import names: (what it is called, how its main names translate to PyTorch).
_MXNET = (
    "MXNet",
    "`nn.Block` → `nn.Module`, `nn.Dense(units)` → `nn.LazyLinear(units)` (or `nn.Linear(in, units)`), "
    "`mxnet.np` → `torch`, `npx.relu` → `torch.relu`; no `net.initialize()`",
)
_TENSORFLOW = (
    "TensorFlow",
    "`tf.keras.Model` → `nn.Module` (its `call` → `forward`), `tf.keras.layers.Dense(units)` → "
    "`nn.LazyLinear(units)`, `tf.` tensor functions → `torch.`",
)
_JAX = (
    "JAX",
    "`flax.linen.Module` → `nn.Module` (`setup` / `__call__` → `__init__` / `forward`), "
    "`nn.Dense(features)` → `nn.LazyLinear(features)`, `jax.numpy` → `torch`; the parameters live in "
    "the module (no `init` / `apply`)",
)
_PADDLE = ("PaddlePaddle", "`paddle.nn.Layer` → `nn.Module`, `paddle.` tensor functions → `torch.`")
FRAMEWORKS = {
    "mxnet": _MXNET,
    "tensorflow": _TENSORFLOW,
    "keras": _TENSORFLOW,
    "tf_keras": _TENSORFLOW,
    "jax": _JAX,
    "jaxlib": _JAX,
    "flax": _JAX,
    "optax": _JAX,
    "paddle": _PADDLE,
}
_MISSING = re.compile(r"No module named '([A-Za-z_][\w.]*)'")


def framework_hint(err: dict, imported: str | None = None) -> str | None:
    """For a module that failed to import (the worker's description of the exception) and was
    written for another framework (``imported``, from its source, or the package the failed
    import names), how to translate it to PyTorch."""
    key = imported
    if key is None and err.get("type") in ("ModuleNotFoundError", "ImportError"):
        found = _MISSING.search(str(err.get("message", ""))[:1000])
        key = found.group(1).split(".")[0] if found else None
    framework = FRAMEWORKS.get(key or "")
    if framework is None:
        return None
    name, translation = framework
    return f"this course grades PyTorch code, not {name}: use the book's PyTorch tab, or translate: {translation}"


def _str(value: Any, limit: int = NAME_LIMIT) -> str:
    return sanitize.name(value, limit)


def error_facts(value: Any) -> dict | None:
    """An exception as the worker described it (``{"type", "message", "where", "traceback"}``,
    ``loader.describe_exception``), each field checked for type and sanitized, or None for none.
    Anything that is not such a description becomes one whose message is its text."""
    if not value:
        return None
    if not isinstance(value, dict):
        return {"type": "Exception", "message": sanitize.text(value, 1000), "where": None}
    where = value.get("where")
    line = where.get("line") if isinstance(where, dict) else None
    out = {
        "type": _str(value.get("type") or "Exception"),
        "message": sanitize.text(value.get("message", ""), 1000),
        "where": {
            "file": _str(where.get("file")),
            "line": line if isinstance(line, int) and not isinstance(line, bool) else None,
            "code": sanitize.name(where.get("code", ""), 200),
            **({"cell": sanitize.name(where["cell"], 40)} if isinstance(where.get("cell"), str) else {}),
        }
        if isinstance(where, dict)
        else None,
    }
    if value.get("traceback"):
        out["traceback"] = sanitize.text(value["traceback"], 4000)
    return out


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _sanitized_names(value: Any, limit: int = MAX_NAMES) -> list[str]:
    """At most ``limit`` sanitized names from a list the worker sent (anything else: none)."""
    if not isinstance(value, list):
        return []
    return [_str(x) for x in value[:limit] if isinstance(x, str)]


def _ident(value: Any) -> str | None:
    """A name the worker reported, when it is a plain identifier (anything else is dropped)."""
    return value if isinstance(value, str) and value.isidentifier() and len(value) <= 100 else None


def _names(value: Any) -> list[str]:
    """The plain identifiers of a list the worker reported (anything else is dropped)."""
    return [v for v in value[:MAX_NAMES] if _ident(v)] if isinstance(value, list) else []


# How the worker found and calls a hook (``loader.find_hooks``), the only values believed.
KINDS = ("module", "class", "function", "callable")
CALLS = ("keywords", "positional", "unpack", "copy")


def _hook_facts(info: dict) -> dict:
    """What the worker reports of one hook it found, checked for type and sanitized: the module,
    an error, and how it was found (the course text's name, its kind, how it is called)."""
    error = info.get("error")
    return {
        "module": _str(info.get("module")),
        "error": sanitize.name(error, 1000) if error else None,
        "name": _ident(info.get("name")),
        "kind": info.get("kind") if info.get("kind") in KINDS else None,
        "call": info.get("call") if info.get("call") in CALLS else None,
        "params": _names(info.get("params"))[:16],
        "also": _names(info.get("also"))[:8],
    }


@dataclass
class Discovery:
    """The per-hook verdict on whether it can be called at all."""

    hook_names: list[str]
    modules: dict[str, dict] = field(default_factory=dict)
    hooks: dict[str, dict] = field(default_factory=dict)
    functions: dict[str, list[str]] = field(default_factory=dict)
    static: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # module -> the student's file
    # module -> name -> (number of the code cell defining it, where: "cell 7", "line 12")
    places: dict[str, dict[str, tuple[int, str]]] = field(default_factory=dict)
    notebooks: set[str] = field(default_factory=set)  # modules that are notebooks or notes
    args: dict[str, list[str]] = field(default_factory=dict)
    known_as: dict[str, list[str]] = field(default_factory=dict)
    frameworks: dict[str, str] = field(default_factory=dict)
    syntax_errors: list[dict] = field(default_factory=list)  # ``sources.syntax_error``'s, shown atop reports
    near_misses: list[tuple[str, str, str]] = field(default_factory=list)
    _status: dict[str, tuple[str, str] | None] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        hook_names: list[str],
        ready: dict,
        failed_imports: dict[str, str],
        static: dict[str, list[str]],
        sources: Sources | None = None,
        specs: dict[str, Any] | None = None,
    ) -> Discovery:
        """From the worker's ``ready`` report (checked for type and sanitized here: it is the
        submission's word), the modules that ended a worker while importing,
        and the syntax trees' definitions, the other framework each module imports and the files
        that do not parse (``sources``: shown atop the reports); ``specs`` (``Course.worker_hooks``)
        gives each hook's arguments and the course text's names for it."""
        d = cls(
            hook_names=list(hook_names),
            static={_str(m): [_str(n) for n in names[:MAX_NAMES]] for m, names in list(static.items())[:MAX_MODULES]},
        )
        for hook, spec in (specs or {}).items():
            if isinstance(spec, dict):
                d.args[hook] = [str(a) for a in spec.get("args") or []]
                d.known_as[hook] = [str(k["name"]) for k in spec.get("known_as") or []]
        unreadable: list[tuple[str, str, str]] = []
        if sources is not None:
            d.files = sources.display
            d.frameworks = dict(sources.frameworks)
            d.syntax_errors = list(sources.syntax_errors)
            for f in sources.files:
                d.places[f.module] = {name: where for name, where in f.definitions.items() if where is not None}
                if f.error:
                    unreadable.append((f.module, f.file, f.error))
                if f.kind in ("notebook", "notes"):
                    d.notebooks.add(f.module)
        modules = _dict(ready.get("modules"))
        for name, info in list(modules.items())[:MAX_MODULES]:
            if isinstance(info, dict):
                warning = info.get("warning")
                d.modules[_str(name)] = {
                    "file": _str(info.get("file") or f"{name}.py"),
                    "error": error_facts(info.get("error")),
                    "warning": sanitize.name(warning, 500) if warning else None,
                    **({"cells": info["cells"]} if isinstance(info.get("cells"), dict) else {}),
                }
        for name, why in failed_imports.items():
            d.modules[name] = {"file": d.file(name), "error": {"type": "ImportFailure", "message": why}}
        for name, file, why in unreadable:
            d.modules[name] = {"file": file, "error": {"type": "Unreadable", "message": why}, "unreadable": True}
        hooks = _dict(ready.get("hooks"))
        for hook in hook_names:
            info = hooks.get(hook)
            if isinstance(info, dict):
                d.hooks[hook] = _hook_facts(info)
        functions = _dict(ready.get("functions"))
        d.functions = {_str(k): _sanitized_names(v) for k, v in list(functions.items())[:MAX_MODULES]}
        d.near_misses = d._near_misses()
        d._warn()
        return d

    def _near_misses(self) -> list[tuple[str, str, str]]:
        """(found name, module, hook it resembles) for names that resemble a hook nothing
        implements, nor defines in a file that failed to import (broken, not misspelled), and
        that are not the course text's own names for a hook; at most ``MAX_CANDIDATES`` names
        are compared (difflib costs ~0.1 ms each)."""
        seen: set[tuple[str, str]] = set()
        out: list[tuple[str, str, str]] = []
        defined = {n for names in self.static.values() for n in names}
        candidates = dict(self.functions)
        for module, names in self.static.items():
            if (self.modules.get(module) or {}).get("error"):
                candidates.setdefault(module, names)
        texts = {name for names in self.known_as.values() for name in names}
        hooks = set(self.hook_names)
        # A name more than 1.5 times longer or shorter than every hook name cannot reach
        # difflib's ratio of 0.8 (2·min/(a+b)); nor can it match in lower case.
        longest = max((len(h) for h in hooks), default=0)
        shortest = min((len(h) for h in hooks), default=0)
        budget = MAX_CANDIDATES
        for module, names in sorted(candidates.items()):
            for name in names:
                if name in hooks or name in texts or name.startswith("_") or (name, module) in seen:
                    continue
                if not (shortest * 2 / 3 <= len(name) <= longest * 3 / 2):
                    continue
                if budget <= 0:
                    return out
                budget -= 1
                match = difflib.get_close_matches(name, self.hook_names, n=1, cutoff=0.8)
                if not match and name.lower() in hooks:
                    match = [name.lower()]
                if match and match[0] not in self.hooks and match[0] not in defined:
                    seen.add((name, module))
                    out.append((name, module, match[0]))
        return out

    def file(self, module: str) -> str:
        """``module``'s file as the student names it."""
        return sanitize.name(
            self.files.get(module) or str(self.modules.get(module, {}).get("file") or f"{module}.py"), NAME_LIMIT
        )

    def _found_in(self, name: str, module: str) -> str:
        place = self.places.get(module, {}).get(name)
        return f"{self.file(module)}, {place[1]}" if place else self.file(module)

    def _warn(self) -> None:
        for _module, info in sorted(self.modules.items()):
            if info.get("warning"):
                self.warnings.append(str(info["warning"]))
            if info.get("unreadable"):
                self.warnings.append(f"{one_line(info['error'].get('message'), 500)}; it was not graded")
        for module, info in sorted(self.modules.items()):
            hint = (
                framework_hint(info["error"], self.frameworks.get(module))
                if isinstance(info.get("error"), dict)
                else None
            )
            if hint:
                self.warnings.append(f"`{self.file(module)}` failed to import: {hint}")
        self.warnings += self._cell_warnings()
        for name, module, hook in self.near_misses[:MAX_NEAR_MISSES]:
            self.warnings.append(f"did you mean `{hook}`? (found `{name}` in {self._found_in(name, module)})")
        if len(self.near_misses) > MAX_NEAR_MISSES:
            self.warnings.append(f"… and {len(self.near_misses) - MAX_NEAR_MISSES} more names that resemble a hook")

    def cells(self, module: str) -> dict:
        """What the worker said of a notebook's or notes file's cells (``failed``, ``skipped``),
        each record checked: the worker is not believed beyond the shape of its report."""
        info = self.modules.get(module, {}).get("cells")
        if not isinstance(info, dict):
            return {"failed": [], "skipped": []}

        def records(key: str) -> list[dict]:
            raw = info.get(key)
            return [r for r in raw if isinstance(r, dict)][:200] if isinstance(raw, list) else []

        return {"failed": records("failed"), "skipped": records("skipped")}

    @staticmethod
    def _place(record: dict) -> str:
        """``cell 7, line 3`` (a notebook), ``line 40`` (notes)."""
        label = record.get("label")
        line = record.get("line")
        line_text = f"line {int(line)}" if isinstance(line, int) else ""
        return ", ".join(x for x in (one_line(label, 40) if isinstance(label, str) else "", line_text) if x)

    def _cell_warnings(self) -> list[str]:
        """One warning listing the IPython lines left out, one per module not installed here
        with the cells that failed because of it, and one per other failed cell."""
        out: list[str] = []
        skipped: dict[str, list[str]] = {}  # file -> lines left out
        missing: dict[str, dict[str, list[str]]] = {}  # module not installed -> file -> cells
        failures: list[str] = []
        for module in sorted(self.modules):
            cells, file = self.cells(module), self.file(module)
            for r in cells["skipped"]:
                text = one_line(r.get("text"), 80)
                if not GRADER_MAGICS.match(text):  # ``%grade`` cells: not run when grading, as expected
                    skipped.setdefault(file, []).append(f"`{text}` ({self._place(r)})")
            for r in cells["failed"]:
                if isinstance(r.get("missing"), str) and r["missing"]:
                    label = r.get("label") if isinstance(r.get("label"), str) else self._place(r)
                    missing.setdefault(one_line(r["missing"], 60), {}).setdefault(file, []).append(one_line(label, 40))
                    continue
                text = f"{file}, {self._place(r)}: {one_line(r.get('type'), 60)}: {one_line(r.get('message'))}"
                if isinstance(r.get("where"), dict):
                    text += f" (raised at {one_line(where_text(r['where']), 120)})"
                failures.append(text)
        if skipped:
            out.append(
                "IPython lines not run (magics and shell commands: the grader runs Python only): "
                + "; ".join(f"{file}: {_listed(lines, MAX_SKIPPED_SHOWN)}" for file, lines in skipped.items())
            )
        for name, files in sorted(missing.items()):
            advice = f" ({MISSING_ADVICE[name]})" if name in MISSING_ADVICE else ""
            places = "; ".join(f"{file}: {_listed(cells, MAX_CELL_WARNINGS)}" for file, cells in files.items())
            out.append(
                f"`{name}` is not installed where submissions are graded{advice}; failed because of it: {places}"
            )
        out += [f"cell raised: {t}" for t in failures[:MAX_CELL_WARNINGS]]
        if len(failures) > MAX_CELL_WARNINGS:
            out.append(f"and {len(failures) - MAX_CELL_WARNINGS} more cells raised")
        return out

    def _failed_cell(self, hook: str) -> str | None:
        """Why ``hook``, defined in a notebook's or notes file's cell that raised before defining
        it, is missing; None when no such cell."""
        for module, places in sorted(self.places.items()):
            if hook not in places:
                continue
            n = places[hook][0]
            for r in self.cells(module)["failed"]:
                if r.get("n") == n:
                    err = f"{one_line(r.get('type'), 60)}: {one_line(r.get('message'))}"
                    missing = r.get("missing")
                    why = (
                        f"; `{one_line(missing, 60)}` is not installed where submissions are graded" if missing else ""
                    )
                    return (
                        f"`{hook}` is defined in {self.file(module)}, {places[hook][1]}, but that cell raised "
                        f"{err} ({self._place(r)}) before defining it{why}"
                    )
        return None

    def status(self, hook: str) -> tuple[str, str] | None:
        """None when the hook can be called; else ('error'|'not_attempted', message). Worked
        out once per hook (every check and every request asks)."""
        if hook not in self._status:
            self._status[hook] = self._work_out(hook)
        return self._status[hook]

    def _work_out(self, hook: str) -> tuple[str, str] | None:
        info = self.hooks.get(hook)
        if info is not None:
            if info.get("error"):
                return "error", str(info["error"])
            return None
        for module, names in sorted(self.static.items()):
            err = self.modules.get(module, {}).get("error")
            if err and (hook in names or any(k in names for k in self.known_as.get(hook, []))):
                if module in self.notebooks and err.get("type") == "ImportFailure":
                    return "error", f"`{self.file(module)}` was stopped: it {one_line(err.get('message'))}"
                text = f"`{self.file(module)}` failed to import: {exception_text(err)}"
                hint = framework_hint(err, self.frameworks.get(module)) if isinstance(err, dict) else None
                return "error", f"{text}; {hint}" if hint else text
        failed_cell = self._failed_cell(hook)
        if failed_cell:
            return "error", failed_cell
        broken = [m for m, info in sorted(self.modules.items()) if info.get("error")]
        hint = ""
        for name, module, target in self.near_misses:
            if target == hook:
                hint = f" (found `{name}` in {self._found_in(name, module)}: did you mean `{hook}`?)"
                break
        if not hint and broken:
            named = [
                f"{self.file(m)} {'could not be read' if self.modules[m].get('unreadable') else 'failed to import'}"
                for m in broken[:5]
            ]
            more = f" and {len(broken) - 5} more" if len(broken) > 5 else ""
            hint = " (" + ", ".join(named) + more + ")"
        return "not_attempted", f"not attempted: no module defines `{hook}`{hint}"

    def notes(self, hook: str) -> list[str]:
        """How a hook that can be called was found and is called, when not simply as a function
        of its name taking the spec's argument names: through the course text's name for it, as
        a module built at import, or with its arguments in order. Empty otherwise."""
        info = self.hooks.get(hook)
        if not info or info.get("error"):
            return []
        name = info.get("name") or hook  # checked when read (``_hook_facts``), as are params and also
        kind, call = info.get("kind"), info.get("call")
        module = _ident(info.get("module"))
        where = [f"from `{self.file(module)}`"] if module else []
        args = self.args.get(hook, [])
        out = []
        if kind == "module" and call == "copy":
            text = f"graded the module `{name}` built at import" + ("" if name == hook else f" as `{hook}`")
            out.append(f"{text} ({', '.join([*where, 'a fresh copy for each check'])})")
        elif name != hook and name in self.known_as.get(hook, []):
            what = {"class": "class ", "function": "function "}.get(str(kind), "")
            details = list(where)
            if call == "unpack" and args:
                details.append(f"called as `{name}({', '.join([*args[:-1], '*' + args[-1]])})`")
            also = [self.file(m) for m in info["also"]]
            if also:
                files = ", ".join(f"`{f}`" for f in also)
                details.append(f"not the `{name}` of {files}: define `{hook}` to choose")
            out.append(f"graded {what}`{name}` as `{hook}`" + (f" ({'; '.join(details)})" if details else ""))
        if call == "positional":
            params = info["params"]
            if len(params) != len(args):  # `*args`: its names are not the spec's to show
                out.append(f"called `{name}` with the arguments in order")
            else:
                text = f"called `{name}({', '.join(params)})` with the arguments in order"
                pairs = [f"`{p}` ← `{a}`" for p, a in zip(params, args) if p != a]
                out.append(text + (f" ({', '.join(pairs)})" if pairs else ""))
        return out
