"""What a submission is made of, read without running it, and the copy of it a worker imports.

A submission is a directory or a single file. Its sources come in four forms:

- a module (``NAME.py``) or a package (``NAME/__init__.py``), imported as today;
- a notebook (``NAME.ipynb``, nbformat 4) and Markdown notes (``NAME.md``: its fenced ``python``
  and ``py`` blocks), each run as one module, its code cells in order (``grader.worker.notebook``).

In a directory, a Markdown file counts only if it is not a README and its code defines a hook
(found by parsing, never by running); given as the submission itself, any of these counts.

The worker never reads a notebook or notes file: where the submission has one (or is a single
file), the worker imports a copy made here, holding the modules and packages and, for each
notebook or notes file, only its code (``grader.worker.code_cells``). A plain directory of
modules is imported where it is. Top-level ``def`` and ``class`` names are read from every
source's syntax tree, so a module that hung or killed the worker can still be named as the
reason its hooks are missing.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import tempfile
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from ..worker.code_cells import NOT_MODULES, CodeCell, dump
from ..worker.code_cells import SUFFIX as CELLS_SUFFIX
from ..worker.ipython_syntax import Budget, python_source
from .discovery import frameworks_imported
from .notebooks import Unreadable, kind_of, read_cells
from .sandbox.host import make_readable
from .settings import UsageError

MAX_SOURCE = 2 << 20  # bytes of a .py file read for its definitions
MAX_CODE = 160  # characters of an offending line shown around its caret
# A top-level definition in the text of a file that does not parse.
_DEFINITION = re.compile(r"^(?:async[ \t]+)?def[ \t]+(\w+)[ \t]*\(|^class[ \t]+(\w+)", re.MULTILINE)
FILE_FORMS = ".py, .ipynb or .md"


@dataclass
class SourceFile:
    """One source of a submission. ``module``: the name the worker imports it under;
    ``file``: its name as the student knows it; ``kind``: module, package, notebook or notes;
    ``definitions``: top-level ``def``/``class`` names, each with the number of the code cell
    defining it (from 1, as ``code_cells`` numbers them) and where that is (``cell 7``,
    ``line 12``), None in a module; ``cells``: a notebook's or notes file's code cells;
    ``error``: why it could not be read (it is not handed to the worker)."""

    module: str
    file: str
    kind: str
    definitions: dict[str, tuple[int, str] | None] = field(default_factory=dict)
    cells: list[CodeCell] | None = None
    error: str | None = None
    assigned: set[str] = field(default_factory=set)  # names bound at the top level otherwise
    frameworks: list[str] = field(default_factory=list)  # other frameworks it imports (``FRAMEWORKS``)
    syntax_errors: list[dict] = field(default_factory=list)  # ``syntax_error``'s of what does not parse


class Sources:
    """A submission's sources (``files``) and the directory its workers import (``root``).
    ``on_disk``: ``given`` is where they were read (False: cells handed over, ``from_cells``).
    ``close`` removes the worker's copy, if one was made."""

    def __init__(self, given: Path, files: list[SourceFile], root: Path, notes: list[str], copy: str | None = None):
        self.given, self.files, self.root, self.notes = given, files, root, notes
        self._copy = copy
        self.on_disk = True

    @classmethod
    def read(cls, submission: str | Path, hook_names: Collection[str] = ()) -> Sources:
        """Read the submission at ``submission`` (a directory, or one .py, .ipynb or .md file).
        ``hook_names``: the names that implement a hook, which decide whether a Markdown file of
        a directory counts. Raises ``UsageError`` for a path that is neither."""
        given = Path(submission)
        problem = is_submission(given)
        if problem:
            raise UsageError(problem)
        if given.is_dir():
            return cls._read_directory(given, set(hook_names))
        return cls._read_file(given)

    @classmethod
    def from_cells(cls, file: str, cells: list[CodeCell]) -> Sources:
        """A submission of one notebook made of ``cells`` (say, a kernel's input history),
        named ``file`` in the report; nothing is read from the disk. Close it when done."""
        source = SourceFile(module=_identifier(Path(file).stem), file=file, kind="notebook")
        _read_cells(source, cells)
        sources = cls._with_copy(Path(file), [source], [], None)
        sources.on_disk = False
        return sources

    @classmethod
    def _read_directory(cls, root: Path, hook_names: set[str]) -> Sources:
        files: list[SourceFile] = []
        notes: list[str] = []
        cells: list[SourceFile] = []
        foreign = False  # a file of the workers' code-only form: never taken from a submission
        for path in sorted(root.iterdir()):
            name = path.name
            if name.endswith(CELLS_SUFFIX):
                foreign = True
                continue
            if name.startswith((".", "_")):
                continue
            if name.endswith(".py") and path.is_file():
                if name[:-3] not in NOT_MODULES:
                    files.append(_read_module(path.stem, path, name))
            elif path.is_dir() and (path / "__init__.py").is_file() and name.isidentifier():
                files.append(_read_module(name, path / "__init__.py", f"{name}/__init__.py", kind="package"))
            elif kind_of(path) == "notebook" and not path.is_dir():
                cells.append(_read_notebook(path))
            elif kind_of(path) == "notes" and path.is_file() and not path.stem.lower().startswith("readme"):
                source = _read_notebook(path)
                if source.error is not None:
                    notes.append(f"{source.error}; it was not graded")
                elif hook_names & (set(source.definitions) | source.assigned):
                    cells.append(source)
        taken = {f.module for f in files}
        for source in cells:
            source.module = _unique(source.module, taken, Path(source.file).suffix)
            taken.add(source.module)
        files += cells
        if not any(f.cells for f in cells) and not foreign:
            return cls(root, files, root, notes)
        return cls._with_copy(root, files, notes, root)

    @classmethod
    def _read_file(cls, path: Path) -> Sources:
        real = path.resolve()  # the file named on the command line: a link to it is followed
        if path.suffix == ".py":
            source = _read_module(path.stem, real, path.name)
            if path.stem in NOT_MODULES or path.stem.startswith((".", "_")):
                source.module = "submission"  # a name the worker would not import
        else:
            source = _read_notebook(real)
            source.file = path.name
        return cls._with_copy(real, [source], [], None)

    @classmethod
    def _with_copy(cls, given: Path, files: list[SourceFile], notes: list[str], directory: Path | None) -> Sources:
        """Sources imported from a copy: the modules and packages of ``directory`` (or the one
        module given), and the code-only form of each notebook and notes file."""
        copy = tempfile.mkdtemp(prefix="grader-submission-")
        try:
            os.chmod(copy, 0o755)  # a worker under its own uid reads it (the launcher's check)
            dest = Path(copy)
            for source in files:
                if source.kind == "package" and directory is not None:
                    _copy_package(directory / source.module, dest / source.module)
                elif source.kind == "module":
                    origin = directory / source.file if directory is not None else given
                    target = dest / f"{source.module}.py"
                    shutil.copy2(origin, target, follow_symlinks=False)
                    if not target.is_symlink():
                        os.chmod(target, 0o644)
                elif source.cells:
                    target = dest / f"{source.module}{CELLS_SUFFIX}"
                    target.write_bytes(dump(source.file, source.cells))
                    os.chmod(target, 0o644)
        except BaseException:
            shutil.rmtree(copy, ignore_errors=True)
            raise
        return cls(given, files, dest, notes, copy)

    @property
    def static(self) -> dict[str, list[str]]:
        """Top-level ``def``/``class`` names per module (unreadable files: none)."""
        return {f.module: list(f.definitions) for f in self.files if f.error is None}

    @property
    def syntax_errors(self) -> list[dict]:
        """The syntax errors of the sources that do not parse, each as ``syntax_error`` gives it."""
        return [e for f in self.files for e in f.syntax_errors]

    @property
    def frameworks(self) -> dict[str, str]:
        """Per module, the first other framework it imports (``import mxnet``, ``from flax import
        linen``, the book's ``from d2l import mxnet as d2l``), read from the source alone."""
        return {f.module: f.frameworks[0] for f in self.files if f.frameworks}

    @property
    def display(self) -> dict[str, str]:
        """Each module's file as the student names it."""
        return {f.module: f.file for f in self.files}

    def nothing_found(self) -> str | None:
        """What to tell a student whose submission has no source at all (every hook is then "not
        attempted"): often they submitted, or graded, the folder holding their files instead of
        the files. None when there is something."""
        if self.files:
            return None
        text = f"no Python module, notebook or notes at the top level of the submission (a {FILE_FORMS} file, or a folder with an __init__.py)"
        root = self.given
        nested = (
            sorted(
                d.name + "/"
                for d in root.iterdir()
                if d.is_dir()
                and not d.is_symlink()
                and not d.name.startswith((".", "_"))
                and (any(d.glob("*.py")) or any(d.glob("*.ipynb")))
            )
            if root.is_dir()
            else []
        )
        if nested:
            text += (
                f": the files are one folder down, in {', '.join(f'`{n}`' for n in nested[:3])}: "
                "submit (or grade) the files themselves, not the folder holding them"
            )
        return text

    def close(self) -> None:
        if self._copy is not None:
            shutil.rmtree(self._copy, ignore_errors=True)
            self._copy = None


def is_submission(path: Path) -> str | None:
    """None when ``path`` can be graded (a directory, or a .py, .ipynb or .md file); else why
    not, for the command line."""
    if path.is_dir() or (path.is_file() and (path.suffix == ".py" or kind_of(path))):
        return None
    if not path.exists():
        return f"{path}: no such file or directory"
    return f"{path}: not a submission (a directory, or a {FILE_FORMS} file)"


def _identifier(stem: str) -> str:
    name = re.sub(r"\W", "_", stem, flags=re.ASCII) or "notebook"
    return f"nb_{name}" if name[0].isdigit() else name


def _unique(name: str, taken: set[str], suffix: str) -> str:
    """A module name for a notebook or notes file: its file's stem made an identifier, unless a
    module of the submission already has it (``work.py`` beside ``work.ipynb``)."""
    name = _identifier(name)
    if name not in taken:
        return name
    base = f"{name}_{suffix.lstrip('.').lower()}"
    out, n = base, 1
    while out in taken:
        n += 1
        out = f"{base}{n}"
    return out


def _top_level(tree: ast.Module) -> tuple[list[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef], set[str]]:
    """The top-level definitions of a module, and the other names it binds by assignment."""
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    assigned: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        assigned.update(t.id for t in targets if isinstance(t, ast.Name))
    return defs, assigned


def _read_module(module: str, path: Path, file: str, kind: str = "module") -> SourceFile:
    source = SourceFile(module=module, file=file if kind == "module" else f"{module}/", kind=kind)
    try:
        if path.stat().st_size > MAX_SOURCE:
            return source
        data = path.read_bytes()
    except OSError:
        return source
    try:
        tree = ast.parse(data, filename=file)
    except SyntaxError as e:
        # Its hooks are broken, not missing: their names from the text, the error for the report.
        source.definitions = dict.fromkeys(scan_definitions(data))
        source.syntax_errors.append(syntax_error(e, file))
        return source
    except (ValueError, RecursionError, MemoryError):
        source.definitions = dict.fromkeys(scan_definitions(data))
        return source
    defs, _ = _top_level(tree)
    source.definitions = {n.name: None for n in defs}
    source.frameworks = frameworks_imported(tree)
    return source


def _read_notebook(path: Path) -> SourceFile:
    kind = kind_of(path) or "notebook"
    source = SourceFile(module=_identifier(path.stem), file=path.name, kind=kind)
    try:
        cells = read_cells(path)
    except Unreadable as e:
        source.error = str(e)
        return source
    _read_cells(source, cells)
    return source


def _read_cells(source: SourceFile, cells: list[CodeCell]) -> None:
    """Keep ``cells`` and read their definitions (the Python each cell runs, as the worker will:
    IPython syntax left out, the same parse budget)."""
    source.cells = list(cells)
    budget = Budget()
    for n, cell in enumerate(cells, 1):
        code, _ = python_source(cell.source, budget)
        if code is None:
            continue
        place = cell.label if cell.label else None
        try:
            tree = ast.parse(code)
        except SyntaxError as e:
            for name in scan_definitions(code.encode()):
                source.definitions.pop(name, None)
                source.definitions[name] = (n, place or f"line {cell.first_line + (e.lineno or 1) - 1}")
            if not place and isinstance(e.lineno, int):
                e.lineno += cell.first_line - 1
            source.syntax_errors.append(syntax_error(e, f"{source.file}, {place}" if place else source.file))
            continue
        except (ValueError, RecursionError, MemoryError):
            continue
        defs, assigned = _top_level(tree)
        for node in defs:
            source.definitions.pop(node.name, None)  # the last definition is the one that stays
            source.definitions[node.name] = (n, place or f"line {cell.first_line + node.lineno - 1}")
        source.assigned |= assigned
        source.frameworks += [f for f in frameworks_imported(tree) if f not in source.frameworks]


def _copy_package(origin: Path, target: Path) -> None:
    """A package into the worker's copy, readable by any uid; links stay links (never followed:
    one pointing outside resolves, or not, inside the worker's sandbox)."""
    shutil.copytree(
        origin,
        target,
        symlinks=True,
        ignore=shutil.ignore_patterns("*.ipynb", "__pycache__", ".git", ".ipynb_checkpoints"),
    )
    make_readable(target)


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
