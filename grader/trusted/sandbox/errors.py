"""The sandbox's one exception: a confinement level that cannot be had here."""

from __future__ import annotations


class SandboxUnavailable(Exception):
    """A level is unknown, unavailable on this host, below the required minimum, or its sandbox
    process did not start; the message says which and why."""
