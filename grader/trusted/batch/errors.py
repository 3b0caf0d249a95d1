"""What stops a whole batch (not one submission): :class:`BatchError`."""

from __future__ import annotations


class BatchError(Exception):
    """The batch cannot run at all: bad configuration, no submissions, no grading process starts.
    ``usage``: the caller's input is at fault (exit code 2), not the grader (exit code 3)."""

    def __init__(self, message: str, usage: bool = False):
        super().__init__(message)
        self.usage = usage
