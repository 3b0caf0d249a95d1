"""How a check says it did not pass (shared by the kit and the pytest plugin)."""

from __future__ import annotations

import hashlib
from typing import Any


class CheckFailed(AssertionError):
    """A check did not pass: ``message`` says what differed, ``hint`` names a known mistake."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint


def derive_seed(seed: int, *keys: Any) -> int:
    """A seed for one purpose (a check, a case) derived from the run's seed: independent of
    which checks run and in which order."""
    digest = hashlib.sha256(repr((seed,) + tuple(keys)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 62) - 1)


# Advice: a remark a check makes without failing (e.g. "this works on the CPU but will not follow
# .to(device)"). It reaches the result's warnings, prefixed with the check's id.
_advice: list[str] | None = None


def advise(message: str) -> None:
    """Note something the student should know, without failing the check."""
    if _advice is not None and message not in _advice:
        _advice.append(message)
