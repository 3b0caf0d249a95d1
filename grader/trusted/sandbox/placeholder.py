"""Placeholders: the sandbox processes that hold a worker's namespaces.

A namespace level starts one per worker (``start_placeholder``); the worker, forked from the
template, joins its namespaces, and killing it takes the whole worker tree with it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from typing import IO

from ..workers import WORKER_ENV
from .errors import SandboxUnavailable

PLACEHOLDER = "echo ready; exec sleep infinity"  # holds the namespaces; needs /bin/sh and sleep


class Placeholder:
    """A sandbox process that holds namespaces for one worker. ``kill()`` ends the PID
    namespace's init, which makes the kernel kill everything inside (the worker, its children,
    setsid daemons), then reaps the launcher process."""

    def __init__(self, proc: subprocess.Popen[bytes], ns_pid: int):
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


def _read_line(stdout: IO[bytes], timeout: float) -> bytes:
    """One line from the placeholder's stdout (its "ready"), or b"" after ``timeout``."""
    fd = stdout.fileno()
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


def start_placeholder(argv: list[str], info: bool, timeout: float = 15.0) -> Placeholder:
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
    assert proc.stdout is not None and proc.stderr is not None  # both pipes
    try:
        line = _read_line(proc.stdout, timeout)
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
