"""Reading a notebook (``.ipynb``) or Markdown notes (``.md``): their code cells, nothing more.

A submission's notebook is hostile input read by the trusted process, so reading it does only
this: read a size-capped regular file (never through a symbolic link, never a pipe or device),
parse it (``nbformat`` for notebooks, ``markdown-it-py`` for notes) and keep the source of its
code cells. Nothing is executed and no output is decoded: outputs, attachments and prose are
dropped here, and only the code goes on (``grader.worker.code_cells``). A file that cannot be
read this way raises ``Unreadable`` with a message naming the file and the reason, never its
content.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

from ..worker.code_cells import CodeCell

MAX_NOTEBOOK = 64 << 20  # bytes of one .ipynb file, outputs included
MAX_NOTES = 4 << 20  # bytes of one .md file
MAX_CODE = 2 << 20  # characters of code kept from one file
NOTEBOOK_SUFFIXES = (".ipynb",)
NOTES_SUFFIXES = (".md",)
# Fenced blocks whose info string names one of these are code (```python, ```py, and the d2l
# book's own ```{.python .input}); every other fence, and the prose, is left out.
PYTHON_FENCES = frozenset({"python", "py", "python3", "ipython", "ipython3"})


class Unreadable(Exception):
    """The file is not a notebook (or notes) this grader can read; the message says why."""


def kind_of(path: Path) -> str | None:
    """``"notebook"``, ``"notes"`` or None, from the file's suffix."""
    suffix = path.suffix.lower()
    if suffix in NOTEBOOK_SUFFIXES:
        return "notebook"
    if suffix in NOTES_SUFFIXES:
        return "notes"
    return None


def read_capped(path: Path, limit: int, what: str) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them: a symbolic link, a
    pipe or a device is refused without waiting on it, a larger file raises."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise Unreadable(f"`{path.name}` is a symbolic link; submit the file itself") from None
        raise Unreadable(f"`{path.name}` cannot be read: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Unreadable(f"`{path.name}` is not a regular file")
        if st.st_size > limit:
            raise Unreadable(_too_large(path, st.st_size, limit, what))
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise Unreadable(_too_large(path, size, limit, what))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _too_large(path: Path, size: int, limit: int, what: str) -> str:
    advice = ": clear its outputs (Edit → Clear All Outputs) and save it" if what == "notebook" else ""
    return f"`{path.name}` is too large to grade ({size / 2**20:.1f} MiB; a {what} may have {limit >> 20} MiB){advice}"


def _text(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise Unreadable(f"`{path.name}` is not UTF-8 text (byte {e.start})") from None


def _capped_code(cells: list[CodeCell], path: Path) -> list[CodeCell]:
    if sum(len(c.source) for c in cells) > MAX_CODE:
        raise Unreadable(f"`{path.name}` holds more than {MAX_CODE >> 20} MiB of code")
    return cells


def notebook_cells(data: bytes, path: Path) -> list[CodeCell]:
    """The code cells of a notebook (nbformat 4), labelled ``cell N`` (N counts every cell from 1,
    as a notebook shows them, code and Markdown alike). Raises ``Unreadable`` for a file that is
    not JSON, not a notebook, or not nbformat 4."""
    import nbformat
    from nbformat import reader

    text = _text(data, path)
    try:
        nb = reader.reads(text)
    except reader.NotJSONError as e:
        cause = e.__cause__
        where = f" (line {cause.lineno}, column {cause.colno})" if isinstance(cause, json.JSONDecodeError) else ""
        raise Unreadable(f"`{path.name}` is not a notebook: not JSON{where}") from None
    except RecursionError:
        raise Unreadable(f"`{path.name}` is not a notebook: its JSON nests too deeply") from None
    except nbformat.NBFormatError:
        raise Unreadable(f"`{path.name}` is not a notebook: no nbformat version this grader knows") from None
    except Exception:  # JSON that is not an object, a version that is not a number, missing keys
        raise Unreadable(f"`{path.name}` is not a notebook: its JSON does not have a notebook's structure") from None
    major = nb.get("nbformat")
    if major != 4:
        raise Unreadable(
            f"`{path.name}` is an nbformat {major!s:.10} notebook; the grader reads nbformat 4: "
            "open it in a current Jupyter and save it"
        )
    raw = nb.get("cells")
    if not isinstance(raw, list):
        raise Unreadable(f"`{path.name}` is not a notebook: it has no list of cells")
    cells = []
    for i, cell in enumerate(raw, 1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise Unreadable(f"`{path.name}` is not a notebook: cell {i}'s source is not text")
        cells.append(CodeCell(source=source, label=f"cell {i}"))
    return _capped_code(cells, path)


def _fence_language(info: str) -> str:
    """The language a fence's info string names: ``python`` for ```python, ```{.python .input}
    and ```{python}."""
    info = info.strip()
    if info.startswith("{"):
        words = info.strip("{}").replace(",", " ").split()
        return words[0].lstrip(".").lower() if words else ""
    return info.split()[0].lower() if info else ""


def notes_cells(data: bytes, path: Path) -> list[CodeCell]:
    """The fenced Python blocks of Markdown notes, each with the file line its code starts on."""
    from markdown_it import MarkdownIt

    text = _text(data, path)
    try:
        tokens = MarkdownIt("commonmark").parse(text)
    except RecursionError:
        raise Unreadable(f"`{path.name}` nests too deeply to read") from None
    cells = []
    for tok in tokens:
        if tok.type == "fence" and _fence_language(tok.info) in PYTHON_FENCES and tok.map:
            cells.append(CodeCell(source=tok.content, label=None, first_line=tok.map[0] + 2))
    return _capped_code(cells, path)


def read_cells(path: Path) -> list[CodeCell]:
    """The code cells of the notebook or notes file at ``path`` (``Unreadable`` if it cannot be
    read)."""
    kind = kind_of(path)
    if kind == "notebook":
        return notebook_cells(read_capped(path, MAX_NOTEBOOK, "notebook"), path)
    if kind == "notes":
        return notes_cells(read_capped(path, MAX_NOTES, "notes file"), path)
    raise ValueError(f"{path}: not a notebook or notes file")
