"""The ``landlock`` level: no namespaces; a Landlock filesystem allowlist (``landlock_paths``,
also used by ``unshare``), a per-worker uid as root, and seccomp where libseccomp is present."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from .host import is_under, runtime_roots
from .level import Context, Level, Prepared, shared_uid_nproc, worker_features, worker_identity


def landlock_paths(root: str, scratch: str, ctx: Context) -> dict:
    """Read and write allowlists: the runtime (minus the grader's own directories), system
    libraries, a few device nodes, the submission; writes only to the scratch directory."""
    read = []
    for r in runtime_roots():
        read += _expand_except(r, ctx.hidden)
    read += [
        "/usr",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/bin",
        "/etc/ld.so.cache",
        "/etc/localtime",
        "/dev/null",
        "/dev/zero",
        "/dev/urandom",
        "/dev/random",
        "/dev/full",
        "/proc/cpuinfo",
        "/sys/devices/system/cpu",
        "/proc/self",
        root,
    ]
    if ctx.cuda:
        read += sorted(glob.glob("/dev/nvidia*")) + ["/sys", "/proc/driver/nvidia"]
    write = [scratch, "/dev/null"] + (sorted(glob.glob("/dev/nvidia*")) if ctx.cuda else [])
    return {"read": [p for p in read if os.path.exists(p)], "write": write}


def _expand_except(root: str, hidden: list[str]) -> list[str]:
    """``root`` as Landlock rules that leave out every hidden path beneath it (Landlock can only
    allow, so a directory holding a hidden path is replaced by its other entries)."""
    inner = [h for h in hidden if is_under(h, root)]
    if not inner:
        return [root]
    if root in inner or not os.path.isdir(root):
        return []
    out = []
    try:
        entries = os.listdir(root)
    except OSError:
        return []
    for e in entries:
        out += _expand_except(os.path.join(root, e), inner)
    return out


class LandlockLevel(Level):
    """No namespaces (e.g. inside an unprivileged container): a Landlock allowlist decides what
    the worker may open, a per-worker uid (as root) what it may signal and how many processes it
    may run, and seccomp (when libseccomp is there) takes away sockets other than AF_UNIX."""

    name = "landlock"
    rank = 1

    def __init__(self):
        self.seccomp = bool(worker_features(None).get("seccomp"))
        # Without seccomp nothing stops a socket at this level (A10).
        self.stops = (
            "A1",
            "A2",
            "A3",
            "A4",
            "A4/proc",
            "A5",
            "A6",
            "A7",
            "A8",
            "A9",
            *(("A10",) if self.seccomp else ()),
            "A11",
            "A13",
        )
        self.protects = (
            "Landlock filesystem allowlist (runtime and submission read-only, scratch writable), "
            + ("per-worker uid, " if os.geteuid() == 0 else "")
            + (
                "seccomp denylist (no sockets but AF_UNIX, no ptrace, no namespaces), "
                if self.seccomp
                else "no seccomp (libseccomp missing): network reachable, "
            )
            + "rlimits, process-tree kill"
        )

    def missing(self, features: dict) -> str | None:
        if not features.get("landlock"):
            return "Landlock is not available (kernel >= 5.13 with Landlock enabled, and the `landlock` package)"
        return None

    def prepare(self, submission: Path, ctx: Context) -> Prepared:
        root, scratch = str(submission), str(ctx.scratch)
        plan = self.base_plan(root, scratch, ctx, None if ctx.uid is not None else shared_uid_nproc(ctx))
        if ctx.uid is not None:
            plan["limits"]["nproc"] = ctx.limits.processes
            os.chown(scratch, ctx.uid, ctx.uid)
        plan.update(worker_identity(ctx, landlock=True))
        plan["landlock"] = landlock_paths(root, scratch, ctx)
        plan["seccomp"] = bool(ctx.features.get("seccomp"))
        return Prepared(plan=plan)
