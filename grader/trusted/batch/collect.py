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


def collect(paths: Iterable[Path], each: Iterable[Path] = ()) -> tuple[list[Submission], list[str]]:
    """The submissions named (each a directory) plus every subdirectory of each ``each``
    directory, in name order; returns them with notes about what was left out. Names are the
    directory names, made unique with a numeric suffix. Raises ``BatchError`` (usage) for a
    path that is not a directory, or when there is nothing to grade."""
    found: list[Path] = []
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
                found.append(entry)
            else:
                notes.append(f"{entry}: not a directory, left out")
    if not found:
        raise BatchError("no submissions to grade", usage=True)
    subs: list[Submission] = []
    used: set[str] = set()
    for path in found:
        base = _safe_name(path.resolve().name)
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        subs.append(Submission(name, path))
    return subs, notes


def _safe_name(name: str) -> str:
    name = re.sub(r"[^\w.+-]", "_", name).lstrip(".")
    return name or "submission"
