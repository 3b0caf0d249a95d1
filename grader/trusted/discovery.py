"""What a submission provides, hook by hook, told to the student in plain words.

The worker reports what its imports found; the trusted side also reads each file's syntax tree
(never executing it), so a module that hung or killed the worker while importing can still be
named as the reason its hooks are missing. A file that does not parse is read as text for its
definitions (its hooks are broken, not missing), and its syntax error is kept for the top of
the reports.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

MAX_SOURCE = 2 << 20
MAX_CODE = 160  # characters of an offending line shown around its caret

# A top-level definition in the text of a file that does not parse.
_DEFINITION = re.compile(r"^(?:async[ \t]+)?def[ \t]+(\w+)[ \t]*\(|^class[ \t]+(\w+)", re.MULTILINE)


@dataclass
class Sources:
    """What the submission's top-level files say without running them: the ``def``/``class``
    names of each module, and the syntax errors of those that do not parse."""

    definitions: dict[str, list[str]] = field(default_factory=dict)
    syntax_errors: list[dict] = field(default_factory=list)


def read_sources(root: Path) -> Sources:
    """Top-level ``def``/``class`` names per module, read from the source text alone. A file
    that does not parse is scanned for lines that start ``def NAME(`` or ``class NAME`` (its
    hooks are then broken, not missing), and its syntax error is kept (``syntax_error``)."""
    out = Sources()
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
            data = source.read_bytes()
        except OSError:
            out.definitions[name] = []
            continue
        try:
            tree = ast.parse(data, filename=str(source.relative_to(root)))
        except SyntaxError as e:
            out.definitions[name] = scan_definitions(data)
            out.syntax_errors.append(syntax_error(e, str(source.relative_to(root))))
            continue
        except (ValueError, RecursionError, MemoryError):
            out.definitions[name] = scan_definitions(data)
            continue
        out.definitions[name] = [
            node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        ]
    return out


def scan_definitions(source: bytes) -> list[str]:
    """The names of the lines starting ``def NAME(`` or ``class NAME`` (no indentation), in
    order and once each: a tolerant reading of a file ``ast`` cannot parse."""
    text = source.decode("utf-8", errors="replace")
    return list(dict.fromkeys(m.group(1) or m.group(2) for m in _DEFINITION.finditer(text)))


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text.expandtabs(4))


def syntax_error(e: SyntaxError, file: str) -> dict:
    """A syntax error as the report shows it, the way Python and pytest do: the file, the line,
    the offending line (stripped, at most ``MAX_CODE`` characters around the caret) and a caret
    under the column; ``type`` is SyntaxError, IndentationError or TabError."""
    code = _printable((e.text or "").rstrip("\r\n"))
    stripped = code.lstrip()
    column = int(e.offset) if isinstance(e.offset, int) and e.offset > 0 else None
    caret = None
    if column is not None and stripped:
        at = max(0, min(column - 1 - (len(code) - len(stripped)), len(stripped)))
        end = e.end_offset if isinstance(e.end_offset, int) and e.end_lineno in (None, e.lineno) else None
        width = max(1, min((end or column + 1) - column, len(stripped) - at)) if end else 1
        start = max(0, at - MAX_CODE // 2) if len(stripped) > MAX_CODE else 0
        stripped, at = stripped[start : start + MAX_CODE], at - start
        caret = " " * at + "^" * max(1, min(width, len(stripped) - at))
    return {
        "type": type(e).__name__,
        "message": _printable(str(e.msg or ""))[:300],
        "file": _printable(file)[:200],
        "line": int(e.lineno) if isinstance(e.lineno, int) else None,
        "column": column,
        "code": stripped[:MAX_CODE],
        **({"caret": caret} if caret else {}),
    }


_SYNTAX_ERRORS = ("SyntaxError", "IndentationError", "TabError")


def imported_syntax_errors(root: Path, modules: dict[str, dict], known: list[dict]) -> list[dict]:
    """Syntax errors the worker met importing files the top-level reading does not cover (a
    helper module in a sub-package, imported by a top-level one), read again here from the file
    it names inside the submission."""
    out: list[dict] = []
    seen = {e.get("file") for e in known}
    root = root.resolve()
    for info in modules.values():
        err = info.get("error")
        err = err if isinstance(err, dict) else {}
        where = err.get("where")
        file = where.get("file") if isinstance(where, dict) else None
        if err.get("type") not in _SYNTAX_ERRORS or not isinstance(file, str) or file in seen:
            continue
        path = (root / file).resolve()
        try:
            if not path.is_relative_to(root) or not path.is_file() or path.stat().st_size > MAX_SOURCE:
                continue
            ast.parse(path.read_bytes(), filename=file)
        except SyntaxError as e:
            seen.add(file)
            out.append(syntax_error(e, file))
        except (OSError, ValueError, RecursionError, MemoryError):
            continue
    return out


def nothing_found(root: Path) -> str:
    """What to tell a student whose submission has no module at all (``read_sources`` found
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
    syntax_errors: list[dict] = field(default_factory=list)  # ``syntax_error``'s, shown atop reports

    @classmethod
    def build(
        cls,
        hook_names: list[str],
        ready: dict,
        failed_imports: dict[str, str],
        static: dict[str, list[str]],
        syntax_errors: list[dict] | None = None,
    ) -> Discovery:
        d = cls(hook_names=list(hook_names), static=static, syntax_errors=list(syntax_errors or []))
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
        # A hook defined in a file that failed to import is broken, not misspelled.
        defined = {n for names in self.static.values() for n in names}
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
                if match and match[0] not in self.hooks and match[0] not in defined:
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
