"""What a submission provides, hook by hook, told to the student in plain words.

The worker reports what its imports found; the trusted side also reads each file's syntax tree
(never executing it), so a module that hung or killed the worker while importing can still be
named as the reason its hooks are missing.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass, field
from pathlib import Path

MAX_SOURCE = 2 << 20


def static_definitions(root: Path) -> dict[str, list[str]]:
    """Top-level ``def``/``class`` names per module, read from the source text alone."""
    out: dict[str, list[str]] = {}
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
            tree = ast.parse(source.read_bytes(), filename=str(source))
        except (SyntaxError, ValueError, RecursionError, MemoryError, OSError):
            out[name] = []
            continue
        out[name] = [
            node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        ]
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


@dataclass
class Discovery:
    """The per-hook verdict on whether it can be called at all."""

    hook_names: list[str]
    modules: dict[str, dict] = field(default_factory=dict)
    hooks: dict[str, dict] = field(default_factory=dict)
    functions: dict[str, list[str]] = field(default_factory=dict)
    static: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def build(
        cls, hook_names: list[str], ready: dict, failed_imports: dict[str, str], static: dict[str, list[str]]
    ) -> Discovery:
        d = cls(hook_names=list(hook_names), static=static)
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
        for module, names in sorted(candidates.items()):
            for name in names:
                if name in self.hook_names or name.startswith("_") or (name, module) in seen:
                    continue
                match = difflib.get_close_matches(name, self.hook_names, n=1, cutoff=0.8)
                if not match and name.lower() in self.hook_names:
                    match = [name.lower()]
                if match and match[0] not in self.hooks:
                    seen.add((name, module))
                    out.append((name, module, match[0]))
        return out

    def _warn(self) -> None:
        for _module, info in sorted(self.modules.items()):
            if info.get("warning"):
                self.warnings.append(str(info["warning"]))
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
            if hook in names and err:
                return (
                    "error",
                    f"`{self.modules[module].get('file', module + '.py')}` failed to import: {exception_text(err)}",
                )
        broken = [m for m, info in sorted(self.modules.items()) if info.get("error")]
        hint = ""
        for name, module, target in self._near_misses():
            if target == hook:
                hint = f" (found `{name}` in {module}.py: did you mean `{hook}`?)"
                break
        if not hint and broken:
            hint = " (" + ", ".join(f"{self.modules[m].get('file', m)} failed to import" for m in broken) + ")"
        return "not_attempted", f"not attempted: no module defines `{hook}`{hint}"
