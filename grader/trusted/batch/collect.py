"""Which submissions a batch grades: directories (or single .py, .ipynb, .md files) named on the
command line and the entries of ``--each`` directories, each under a unique, file-system-safe
name."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..sources import is_submission
from .errors import BatchError


@dataclass
class Submission:
    name: str  # unique in the batch; the directory under results_dir/submissions
    path: Path
    note: str = ""  # what collecting it did (stepped into its single folder), for the gradebook


def holds_code(path: Path) -> bool:
    """Whether the folder ``path`` holds code at its top level: a ``.py`` file, a notebook or
    Markdown notes (a README is documentation, not code)."""
    return any(
        p.is_file() and is_submission(p) is None and not p.name.lower().startswith("readme") for p in path.iterdir()
    )


def single_folder(path: Path) -> Path | None:
    """The folder to grade instead of ``path`` when ``path`` holds no code but exactly one
    visible folder that does (a zipped folder unpacks one level down; macOS's ``__MACOSX`` and
    hidden folders aside), as Gradescope's ``run_autograder`` does; else None."""
    if holds_code(path):
        return None
    folders = [
        d
        for d in path.iterdir()
        if d.is_dir() and not d.is_symlink() and not d.name.startswith(".") and d.name != "__MACOSX"
    ]
    if len(folders) == 1 and holds_code(folders[0]):
        return folders[0]
    return None


def collect(paths: Iterable[Path], each: Iterable[Path] = ()) -> tuple[list[Submission], list[str]]:
    """The submissions named (each a directory, or a .py, .ipynb or .md file) plus every
    subdirectory and such file (a student's single notebook) of each ``each`` directory but a
    README, in name order; returns them with notes about what was left out. A subdirectory of
    ``each`` with no code but a single folder holding some is graded in that folder
    (``single_folder``), its ``note`` saying so. Names are the directory names (the student's,
    not the inner folder's; a file's without its suffix), made unique with a numeric suffix.
    Raises ``BatchError`` (usage) for a path that is not a submission, or when there is nothing
    to grade."""
    found: list[tuple[Path, Path | None]] = []  # each path, and the single folder graded instead
    notes: list[str] = []
    for p in paths:
        problem = is_submission(Path(p))
        if problem:
            raise BatchError(problem, usage=True)
        found.append((Path(p), None))
    for d in each:
        d = Path(d)
        if not d.is_dir():
            raise BatchError(f"--each {d}: not a directory", usage=True)
        for entry in sorted(d.iterdir(), key=lambda e: e.name):
            if entry.name.startswith((".", "__")):
                continue
            if entry.is_dir():
                found.append((entry, single_folder(entry)))
            elif is_submission(entry) is None and not entry.name.lower().startswith("readme"):
                found.append((entry, None))
            else:
                notes.append(f"{entry}: not a submission (a directory, or a .py, .ipynb or .md file), left out")
    if not found:
        raise BatchError("no submissions to grade", usage=True)
    subs: list[Submission] = []
    used: set[str] = set()
    for path, folder in found:
        resolved = path.resolve()
        base = _safe_name(resolved.name if resolved.is_dir() else resolved.stem)
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        if folder is not None:
            note = f"graded `{folder.name}/`, the single folder in {path.name}/ (a zipped folder)"
            subs.append(Submission(name, folder, note))
        else:
            subs.append(Submission(name, path))
    return subs, notes


def _safe_name(name: str) -> str:
    name = re.sub(r"[^\w.+-]", "_", name).lstrip(".")
    return name or "submission"
