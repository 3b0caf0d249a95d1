"""Starting workers and talking to them, with deadlines, caps and kills.

This module is imported before torch on purpose: ``grader run`` starts the template first, so the
worker's torch import overlaps the trusted side's own start-up.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..worker import template as template_protocol  # stdlib-only at import time

if TYPE_CHECKING:
    from .sandbox.placeholder import Placeholder

WORKER_DIR = str(Path(__file__).resolve().parent.parent / "worker")

# The template's start: load the worker package under a name of its own (``_grader_worker``). Its
# names stay inside ``_start``, so the script's namespace
# (``__main__``) holds nothing of the package; each worker takes the package out of ``sys.modules``
# before it imports a submission (``serve.forget_probe_modules``).
_BOOT = (
    "import sys\n"
    "del sys.path[0]\n"  # '' (the working directory) for -c: what -I would drop
    "def _start(d, fd):\n"
    "    import importlib.util\n"
    "    s=importlib.util.spec_from_file_location('_grader_worker',d+'/__init__.py',submodule_search_locations=[d])\n"
    "    m=importlib.util.module_from_spec(s);sys.modules['_grader_worker']=m;s.loader.exec_module(m)\n"
    "    from _grader_worker.template import main\n"
    "    del s, m\n"
    "    main(fd)\n"
    "_start(sys.argv[1], int(sys.argv[2]))\n"
)

# What every worker runs with: nothing inherited from the grader's own environment.
WORKER_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
}

# The exceptions: which GPUs the worker sees must be the grader's choice too (a worker reads the
# first two when it initializes CUDA; the template's loader reads LD_LIBRARY_PATH at start, where
# some systems keep libcuda).
CUDA_ENV = ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "LD_LIBRARY_PATH")


def template_env() -> dict:
    # NVML answers torch.cuda.is_available() in the template without initializing CUDA (a CUDA
    # context does not survive the fork); forked workers drop the variable with the rest.
    env = {**WORKER_ENV, "PYTORCH_NVML_BASED_CUDA_CHECK": "1"}
    return {**env, **{k: os.environ[k] for k in CUDA_ENV if k in os.environ}}


class WorkerFailure(Exception):
    """A worker died, hung or answered garbage. ``kind`` is 'crashed', 'timeout' or 'garbage'."""

    def __init__(self, kind: str, message: str, output: str = ""):
        super().__init__(message)
        self.kind, self.message, self.output = kind, message, output


class OutputTail:
    """Drains a worker's stdout/stderr pipe, keeping its head and tail (never parsed)."""

    KEEP = 8 << 10

    def __init__(self, fd: int):
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._fd = fd
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            while True:
                chunk = os.read(self._fd, 1 << 16)
                if not chunk:
                    break
                self.total += len(chunk)
                if len(self.head) < self.KEEP:
                    take = self.KEEP - len(self.head)
                    self.head += chunk[:take]
                    chunk = chunk[take:]
                if chunk:
                    self.tail += chunk
                    del self.tail[: max(0, len(self.tail) - self.KEEP)]
        finally:
            os.close(self._fd)

    def text(self, limit: int = 2000) -> str:
        data = bytes(self.head)
        if self.total > len(self.head) + len(self.tail):
            data += b"\n[... %d bytes not kept ...]\n" % (self.total - len(self.head) - len(self.tail))
        data += bytes(self.tail)
        text = data.decode("utf-8", "replace")
        return text if len(text) <= limit else "…" + text[-limit:]

    def join(self, timeout: float = 1.0) -> None:
        self._thread.join(timeout)


class WorkerTemplate:
    """The pre-imported template process (see ``grader.worker.template``)."""

    def __init__(self, python: str | None = None, log_path: str | None = None):
        self.ctl, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.lock = threading.Lock()
        self.info: dict | None = None
        self._warm_sent = False
        self._pending: dict[int, dict] = {}
        self._next = 0
        log = open(log_path or os.devnull, "ab")
        self.proc = subprocess.Popen(
            # Not -I: it implies -E, which would ignore PYTHONHASHSEED (set order in a student's
            # exception message must not vary between runs). The environment is ours entirely.
            [python or sys.executable, "-s", "-B", "-c", _BOOT, WORKER_DIR, str(child.fileno())],
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=template_env(),
            cwd="/",
            start_new_session=True,
        )
        child.close()
        log.close()

    def started(self) -> bool:
        """Whether the template has finished its imports (its ready message is waiting or read),
        without waiting for it."""
        if self.info is not None:
            return True
        try:
            return bool(select.select([self.ctl], [], [], 0)[0])
        except (OSError, ValueError):
            return True  # closed: ready() will say what happened

    def ready(self, timeout: float = 120.0) -> dict:
        with self.lock:
            if self.info is None:
                self.ctl.settimeout(timeout)
                try:
                    msg, _ = template_protocol.recv_ctl(self.ctl)
                except (TimeoutError, OSError, ValueError) as e:
                    raise WorkerFailure("crashed", f"the worker template did not start: {e}") from None
                finally:
                    self.ctl.settimeout(None)
                if not msg or msg.get("event") != "ready":
                    raise WorkerFailure("crashed", "the worker template did not start (see --debug-log)")
                if msg.get("cuda_initialized"):
                    # Forked workers would inherit a CUDA context they cannot use.
                    raise WorkerFailure("crashed", "the worker template initialized CUDA before forking (a grader bug)")
                self.info = msg
            return self.info

    def spawn(self, plan: dict, timeout: float = 30.0) -> Worker:
        self.ready()
        with self.lock:
            self._next += 1
            plan = {**plan, "id": self._next}
            template_protocol.send_ctl(self.ctl, {"op": "spawn", **plan})
            self.ctl.settimeout(timeout)
            try:
                msg, fds = template_protocol.recv_ctl(self.ctl)
            except (TimeoutError, OSError, ValueError) as e:
                raise WorkerFailure("crashed", f"could not start a worker: {e}") from None
            finally:
                self.ctl.settimeout(None)
        if not msg or msg.get("event") != "spawned" or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            raise WorkerFailure("crashed", "could not start a worker")
        chan = socket.socket(fileno=fds[0])
        return Worker(self, int(msg["pid"]), chan, OutputTail(fds[1]))

    def warm(self) -> None:
        """Ask the template for its late imports (``template.LATE_TORCH_MODULES``), once it has
        forked what is needed now: forks asked for after this wait for them. No answer."""
        if self._warm_sent:
            return
        self.ready()
        try:
            with self.lock:
                template_protocol.send_ctl(self.ctl, {"op": "warm"})
            self._warm_sent = True
        except OSError:
            pass  # the template is gone: the next spawn says so

    def kill(self, pid: int) -> None:
        try:
            with self.lock:
                template_protocol.send_ctl(self.ctl, {"op": "kill", "pid": pid})
        except OSError:
            pass

    def sweep(self, timeout: float = 10.0) -> int:
        """End every process the template made, workers and anything they left behind (a daemon
        re-parented to it), and return how many were alive. Between two submissions: nothing of
        one student's run may still be running when the next starts. Ends the workers of every
        grader sharing this template, so only one grades at a time with it."""
        with self.lock:
            if self.info is None:
                return 0  # never ready: it has made nothing
            try:
                template_protocol.send_ctl(self.ctl, {"op": "sweep"})
                self.ctl.settimeout(timeout)
                msg, fds = template_protocol.recv_ctl(self.ctl)
            except (TimeoutError, OSError, ValueError) as e:
                raise WorkerFailure("crashed", f"the worker template did not answer: {e}") from None
            finally:
                self.ctl.settimeout(None)
        for fd in fds:
            os.close(fd)
        if not msg or msg.get("event") != "swept":
            raise WorkerFailure("crashed", "the worker template did not answer")
        return int(msg.get("killed", 0))

    def close(self, timeout: float = 5.0) -> None:
        """End the template and every worker it made; wait until they are gone."""
        try:
            self.ctl.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, 9)
            except OSError:
                pass
            self.proc.wait(timeout)


@dataclass
class Worker:
    """One forked worker: a channel, its captured output, and how to end it."""

    template: WorkerTemplate
    pid: int
    chan: socket.socket
    output: OutputTail
    sandbox: Placeholder | None = None
    dead: bool = False
    failures: list = field(default_factory=list)

    def kill(self) -> None:
        if self.sandbox is not None:
            self.sandbox.kill()
        self.template.kill(self.pid)
        self.dead = True
        try:
            self.chan.close()
        except OSError:
            pass

    def close(self) -> None:
        """Ask politely (close the channel), then make sure."""
        try:
            self.chan.close()
        except OSError:
            pass
        self.kill()


def describe_exit(pid: int) -> str:
    return f"worker {pid}"


def to_json(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
