"""How a check that needs another of the submission's hooks says that this other hook fails:
one message, so a student reads the same advice wherever it applies."""

from __future__ import annotations


def uses(hook: str, why: str) -> str:
    """The message of a check that needs the submission's ``hook`` (written as the student calls
    it, ``mlp()``), which fails here for ``why``: fix that one first."""
    return f"not gradable: this check uses your `{hook}`, which fails its own checks ({why}): fix `{hook}` first"


__all__ = ["uses"]
