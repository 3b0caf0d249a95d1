"""The ``unshare`` level (root): util-linux ``unshare`` namespaces held by a placeholder, the
grader's directories masked, a private /tmp, a per-worker uid; Landlock and seccomp if present."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .errors import SandboxUnavailable
from .host import is_under, readable_by_others, runtime_roots
from .landlock import landlock_paths
from .level import Context, Level, Prepared, worker_identity
from .placeholder import PLACEHOLDER, start_placeholder


class UnshareLevel(Level):
    """util-linux ``unshare`` (root): mount, PID, network, IPC and UTS namespaces held by a
    placeholder; the grader's directories masked by empty tmpfs mounts and the scratch directory
    a private size-capped tmpfs; a per-worker uid; Landlock and seccomp when present."""

    name = "unshare"
    rank = 2
    stops = ("A1", "A2", "A3", "A4", "A4/proc", "A5", "A6", "A7", "A8", "A9", "A10", "A11", "A13")
    protects = "PID, network, IPC, UTS and mount namespaces (util-linux unshare), grader directories masked, private scratch tmpfs, per-worker uid, Landlock and seccomp where available, rlimits, whole-tree kill"

    def missing(self, features: dict) -> str | None:
        if os.geteuid() != 0:
            return "needs root (util-linux unshare without a user namespace)"
        for tool in ("unshare", "mount", "sh", "sleep"):
            if not shutil.which(tool):
                return f"`{tool}` not found"
        tmp = tempfile.mkdtemp(prefix="grader-level-")
        try:
            ph = start_placeholder(self._argv(tmp, [], 1 << 20), info=False, timeout=10)
            ph.kill()
        except SandboxUnavailable as e:
            return str(e)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if not features.get("landlock") and not all(readable_by_others(r) for r in runtime_roots()):
            return "the Python runtime is not readable by an unprivileged uid and Landlock is not available"
        return None

    def _argv(self, scratch: str, hidden: list[str], size: int) -> list[str]:
        script = ["set -e"]
        for h in hidden:
            if os.path.isdir(h):
                script.append(f"mount -t tmpfs -o size=4k,mode=000 grader-hidden {_sh(h)}")
            else:
                script.append(f"mount --bind /dev/null {_sh(h)}")
        script.append(f"mount -t tmpfs -o size={int(size)},mode=1777 grader-scratch {_sh(scratch)}")
        script.append(PLACEHOLDER)
        argv = [
            "unshare",
            "--mount",
            "--net",
            "--pid",
            "--ipc",
            "--uts",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            "\n".join(script),
        ]
        if shutil.which("setpriv"):  # the placeholder dies with the grader
            argv = ["setpriv", "--pdeathsig", "KILL", "--"] + argv
        return argv

    def prepare(self, submission: Path, ctx: Context) -> Prepared:
        root, scratch = str(submission), str(ctx.scratch)
        landlock = bool(ctx.features.get("landlock"))
        # A submission inside a masked directory (grading the reference itself) stays visible.
        hidden = [h for h in ctx.hidden if not is_under(root, h)]
        ph = start_placeholder(self._argv(scratch, hidden, ctx.limits.tmp_size), info=False)
        plan = self.base_plan(root, scratch, ctx, ctx.limits.processes)
        plan["join"] = {"pid": ph.ns_pid, "namespaces": ["mnt", "net", "ipc", "uts", "pid"]}
        plan.update(worker_identity(ctx, landlock=landlock))
        if landlock:
            plan["landlock"] = landlock_paths(root, scratch, ctx)
        plan["seccomp"] = bool(ctx.features.get("seccomp"))
        return Prepared(plan=plan, handle=ph)


def _sh(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"
