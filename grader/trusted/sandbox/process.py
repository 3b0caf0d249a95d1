"""The ``process`` level: a plain forked subprocess with rlimits and a process-tree kill."""

from __future__ import annotations

from pathlib import Path

from .level import Context, Level, Prepared, shared_uid_nproc


class ProcessLevel(Level):
    """A plain subprocess (forked from the template) with rlimits, its own session, no
    capabilities and a process-tree kill. Same user, same filesystem view, network reachable."""

    name = "process"
    rank = 0
    protects = "separate process (verdicts, reference and seed unreachable), rlimits, no capabilities, wall-clock kill of the process tree"
    stops = ("A2", "A3", "A4", "A6", "A8", "A9", "A11")  # A4: the worker's own memory only

    def prepare(self, submission: Path, ctx: Context) -> Prepared:
        return Prepared(plan=self.base_plan(str(submission), str(ctx.scratch), ctx, shared_uid_nproc(ctx)))
