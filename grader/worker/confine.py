"""Confinement steps a freshly forked worker applies to itself before any student code runs.

The template forks; the child joins the namespaces of a sandbox the trusted side prepared (when
there is one), gives up its identity and capabilities, sets resource limits, restricts the
filesystem (Landlock) and the system calls (seccomp) where the plan asks, and only then imports
the submission. Each step is chosen by the trusted side (``grader.trusted.sandbox``).

Landlock and seccomp come from the PyPI packages ``landlock`` and ``pyseccomp`` (the latter loads
the system's libseccomp); both are imported here, in the template, before any fork, and a missing
one only makes the levels that need it unavailable.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import resource
import signal

try:  # Landlock: unprivileged filesystem allowlist (Linux >= 5.13)
    import landlock as _landlock
except Exception:  # not installed, or not Linux
    _landlock = None
try:  # seccomp through libseccomp
    import pyseccomp as _seccomp
except Exception:  # not installed, or libseccomp.so.2 missing
    _seccomp = None

_libc = ctypes.CDLL(None, use_errno=True)

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAP_VERSION_3 = 0x20080522

# setns() order: the user namespace first, since joining it is what grants an unprivileged
# worker the rights (in that namespace) to join the others; pid last, as it only applies to
# the children forked afterwards.
NS_ORDER = ("user", "mnt", "net", "ipc", "uts", "cgroup", "pid")

LIMITS = {
    "cpu": resource.RLIMIT_CPU,
    "as": resource.RLIMIT_AS,
    "data": resource.RLIMIT_DATA,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
    "core": resource.RLIMIT_CORE,
}


class ConfinementError(Exception):
    pass


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise ConfinementError(f"{what}: {os.strerror(err)}")


def prctl(option: int, arg: int = 0) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


def die_with_parent() -> None:
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def non_dumpable() -> None:
    """No ptrace, /proc/<pid>/mem or environ access to this process for same-uid processes."""
    prctl(PR_SET_DUMPABLE, 0)


def features() -> dict:
    """What this Python (the template's) can apply inside a worker: reported in the template's
    ready message so that the trusted side's probe sees the worker's view, not its own."""
    abi = 0
    if _landlock is not None:
        try:
            abi = int(_landlock.landlock_abi_version())
        except Exception:
            abi = 0
    seccomp = False
    if _seccomp is not None:
        try:
            _seccomp.SyscallFilter(_seccomp.ALLOW)  # needs a loadable libseccomp
            seccomp = True
        except Exception:
            seccomp = False
    return {"landlock": abi, "seccomp": seccomp, "uid": os.getuid(), "euid": os.geteuid()}


NS_GET_USERNS = 0xB701  # ioctl on a namespace fd: the user namespace that owns it (Linux ≥ 4.9)


def _same_ns(a: int, b: int) -> bool:
    sa, sb = os.fstat(a), os.fstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def join_namespaces(pid: int, names: list[str]) -> None:
    """setns() into another process's namespaces (all opened first: once in the new mount
    namespace, that process's /proc entry is no longer where it was).

    Unprivileged bubblewrap nests two user namespaces: the outer one owns the mount, network,
    PID... namespaces, and the sandboxed process runs in an inner one created after the mounts.
    Joining the inner one first leaves no capability over the mount namespace (EPERM), so the
    owner of the other namespaces is joined first and the process's own user namespace last."""
    ordered = [n for n in NS_ORDER if n in names] + [n for n in names if n not in NS_ORDER]
    fds = {n: os.open(f"/proc/{pid}/ns/{n}", os.O_RDONLY) for n in ordered}
    owner = None
    try:
        others = [n for n in ordered if n != "user"]
        if "user" in fds and others:
            try:
                owner = fcntl.ioctl(fds[others[0]], NS_GET_USERNS)
            except OSError:
                owner = None
            if owner is not None and _same_ns(owner, fds["user"]):
                os.close(owner)
                owner = None
        steps = [(fds[n], n) for n in ordered]
        if owner is not None:
            steps = [(owner, "user, the owner of the others"), *[(fds[n], n) for n in others], (fds["user"], "user")]
        for fd, what in steps:
            _check(_libc.setns(fd, 0), f"setns({what})")
    finally:
        for fd in fds.values():
            os.close(fd)
        if owner is not None:
            os.close(owner)


def _capset(effective: int, permitted: int) -> None:
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header = Header(_CAP_VERSION_3, 0)
    data = (Data * 2)()
    for i in range(2):
        data[i].effective = (effective >> (32 * i)) & 0xFFFFFFFF
        data[i].permitted = (permitted >> (32 * i)) & 0xFFFFFFFF
    _check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def drop_identity(uid: int | None, gid: int | None, fs_root: bool = False) -> None:
    """Become ``uid``/``gid`` (no supplementary groups). ``fs_root`` keeps filesystem uid/gid 0
    (only used under Landlock, which then decides what may be opened) so that a Python runtime
    under a root-only directory stays importable, while signals, /proc ownership and
    RLIMIT_NPROC follow the unprivileged uid."""
    if gid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
    if uid is not None:
        if fs_root:
            prctl(PR_SET_KEEPCAPS, 1)
        os.setresuid(uid, uid, uid)
        if fs_root:
            cap_setuid, cap_setgid = 7, 6
            want = (1 << cap_setuid) | (1 << cap_setgid)
            _capset(want, want)
            _libc.setfsuid(0)
            _libc.setfsgid(0)
            prctl(PR_SET_KEEPCAPS, 0)


def drop_capabilities() -> None:
    """Empty the bounding, ambient, effective, permitted and inheritable sets; no new privileges.
    (After setns into a user namespace a process holds every capability there.)"""
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) != 0:
            if ctypes.get_errno() == errno.EINVAL:  # past the last capability
                break
    _libc.prctl(PR_CAP_AMBIENT, ctypes.c_ulong(PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0)
    _capset(0, 0)
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_limits(limits: dict[str, int]) -> None:
    for name, value in limits.items():
        which = LIMITS[name]
        soft, hard = resource.getrlimit(which)
        value = int(value)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


def thread_caps(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(n)
    import torch

    torch.set_num_threads(n)


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def vm_size() -> int:
    """Current virtual size in bytes (an address-space limit must leave room for it)."""
    return _status_bytes("VmSize")


def vm_data() -> int:
    """Current data size (RLIMIT_DATA counts it; used instead of RLIMIT_AS with CUDA, whose
    driver reserves huge virtual ranges)."""
    return _status_bytes("VmData")


def apply_landlock(read: list[str], write: list[str]) -> None:
    """Allow reading only beneath ``read`` and writing only beneath ``write``; every other
    path is refused, whatever the file permissions say. Also confines ptrace and /proc/<pid>
    access to processes inside the same Landlock domain."""
    if _landlock is None:
        raise ConfinementError("Landlock is not available (pip package `landlock`)")
    fs = _landlock.FSAccess
    # The package reads ctypes' saved errno to detect failure, so a stale errno from an earlier
    # call reads as an error: clear it before each of its calls.
    ctypes.set_errno(0)
    ruleset = _landlock.Ruleset()
    read_file = fs.READ_FILE | fs.EXECUTE
    reading = read_file | fs.READ_DIR
    for path in read:
        try:
            rules = reading if os.path.isdir(path) else read_file
            ctypes.set_errno(0)
            ruleset.allow(path, rules=rules)
        except OSError:
            pass  # vanished or unreadable: simply not allowed
    everything_file = fs.all_file()
    for path in write:
        rules = fs.all() if os.path.isdir(path) else everything_file
        ctypes.set_errno(0)
        ruleset.allow(path, rules=rules)
    ctypes.set_errno(0)
    ruleset.apply()


# Denied outright (EPERM): introspection of other processes, kernel attack surface, namespace and
# mount games, and file-change notification (used to race a results file, A1).
_DENY = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "mount_setattr",
    "open_by_handle_at",
    "name_to_handle_at",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "iopl",
    "ioperm",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    "inotify_init",
    "inotify_init1",
    "fanotify_init",
    "personality",
    "syslog",
    "vhangup",
)
AF_UNIX = 1
CLONE_NEWUSER = 0x10000000
TIOCSTI, TIOCLINUX = 0x5412, 0x541C


def apply_seccomp() -> None:
    """A denylist on top of the other layers: sockets other than AF_UNIX (no network even where
    there is no network namespace), the system calls in ``_DENY``, new user namespaces through
    clone, terminal input injection (TIOCSTI/TIOCLINUX, CVE-2017-5226). clone3 answers ENOSYS
    so that libc falls back to clone, whose flags a filter can read."""
    if _seccomp is None:
        raise ConfinementError("seccomp is not available (pip package `pyseccomp` and libseccomp)")
    sc = _seccomp
    f = sc.SyscallFilter(sc.ALLOW)
    deny = sc.ERRNO(errno.EPERM)

    def rule(action: int, name: str, *args) -> None:
        try:
            f.add_rule(action, name, *args)
        except (OSError, ValueError, RuntimeError):
            pass  # not a system call on this architecture

    for name in _DENY:
        rule(deny, name)
    rule(sc.ERRNO(errno.EAFNOSUPPORT), "socket", sc.Arg(0, sc.NE, AF_UNIX))
    rule(sc.ERRNO(errno.EAFNOSUPPORT), "socketpair", sc.Arg(0, sc.NE, AF_UNIX))
    rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER))
    rule(sc.ERRNO(errno.ENOSYS), "clone3")
    rule(deny, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, TIOCSTI))
    rule(deny, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, TIOCLINUX))
    f.load()
