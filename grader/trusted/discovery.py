"""What a submission provides, hook by hook, told to the student in plain words.

The worker reports what its imports found; the trusted side also reads each file's syntax tree
(never executing it), so a module that hung or killed the worker while importing can still be
named as the reason its hooks are missing. A hook graded through the course text's own name for
it (the book's class ``MLP`` for ``mlp``), or called with its arguments in order, gets a note
saying so; code written for another framework (the book's MXNet, TensorFlow, JAX or Paddle tabs)
is told how to translate it to PyTorch.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_SOURCE = 2 << 20


def _module_trees(root: Path) -> Iterator[tuple[str, ast.Module | None]]:
    """(module name, syntax tree) of each top-level module, by name: None for one that does not
    parse; one too large to read is left out."""
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if path.suffix == ".py" and path.is_file():
            name, source = path.stem, path
        elif path.is_dir() and (path / "__init__.py").is_file():
            name, source = path.name, path / "__init__.py"
        else:
            continue
        try:
            if source.stat().st_size > MAX_SOURCE:
                continue
            yield name, ast.parse(source.read_bytes(), filename=str(source))
        except (SyntaxError, ValueError, RecursionError, MemoryError, OSError):
            yield name, None


def static_definitions(root: Path) -> dict[str, list[str]]:
    """Top-level ``def``/``class`` names per module, read from the source text alone."""
    return {
        name: [
            node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        ]
        if tree is not None
        else []
        for name, tree in _module_trees(root)
    }


def static_frameworks(root: Path) -> dict[str, str]:
    """Per module, the other framework it imports (a key of ``FRAMEWORKS``: ``import mxnet``,
    ``from flax import linen``, or the book's ``from d2l import mxnet as d2l``), read from the
    source text alone; modules importing none are left out."""
    out = {}
    for name, tree in _module_trees(root):
        found = frameworks_imported(tree) if tree is not None else []
        if found:
            out[name] = found[0]
    return out


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


def nothing_found(root: Path) -> str:
    """What to tell a student whose submission has no module at all (``static_definitions`` found
    none), so that every hook is "not attempted": often they submitted, or graded, the folder
    holding their files instead of the files."""
    nested = sorted(
        d.name + "/"
        for d in root.iterdir()
        if d.is_dir() and not d.is_symlink() and not d.name.startswith((".", "_")) and any(d.glob("*.py"))
    )
    text = "no Python module at the top level of the submission (a .py file, or a folder with an __init__.py)"
    if nested:
        text += (
            f": the .py files are one folder down, in {', '.join(f'`{n}`' for n in nested[:3])}: "
            "submit (or grade) the files themselves, not the folder holding them"
        )
    return text


def where_text(where: dict | None) -> str:
    if not where:
        return ""
    text = f"{where.get('file')}, line {where.get('line')}"
    return text


def exception_text(err: dict) -> str:
    """An exception the worker described (``{"type", "message", "where"}``) as one line for a
    message: ``Type: message (where)``. One line in every report: messages such as
    safetensors' span several indented lines."""
    message = " ".join(str(err.get("message", "")).split())
    text = f"{err.get('type', 'Exception')}: {message}".rstrip(": ")
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


def _ident(value: Any) -> str | None:
    """A name the worker reported, when it is a plain identifier (anything else is dropped)."""
    return value if isinstance(value, str) and value.isidentifier() and len(value) <= 100 else None


def _names(value: Any) -> list[str]:
    """The plain identifiers of a list the worker reported (anything else is dropped)."""
    return [v for v in value if _ident(v)] if isinstance(value, list) else []


@dataclass
class Discovery:
    """The per-hook verdict on whether it can be called at all."""

    hook_names: list[str]
    modules: dict[str, dict] = field(default_factory=dict)
    hooks: dict[str, dict] = field(default_factory=dict)
    functions: dict[str, list[str]] = field(default_factory=dict)
    static: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    args: dict[str, list[str]] = field(default_factory=dict)
    known_as: dict[str, list[str]] = field(default_factory=dict)
    frameworks: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        hook_names: list[str],
        ready: dict,
        failed_imports: dict[str, str],
        static: dict[str, list[str]],
        specs: dict[str, Any] | None = None,
        frameworks: dict[str, str] | None = None,
    ) -> Discovery:
        """From the worker's ``ready`` report, the modules that ended a worker while importing,
        and the syntax trees' definitions; ``specs`` (``Course.worker_hooks``) gives each hook's
        arguments and the course text's names for it, ``frameworks`` the other framework each
        module imports (``static_frameworks``)."""
        d = cls(hook_names=list(hook_names), static=static, frameworks=dict(frameworks or {}))
        for hook, spec in (specs or {}).items():
            if isinstance(spec, dict):
                d.args[hook] = [str(a) for a in spec.get("args") or []]
                d.known_as[hook] = [str(k["name"]) for k in spec.get("known_as") or []]
        modules = ready.get("modules") if isinstance(ready.get("modules"), dict) else {}
        for name, info in modules.items():
            if isinstance(info, dict):
                d.modules[str(name)] = info
        for name, why in failed_imports.items():
            d.modules[name] = {"file": f"{name}.py", "error": {"type": "ImportFailure", "message": why}}
        hooks = ready.get("hooks") if isinstance(ready.get("hooks"), dict) else {}
        d.hooks = {str(k): v for k, v in hooks.items() if k in hook_names and isinstance(v, dict)}
        functions = ready.get("functions") if isinstance(ready.get("functions"), dict) else {}
        d.functions = {str(k): [str(x) for x in v] for k, v in functions.items() if isinstance(v, list)}
        d._warn()
        return d

    def _near_misses(self) -> list[tuple[str, str, str]]:
        """(found name, module, hook it resembles)."""
        seen = set()
        out = []
        candidates = dict(self.functions)
        for module, names in self.static.items():
            if self.modules.get(module, {}).get("error"):
                candidates.setdefault(module, names)
        texts = {name for names in self.known_as.values() for name in names}
        for module, names in sorted(candidates.items()):
            for name in names:
                if name in self.hook_names or name in texts or name.startswith("_") or (name, module) in seen:
                    continue
                match = difflib.get_close_matches(name, self.hook_names, n=1, cutoff=0.8)
                if not match and name.lower() in self.hook_names:
                    match = [name.lower()]
                if match and match[0] not in self.hooks:
                    seen.add((name, module))
                    out.append((name, module, match[0]))
        return out

    def _file(self, module: str) -> str:
        return str(self.modules.get(module, {}).get("file") or f"{module}.py")[:200]

    def _warn(self) -> None:
        for _module, info in sorted(self.modules.items()):
            if info.get("warning"):
                self.warnings.append(str(info["warning"]))
        for module, info in sorted(self.modules.items()):
            hint = (
                framework_hint(info["error"], self.frameworks.get(module))
                if isinstance(info.get("error"), dict)
                else None
            )
            if hint:
                self.warnings.append(f"`{self._file(module)}` failed to import: {hint}")
        for name, module, hook in self._near_misses():
            self.warnings.append(f"did you mean `{hook}`? (found `{name}` in {module}.py)")

    def status(self, hook: str) -> tuple[str, str] | None:
        """None when the hook can be called; else ('error'|'not_attempted', message)."""
        info = self.hooks.get(hook)
        if info is not None:
            if info.get("error"):
                return "error", str(info["error"])
            return None
        for module, names in sorted(self.static.items()):
            err = self.modules.get(module, {}).get("error")
            if err and (hook in names or any(k in names for k in self.known_as.get(hook, []))):
                text = f"`{self._file(module)}` failed to import: {exception_text(err)}"
                hint = framework_hint(err, self.frameworks.get(module)) if isinstance(err, dict) else None
                return "error", f"{text}; {hint}" if hint else text
        broken = [m for m, info in sorted(self.modules.items()) if info.get("error")]
        hint = ""
        for name, module, target in self._near_misses():
            if target == hook:
                hint = f" (found `{name}` in {module}.py: did you mean `{hook}`?)"
                break
        if not hint and broken:
            hint = " (" + ", ".join(f"{self.modules[m].get('file', m)} failed to import" for m in broken) + ")"
        return "not_attempted", f"not attempted: no module defines `{hook}`{hint}"

    def notes(self, hook: str) -> list[str]:
        """How a hook that can be called was found and is called, when not simply as a function
        of its name taking the spec's argument names: through the course text's name for it, as
        a module built at import, or with its arguments in order. Empty otherwise."""
        info = self.hooks.get(hook)
        if not info or info.get("error"):
            return []
        name = _ident(info.get("name")) or hook
        kind, call = info.get("kind"), info.get("call")
        module = _ident(info.get("module"))
        where = [f"from `{self._file(module)}`"] if module else []
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
            also = [self._file(m) for m in _names(info.get("also"))[:8]]
            if also:
                files = ", ".join(f"`{f}`" for f in also)
                details.append(f"not the `{name}` of {files}: define `{hook}` to choose")
            out.append(f"graded {what}`{name}` as `{hook}`" + (f" ({'; '.join(details)})" if details else ""))
        if call == "positional":
            params = _names(info.get("params"))[:16]
            if len(params) != len(args):  # `*args`: its names are not the spec's to show
                out.append(f"called `{name}` with the arguments in order")
            else:
                text = f"called `{name}({', '.join(params)})` with the arguments in order"
                pairs = [f"`{p}` ← `{a}`" for p, a in zip(params, args) if p != a]
                out.append(text + (f" ({', '.join(pairs)})" if pairs else ""))
        return out
