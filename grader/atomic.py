"""Writing a file all at once: a reader sees the old file or the new one, never a part of one.

Reports, results and gradebooks are read by platforms (Gradescope, a CI step) that may look at
them while the grader runs, or after the grader was killed mid-write.
"""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` (text or bytes) to ``path`` through a temporary file in the same folder,
    synced, then renamed over the target; missing parent folders are created. A path that exists
    and is no regular file (``/dev/stdout``, a pipe) is written through, never replaced."""
    target = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    if target.exists() and not target.is_file():
        with open(target, mode) as f:
            f.write(data)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with open(tmp, mode) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
