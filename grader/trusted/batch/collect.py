"""Which submissions a batch grades: directories named on the command line and the
subdirectories of ``--each`` directories, each under a unique, file-system-safe name."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import BatchError


@dataclass
class Submission:
    name: str  # unique in the batch; the directory under results_dir/submissions
    path: Path
    note: str = ""  # what collecting it did (stepped into its single folder), for the gradebook


def single_folder(path: Path) -> Path | None:
    """The folder to grade instead of ``path`` when ``path`` holds no ``.py`` file but exactly
    one visible folder that does (a zipped folder unpacks one level down; macOS's
    ``__MACOSX`` and hidden folders aside), as Gradescope's ``run_autograder`` does; else None."""
    if any(p.suffix == ".py" and p.is_file() for p in path.iterdir()):
        return None
    folders = [
        d
        for d in path.iterdir()
        if d.is_dir() and not d.is_symlink() and not d.name.startswith(".") and d.name != "__MACOSX"
    ]
    if len(folders) == 1 and any(p.suffix == ".py" and p.is_file() for p in folders[0].iterdir()):
        return folders[0]
    return None


def collect(paths: Iterable[Path], each: Iterable[Path] = ()) -> tuple[list[Submission], list[str]]:
    """The submissions named (each a directory) plus every subdirectory of each ``each``
    directory, in name order; returns them with notes about what was left out. A subdirectory
    of ``each`` with no ``.py`` file but a single folder holding some is graded in that folder
    (``single_folder``), its ``note`` saying so. Names are the directory names (the student's,
    not the inner folder's), made unique with a numeric suffix. Raises ``BatchError`` (usage)
    for a path that is not a directory, or when there is nothing to grade."""
    found: list[Path] = []
    inner: dict[int, Path] = {}  # index in found -> the single folder graded instead
    notes: list[str] = []
    for p in paths:
        if not Path(p).is_dir():
            raise BatchError(f"{p}: not a directory", usage=True)
        found.append(Path(p))
    for d in each:
        d = Path(d)
        if not d.is_dir():
            raise BatchError(f"--each {d}: not a directory", usage=True)
        for entry in sorted(d.iterdir(), key=lambda e: e.name):
            if entry.name.startswith((".", "__")):
                continue
            if entry.is_dir():
                folder = single_folder(entry)
                if folder is not None:
                    inner[len(found)] = folder
                found.append(entry)
            else:
                notes.append(f"{entry}: not a directory, left out")
    if not found:
        raise BatchError("no submissions to grade", usage=True)
    subs: list[Submission] = []
    used: set[str] = set()
    for i, path in enumerate(found):
        base = _safe_name(path.resolve().name)
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        if i in inner:
            note = f"graded `{inner[i].name}/`, the single folder in {path.name}/ (a zipped folder)"
            subs.append(Submission(name, inner[i], note))
        else:
            subs.append(Submission(name, path))
    return subs, notes


def _safe_name(name: str) -> str:
    name = re.sub(r"[^\w.+-]", "_", name).lstrip(".")
    return name or "submission"
