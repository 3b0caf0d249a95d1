"""The template process: imports torch once, then forks one worker per request.

Started by the trusted side with a clean environment and no secrets (it never sees the seed, the
reference or a check). Importing torch is most of a worker's start-up cost, so paying it once
here makes a fresh worker cost a fork (milliseconds): for a replacement after a hang, for
``load_model_file``'s fresh process, and for each submission of a batch.

Control messages (JSON over a SOCK_SEQPACKET pair; fds travel as SCM_RIGHTS):
    -> {"op": "spawn", "id": n, ...plan}   <- {"event": "spawned", "id": n, "pid": p} + [channel, output]
    -> {"op": "kill", "pid": p}            <- nothing
    <- {"event": "ready", "torch": "2.13.0", ...} once, after the imports
Closing the control socket ends the zygote and every worker it made.
"""

from __future__ import annotations

import array
import json
import os
import signal
import socket
import sys
import time
import traceback

CTL_MAX = 1 << 20


def _preload() -> dict:
    import numpy  # noqa: F401  safetensors needs it to save
    import safetensors.torch  # noqa: F401
    import torch
    import torch.func  # noqa: F401
    import torch.nn.functional  # noqa: F401

    from . import arch, confine, loader, observe, serve, wire  # noqa: F401

    import difflib, inspect, importlib.util, traceback as _tb  # noqa: F401,E401

    return {"torch": torch.__version__, "python": sys.version.split()[0], "pid": os.getpid()}


def send_ctl(ctl: socket.socket, obj: dict, fds: list[int] = ()) -> None:
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
                    os._exit(os.waitstatus_to_exitcode(st) & 0xFF)
                confine.die_with_parent()
        if plan.get("uid") is not None or plan.get("gid") is not None:
            confine.drop_identity(plan.get("uid"), plan.get("gid"))
        if plan.get("drop_caps"):
            confine.drop_capabilities()
        for key, value in (plan.get("env") or {}).items():
            os.environ[key] = str(value)
        for key in list(os.environ):
            if key not in (plan.get("env") or {}) and key not in ("PATH",):
                del os.environ[key]
        confine.thread_caps(int(plan.get("threads", 1)))
        limits = dict(plan.get("limits") or {})
        extra = limits.pop("as_extra", None)
        if extra is not None:
            limits["as"] = confine.vm_size() + int(extra)
        confine.set_limits(limits)
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
    ctl = socket.socket(fileno=ctl_fd)
    info = _preload()
    try:
        import ctypes

        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come back to us
        info["subreaper"] = True
    except Exception:
        info["subreaper"] = False
    send_ctl(ctl, {"event": "ready", **info})
    children: set[int] = set()
    while True:
        _reap(children)
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
    _kill_tree(children | _descendants({os.getpid()}) - {os.getpid()})
    _reap(children, block_for=2.0)


def _reap(children: set[int], block_for: float = 0.0) -> None:
    end = time.monotonic() + block_for
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() >= end:
                return
            time.sleep(0.02)
            continue
        children.discard(pid)


if __name__ == "__main__":
    main(int(sys.argv[1]))
