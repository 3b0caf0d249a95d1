"""Per-worker resource limits and the rlimits they become in a worker's spawn plan."""

from __future__ import annotations

from dataclasses import dataclass

GiB = 1 << 30
MiB = 1 << 20


@dataclass
class Limits:
    """Per-worker resource limits (documented in the README, tunable in the assignment file)."""

    memory: int | None = 4 * GiB  # on top of what the pre-imported template already maps
    cpu_seconds: int = 900
    file_size: int = 64 * MiB
    open_files: int = 256
    processes: int = 64
    threads: int = 1
    tmp_size: int = 256 * MiB  # the private /tmp of the namespace levels (memory-backed)

    def rlimits(self, nproc: int | None, cuda: bool = False) -> dict:
        out = {
            "cpu": self.cpu_seconds,
            "fsize": self.file_size,
            "nofile": self.open_files,
            "core": 0,
        }
        if self.memory is not None:
            # CUDA reserves huge virtual ranges (never touched): an address-space limit would
            # break it, so with CUDA the limit is on data (private writable memory) instead.
            out["data_extra" if cuda else "as_extra"] = self.memory
        if nproc is not None:
            out["nproc"] = nproc
        return out
