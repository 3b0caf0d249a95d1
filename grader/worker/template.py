"""The template process: imports torch once, then forks one worker per request.

Started by the trusted side with a clean environment and no secrets (it never sees the seed, the
reference or a check). Importing torch is most of a worker's start-up cost, so paying it once
here makes a fresh worker cost a fork (milliseconds): for a replacement after a hang, for
a submission's second worker (``load_model_file``'s reloads, the optimizer checks), and for
each submission of a batch.

Control messages (JSON over a SOCK_SEQPACKET pair; fds travel as SCM_RIGHTS):
    -> {"op": "spawn", "id": n, ...plan}   <- {"event": "spawned", "id": n, "pid": p} + [channel, output]
    -> {"op": "kill", "pid": p}            <- nothing
    -> {"op": "sweep"}                     <- {"event": "swept", "killed": n}  (every process below)
    -> {"op": "warm"}                      <- nothing; later forks have ``LATE_TORCH_MODULES``
    <- {"event": "ready", "torch": "2.13.0", ...} once, after the imports
Closing the control socket ends the template and every worker it made.
"""

from __future__ import annotations

import array
import gc
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Sequence

CTL_MAX = 1 << 20

# Which GPUs a worker sees: read when the worker first initializes CUDA, so they must survive the
# environment wipe (the trusted side passes them to the template; see workers.CUDA_ENV).
CUDA_SELECTION = ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")


# Modules torch imports on first use, which every forked worker would otherwise import again
# (measured by benchmarks/bench.py). Imports only: running torch ops here could start threads
# that a fork does not carry. Before "ready": backward() with an explicit gradient, which most
# checks ask for, imports sympy through the first (~0.4 s).
LAZY_TORCH_MODULES = ("torch.fx.experimental.symbolic_shapes", "torch.nested._internal.nested_tensor")
# On the "warm" op, once the trusted side has its first worker: building an optimizer imports
# torch._dynamo (~1 s), which only the checks marked ``optimizer`` need. They run last, in a
# worker forked after this import, so in a cold run it overlaps the other checks instead of
# delaying the first worker (docs/plugin-authors.md).
LATE_TORCH_MODULES = ("torch._dynamo",)


def _preload() -> dict:
    import numpy  # noqa: F401  safetensors needs it to save
    import safetensors.torch  # noqa: F401
    import torch
    import torch.func  # noqa: F401
    import torch.nn.functional  # noqa: F401

    for name in LAZY_TORCH_MODULES:
        __import__(name)

    import difflib  # noqa: F401
    import importlib.util  # noqa: F401
    import inspect  # noqa: F401
    import traceback  # noqa: F401

    from . import arch, confine, loader, observe, precision, seal, serve, wire  # noqa: F401

    seal.prepare()  # what the probe code looks up, read once for every worker
    policy = precision.apply()  # inherited by every forked worker
    return {
        "confine": confine.features(),  # what a worker can apply (Landlock ABI, seccomp)
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "pid": os.getpid(),
        "precision": policy,
        # CUDA must first be initialized in a forked worker, never here: a CUDA context does
        # not survive fork. The trusted side refuses a template that reports True.
        "cuda_initialized": bool(torch.cuda.is_initialized()),
    }


def _import_late() -> None:
    """The "warm" op. A module that fails to import here is imported (or fails) in the worker
    that needs it, as it would without a template."""
    from .startup import imports_without_gc

    with imports_without_gc():
        for name in LATE_TORCH_MODULES:
            try:
                __import__(name)
            except Exception:
                traceback.print_exc()


def send_ctl(ctl: socket.socket, obj: dict, fds: Sequence[int] = ()) -> None:
    data = json.dumps(obj).encode()
    if fds:
        ctl.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    else:
        ctl.send(data)


def recv_ctl(ctl: socket.socket) -> tuple[dict | None, list[int]]:
    fds = array.array("i")
    data, anc, _flags, _addr = ctl.recvmsg(CTL_MAX, socket.CMSG_SPACE(4 * fds.itemsize))
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
    if not data:
        return None, list(fds)
    return json.loads(data), list(fds)


def _child(plan: dict, chan: socket.socket, out_w: int) -> None:
    """Runs in the forked worker: confine, then serve. Never returns."""
    from . import confine, serve

    status = 0
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(out_w, 2)
        keep = {0, 1, 2, chan.fileno()}
        for fd in _open_fds():
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        confine.die_with_parent()
        join = plan.get("join")
        if join:
            confine.join_namespaces(int(join["pid"]), list(join["namespaces"]))
            if "pid" in join["namespaces"]:
                # A PID namespace applies to children: the worker proper is the next fork.
                inner = os.fork()
                if inner:
                    _, st = os.waitpid(inner, 0)
                    # The worker is gone: so is everything it left in its namespace (a daemon
                    # holding its channel open would otherwise pass for a hung worker).
                    try:
                        os.kill(int(join["pid"]), signal.SIGKILL)
                    except OSError:
                        pass
                    os._exit(os.waitstatus_to_exitcode(st) & 0xFF)
                confine.die_with_parent()
        limits = dict(plan.get("limits") or {})
        # Sizes first: /proc may be out of reach once Landlock applies.
        for key, current in (("as_extra", confine.vm_size), ("data_extra", confine.vm_data)):
            extra = limits.pop(key, None)
            if extra is not None:
                limits[key.split("_")[0]] = current() + int(extra)
        if plan.get("uid") is not None or plan.get("gid") is not None:
            confine.drop_identity(plan.get("uid"), plan.get("gid"), fs_root=bool(plan.get("fs_root")))
        if plan.get("drop_caps"):
            confine.drop_capabilities()
        for key, value in (plan.get("env") or {}).items():
            os.environ[key] = str(value)
        for key in list(os.environ):
            if key not in (plan.get("env") or {}) and key not in ("PATH", *CUDA_SELECTION):
                del os.environ[key]
        confine.thread_caps(int(plan.get("threads", 1)))
        confine.set_limits(limits)
        if plan.get("landlock"):
            confine.apply_landlock(list(plan["landlock"]["read"]), list(plan["landlock"]["write"]))
        if plan.get("seccomp"):
            confine.apply_seccomp()
        serve.serve(chan, plan["root"], plan["scratch"], plan["hooks"], plan.get("skip") or [])
    except BaseException:
        status = 70
        try:
            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:
            pass
    finally:
        os._exit(status)


def _open_fds() -> list[int]:
    try:
        return [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 256))


def _descendants(root_pids: set[int]) -> set[int]:
    """Every process below the given ones (via /proc), for the kill sweep of the plain tiers."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                parents[int(entry)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                pass
    found = set(root_pids)
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return found


def _kill_tree(pids: set[int]) -> None:
    for pid in _descendants(pids) | pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def main(ctl_fd: int) -> None:
    from .startup import imports_without_gc

    ctl = socket.socket(fileno=ctl_fd)
    with imports_without_gc():
        info = _preload()
    info["gc_frozen"] = gc.get_freeze_count()  # objects the imports made, never scanned again
    try:
        import ctypes

        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come back to us
        # Non-dumpable: a same-uid worker can neither ptrace the template (and so poison every
        # later worker) nor read its memory through /proc.
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
        info["subreaper"] = True
    except Exception:
        info["subreaper"] = False
    send_ctl(ctl, {"event": "ready", **info})
    children: set[int] = set()
    warm = False
    while True:
        if _reap(children):
            # A worker ended: whatever it left behind (re-parented here) goes too, at once, so
            # that a leftover holding the worker's channel cannot make its death look like a hang.
            _kill_orphans(children)
        if not select.select([ctl], [], [], 0.2)[0]:
            continue
        try:
            msg, fds = recv_ctl(ctl)
        except (OSError, ValueError):
            msg, fds = None, []
        for fd in fds:
            os.close(fd)
        if msg is None:
            break
        if msg.get("op") == "spawn":
            chan_parent, chan_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            out_r, out_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                ctl.close()
                chan_parent.close()
                os.close(out_r)
                _child(msg, chan_child, out_w)
            children.add(pid)
            chan_child.close()
            os.close(out_w)
            send_ctl(ctl, {"event": "spawned", "id": msg.get("id"), "pid": pid}, [chan_parent.fileno(), out_r])
            chan_parent.close()
            os.close(out_r)
        elif msg.get("op") == "kill":
            pid = int(msg.get("pid", 0))
            if pid in children:
                _kill_tree({pid})
        elif msg.get("op") == "sweep":
            send_ctl(ctl, {"event": "swept", "killed": _sweep(children)})
        elif msg.get("op") == "warm" and not warm:
            warm = True
            _import_late()
    _kill_tree(children | _descendants({os.getpid()}) - {os.getpid()})
    _reap(children, block_for=2.0)
    # The trusted side waits for this exit: skip the interpreter's teardown of torch's modules
    # (over a second with torch._dynamo loaded); there is nothing left to flush but our log.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _sweep(children: set[int], rounds: int = 50) -> int:
    """End every process below this one: the workers and whatever they left behind (a daemon
    that left its process group is re-parented here, as we are a subreaper). Between two
    submissions, so nothing of one student's run is alive when the next one starts. Repeated,
    since a process may fork while we kill; returns how many were found alive."""
    me, killed = os.getpid(), 0
    for _ in range(rounds):
        alive = {pid for pid in _descendants({me}) - {me} if not _zombie(pid)}
        if not alive:
            break
        killed += len(alive)
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap(children, block_for=0.01)
    _reap(children)
    return killed


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def _kill_orphans(children: set[int]) -> None:
    """Kill every process re-parented to this one (we are a subreaper) that is not a worker."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in children:
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == me:
                _kill_tree({int(entry)})


def _reap(children: set[int], block_for: float = 0.0) -> int:
    """Collect ended children; returns how many workers among them."""
    end = time.monotonic() + block_for
    ended = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            if time.monotonic() >= end:
                return ended
            time.sleep(0.002)  # a swept worker takes a few ms to go: poll finely, the next submission waits
            continue
        if pid in children:
            ended += 1
        children.discard(pid)


if __name__ == "__main__":
    main(int(sys.argv[1]))
