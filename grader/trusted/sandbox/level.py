"""What a confinement level is: the ``Level`` interface (what the host lacks, prepare a worker, describe), what
the launcher tells it about one worker (``Context``) and what it hands back (``Prepared``), and
the plan pieces the levels share (base plan, process allowance, per-worker uid, the features a
worker can apply)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..workers import WORKER_ENV, WorkerTemplate
from .limits import Limits
from .placeholder import Placeholder


@dataclass
class Context:
    """What a level needs from the launcher to plan one worker."""

    scratch: Path
    limits: Limits
    hidden: list[str]
    cuda: bool
    uid: int | None  # a fresh uid for this worker (root only), else None
    features: dict  # the template's: {"landlock": abi, "seccomp": bool, "uid", "euid"}


@dataclass
class Prepared:
    """One worker's spawn plan for the template, and the placeholder holding its namespaces."""

    plan: dict
    handle: Placeholder | None = None
    cleanup: list = field(default_factory=list)


_MISSING: dict[str, tuple[bool, str]] = {}


class Level:
    """A confinement level: ``missing`` says what this host lacks to run it (None: nothing), ``prepare`` turns one
    worker into a spawn plan (and a placeholder for the namespace levels)."""

    name = "?"
    rank = 0
    protects = ""
    # Attack classes (security_anchors.md A1–A13) this level stops, for docs and tests; "A4/proc"
    # is A4 through other processes' /proc entries (A4 alone: the worker's own memory).
    stops: tuple[str, ...] = ()

    def missing(self, features: dict) -> str | None:
        """None when this host can run the level; else why not. Cheap; cached per process."""
        return None

    def available(self, features: dict | None = None) -> tuple[bool, str]:
        """``missing``'s answer as (ok, why not), cached per level and effective uid; a check
        that raises makes the level unavailable."""
        key = f"{self.name}:{os.geteuid()}"
        if key not in _MISSING:
            try:
                why = self.missing(features or {})
            except Exception as e:  # a failing check never breaks start-up: the level is just not there
                why = f"{type(e).__name__}: {e}"
            _MISSING[key] = (why is None, why or "")
        return _MISSING[key]

    def prepare(self, submission: Path, ctx: Context) -> Prepared:
        raise NotImplementedError

    def describe(self) -> str:
        return self.protects

    def base_plan(self, root: str, scratch: str, ctx: Context, nproc: int | None, home: str | None = None) -> dict:
        """The plan every level starts from: the submission's ``root`` and ``scratch`` as the
        worker sees them, rlimits (``nproc``: RLIMIT_NPROC, None for none), the worker's
        environment (HOME and TMPDIR ``home``, else the scratch), thread caps, no capabilities."""
        return {
            "root": root,
            "scratch": scratch,
            "limits": ctx.limits.rlimits(nproc, ctx.cuda),
            "env": {**WORKER_ENV, "HOME": home or scratch, "TMPDIR": home or scratch},
            "threads": ctx.limits.threads,
            "drop_caps": True,
        }


def _own_process_count() -> int:
    uid = os.getuid()
    n = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


def shared_uid_nproc(ctx: Context) -> int | None:
    """RLIMIT_NPROC when the worker shares the grader's uid: the count is per uid, so the limit
    is what that uid already runs plus the worker's allowance (root ignores it: None)."""
    return None if os.geteuid() == 0 else _own_process_count() + ctx.limits.processes


def worker_identity(ctx: Context, landlock: bool) -> dict:
    """The plan's per-worker uid as root (nothing otherwise). ``fs_root``: under Landlock keep
    filesystem uid 0, so a runtime under a root-only directory (pyenv in /root) stays
    importable; Landlock decides instead."""
    if ctx.uid is None:
        return {}
    return {"uid": ctx.uid, "gid": ctx.uid, "fs_root": landlock}


def worker_features(template: WorkerTemplate | None) -> dict:
    """What a worker can apply (Landlock, seccomp): the template's report, or, without one, the
    same interpreter's view from here."""
    if template is None:
        from ...worker import confine

        return confine.features()
    try:
        info = template.ready()
    except Exception:
        return {}
    return dict(info.get("confine") or {})
