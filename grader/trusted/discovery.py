"""What a submission provides, hook by hook, told to the student in plain words.

The worker reports what its imports found; the trusted side also reads each file's syntax tree
(never executing it), so a module that hung or killed the worker while importing can still be
named as the reason its hooks are missing.

The worker's report is a submission's word: every name in it is checked for type, sanitized
(``grader.sanitize``) and capped in number and length before use, and "did you mean" compares at
most ``MAX_CANDIDATES`` names with the hook names, once a submission.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import sanitize

MAX_SOURCE = 2 << 20
MAX_MODULES = 1000  # modules of a submission described (more are hostile: their hooks still count)
MAX_NAMES = 200  # top-level names kept for each module
MAX_CANDIDATES = 2000  # names compared with the hook names for "did you mean"
MAX_NEAR_MISSES = 20  # "did you mean" warnings at most
NAME_LIMIT = 100


def static_definitions(root: Path) -> dict[str, list[str]]:
    """Top-level ``def``/``class`` names per module, read from the source text alone."""
    out: dict[str, list[str]] = {}
    for path in sorted(root.iterdir())[: 4 * MAX_MODULES] if root.is_dir() else []:
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
        names = [
            node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        ]
        out[name] = names
        if len(out) >= MAX_MODULES:
            break
    return out


def nothing_found(root: Path) -> str:
    """What to tell a student whose submission has no module at all (``static_definitions`` found
    none), so that every hook is "not attempted": often they submitted, or graded, the folder
    holding their files instead of the files."""
    nested = sorted(
        sanitize.name(d.name, NAME_LIMIT) + "/"
        for d in sorted(root.iterdir())[:MAX_MODULES]
        if d.is_dir() and not d.is_symlink() and not d.name.startswith((".", "_")) and any(d.glob("*.py"))
    )
    text = "no Python module at the top level of the submission (a .py file, or a folder with an __init__.py)"
    if nested:
        text += (
            f": the .py files are one folder down, in {', '.join(f'`{n}`' for n in nested[:3])}: "
            "submit (or grade) the files themselves, not the folder holding them"
        )
    return text


def where_text(where: Any) -> str:
    """``file, line N`` of a place the worker named (``{"file", "line"}``), sanitized."""
    if not isinstance(where, dict) or not where:
        return ""
    line = where.get("line")
    line = line if isinstance(line, int) and not isinstance(line, bool) else "?"
    return f"{sanitize.name(where.get('file'), NAME_LIMIT)}, line {line}"


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


def _str(value: Any, limit: int = NAME_LIMIT) -> str:
    return sanitize.name(value if isinstance(value, str) else str(value), limit)


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
        }
        if isinstance(where, dict)
        else None,
    }
    if value.get("traceback"):
        out["traceback"] = sanitize.text(value["traceback"], 4000)
    return out


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _names(value: Any, limit: int = MAX_NAMES) -> list[str]:
    """At most ``limit`` sanitized names from a list the worker sent (anything else: none)."""
    if not isinstance(value, list):
        return []
    return [_str(x) for x in value[:limit] if isinstance(x, str)]


@dataclass
class Discovery:
    """The per-hook verdict on whether it can be called at all."""

    hook_names: list[str]
    modules: dict[str, dict] = field(default_factory=dict)
    hooks: dict[str, dict] = field(default_factory=dict)
    functions: dict[str, list[str]] = field(default_factory=dict)
    static: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    near_misses: list[tuple[str, str, str]] = field(default_factory=list)
    _status: dict[str, tuple[str, str] | None] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls, hook_names: list[str], ready: dict, failed_imports: dict[str, str], static: dict[str, list[str]]
    ) -> Discovery:
        """From the worker's ready report (checked for type and sanitized here: it is the
        submission's word), the modules that failed to import and the syntax trees' names."""
        d = cls(
            hook_names=list(hook_names),
            static={_str(m): [_str(n) for n in names[:MAX_NAMES]] for m, names in list(static.items())[:MAX_MODULES]},
        )
        modules = _dict(ready.get("modules"))
        for name, info in list(modules.items())[:MAX_MODULES]:
            if isinstance(info, dict):
                warning = info.get("warning")
                d.modules[_str(name)] = {
                    "file": _str(info.get("file") or f"{name}.py"),
                    "error": error_facts(info.get("error")),
                    "warning": sanitize.name(warning, 500) if warning else None,
                }
        for name, why in failed_imports.items():
            d.modules[_str(name)] = {"file": _str(f"{name}.py"), "error": {"type": "ImportFailure", "message": why}}
        hooks = _dict(ready.get("hooks"))
        for hook in hook_names:
            info = hooks.get(hook)
            if isinstance(info, dict):
                error = info.get("error")
                d.hooks[hook] = {
                    "module": _str(info.get("module")),
                    "error": sanitize.name(error, 1000) if error else None,
                }
        functions = _dict(ready.get("functions"))
        d.functions = {_str(k): _names(v) for k, v in list(functions.items())[:MAX_MODULES]}
        d.near_misses = d._near_misses()
        d._warn()
        return d

    def _near_misses(self) -> list[tuple[str, str, str]]:
        """(found name, module, hook it resembles) for names that resemble a hook nothing
        implements; at most ``MAX_CANDIDATES`` names are compared (difflib costs ~0.1 ms each)."""
        seen: set[tuple[str, str]] = set()
        out: list[tuple[str, str, str]] = []
        candidates = dict(self.functions)
        for module, names in self.static.items():
            if (self.modules.get(module) or {}).get("error"):
                candidates.setdefault(module, names)
        hooks = set(self.hook_names)
        # A name more than 1.5 times longer or shorter than every hook name cannot reach
        # difflib's ratio of 0.8 (2·min/(a+b)); nor can it match in lower case.
        longest = max((len(h) for h in hooks), default=0)
        shortest = min((len(h) for h in hooks), default=0)
        budget = MAX_CANDIDATES
        for module, names in sorted(candidates.items()):
            for name in names:
                if name in hooks or name.startswith("_") or (name, module) in seen:
                    continue
                if not (shortest * 2 / 3 <= len(name) <= longest * 3 / 2):
                    continue
                if budget <= 0:
                    return out
                budget -= 1
                match = difflib.get_close_matches(name, self.hook_names, n=1, cutoff=0.8)
                if not match and name.lower() in hooks:
                    match = [name.lower()]
                if match and match[0] not in self.hooks:
                    seen.add((name, module))
                    out.append((name, module, match[0]))
        return out

    def _warn(self) -> None:
        for _module, info in sorted(self.modules.items()):
            if info.get("warning"):
                self.warnings.append(str(info["warning"]))
        for name, module, hook in self.near_misses[:MAX_NEAR_MISSES]:
            self.warnings.append(f"did you mean `{hook}`? (found `{name}` in {module}.py)")
        if len(self.near_misses) > MAX_NEAR_MISSES:
            self.warnings.append(f"… and {len(self.near_misses) - MAX_NEAR_MISSES} more names that resemble a hook")

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
            if hook in names and err:
                return (
                    "error",
                    f"`{self.modules[module].get('file', module + '.py')}` failed to import: {exception_text(err)}",
                )
        broken = [m for m, info in sorted(self.modules.items()) if info.get("error")]
        hint = ""
        for name, module, target in self.near_misses:
            if target == hook:
                hint = f" (found `{name}` in {module}.py: did you mean `{hook}`?)"
                break
        if not hint and broken:
            named = [f"{self.modules[m].get('file', m)} failed to import" for m in broken[:5]]
            more = f" and {len(broken) - 5} more" if len(broken) > 5 else ""
            hint = " (" + ", ".join(named) + more + ")"
        return "not_attempted", f"not attempted: no module defines `{hook}`{hint}"
