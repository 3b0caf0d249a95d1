"""The warm grading process of one kernel: started once, fed ``%grade`` requests, ended with the
kernel.

The kernel never grades: it sends the cells of its history to a grading process (the batch's
server, ``grader.trusted.batch``, started without a results directory: it answers each job with
its result instead of writing files), waits for the answer and hands it back. That process keeps
the plugins, the reference, the collected checks and the worker template for the kernel's life,
so only the first grade pays their start; each grade still gets freshly forked, confined workers
(nothing of one grade reaches the next). It ends with the kernel: killed at the kernel's exit
(``atexit``), and if the kernel dies without that, it sees its standard input close and ends
itself.

Nothing here imports torch, the reference or the checks. What comes back is read defensively:
JSON lines only, bounded in size, and a result is only handed on as a dict.
"""

from __future__ import annotations

import atexit
import itertools
import os
import select
import shutil
import tempfile
import time
from pathlib import Path

from ..trusted.batch import protocol
from ..trusted.batch.budget import DEFAULT_DEADLINE, STARTUP_DEADLINE
from ..trusted.batch.process import GradingProcess
from ..trusted.settings import Settings

MAX_ANSWER = 64 << 20  # bytes of one answer (a whole chapter's result is well under 1 MB)
LOGS = "grader-kernel-"  # + the kernel's pid: its grading process's log and temporary files
_numbers = itertools.count(1)


class GradingUnavailable(Exception):
    """No answer: the grading process could not start, ended, or took too long. The message says
    why, for the student; the process is gone and the next request starts a fresh one."""


class Refused(Exception):
    """The grading process answered that the request cannot be graded (an unknown exercise,
    nothing defined yet); the message says why."""


class Session:
    """One kernel's grading process, started on demand (``start``) and kept warm between
    requests (``grade``). ``settings``: the grader's, as for ``grader run`` (its defaults: every
    installed plugin, a fresh seed per grade, the strongest confinement that works)."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.process: GradingProcess | None = None
        self.logs: Path | None = None  # the process's log and temporary files
        self.deadline = DEFAULT_DEADLINE
        self.jobs = itertools.count(1)
        atexit.register(self.close)

    def start(self) -> None:
        """Start the grading process unless it runs already; returns at once (it gets ready while
        the kernel goes on)."""
        if self.process is not None:
            return
        sweep(Path(tempfile.gettempdir()))
        self.logs = Path(tempfile.mkdtemp(prefix=f"{LOGS}{os.getpid()}-"))
        try:
            self.process = GradingProcess(self.settings, next(_numbers), self.logs)
        except OSError as e:
            self._remove_logs()
            raise GradingUnavailable(f"the grading process could not start: {e}") from None

    def grade(self, cells: list[dict], hooks: list[str], seed: int | None = None, file: str = "kernel") -> dict:
        """The result (a dict, RESULT_SCHEMA) of grading ``cells`` (``{"source", "label"}``, in
        the order they ran) as one notebook named ``file``: ``hooks`` (empty: every hook the cells
        define), with ``seed`` (None: a fresh one). Raises ``Refused`` (not gradable as asked)
        or ``GradingUnavailable``. On ``KeyboardInterrupt`` the grading process is stopped, and
        the interrupt goes on."""
        self.start()
        p = self.process
        assert p is not None
        i = next(self.jobs)
        job = {"i": i, "file": file, "cells": cells, "hooks": list(hooks), "seed": seed}
        since = time.monotonic()
        try:
            try:
                p.send(job)  # waits while a starting process has not read the pipe yet
            except OSError:
                pass  # it has ended: its end of stream says how
            return self._answer(p, i, since)
        except Refused:
            raise  # answered: the process stays warm
        except BaseException:  # no answer (or an interrupt): nothing of this grade may reach the next
            self.stop()
            raise

    def _answer(self, p: GradingProcess, i: int, since: float) -> dict:
        while True:
            now = time.monotonic()
            if p.ready:
                left = since + self.deadline - now
                late = f"grading took longer than {self.deadline:g} s"
            else:
                left = p.since + STARTUP_DEADLINE - now  # ``since``: its start (a kernel's never changes)
                late = f"the grading process did not start within {STARTUP_DEADLINE:g} s"
            if left <= 0:
                raise GradingUnavailable(late + "; it was stopped")
            readable, _, _ = select.select([p.reply], [], [], min(left, 1.0))
            if not readable:
                continue
            messages = p.messages()
            if messages is None:
                raise GradingUnavailable(self._ended(p))
            if len(p.reader.buffer) > MAX_ANSWER:
                raise GradingUnavailable("the grading process sent an answer too large to read")
            for message in messages:
                event = message.get("event")
                if event == protocol.FATAL:
                    raise GradingUnavailable(f"the grader cannot start: {_text(message.get('message'))}")
                if event == protocol.READY:
                    p.ready = True
                    deadline = message.get("deadline")
                    if isinstance(deadline, (int, float)) and not isinstance(deadline, bool) and deadline > 0:
                        self.deadline = float(deadline)
                elif event == protocol.DONE and message.get("i") in (i, None):
                    error = message.get("error")
                    if error is not None:
                        raise Refused(_text(error))
                    result = message.get("result")
                    if not isinstance(result, dict):
                        raise GradingUnavailable("the grading process sent an answer that could not be read")
                    return result

    def _ended(self, p: GradingProcess) -> str:
        tail = p.log_tail(1500)
        lines = [line for line in tail.splitlines() if line.strip()]
        why = lines[-1] if lines else ""
        return f"the grading process ended ({p.ended()})" + (f": {_text(why)}" if why else "")

    def stop(self) -> None:
        """Kill the grading process (it, its worker template and their workers), if any."""
        p, self.process = self.process, None
        if p is not None:
            p.kill()
        self._remove_logs()

    close = stop  # at the kernel's exit

    def _remove_logs(self) -> None:
        if self.logs is not None:
            shutil.rmtree(self.logs, ignore_errors=True)
            self.logs = None


def sweep(parent: Path) -> None:
    """Remove what killed kernels left in ``parent``: the log directories of their grading
    processes (a kernel's exit removes its own; a killed one cannot), those of this user whose
    kernel's pid is gone."""
    for d in parent.glob(f"{LOGS}*"):
        try:
            pid = int(d.name[len(LOGS) :].split("-")[0])
            if d.is_symlink() or d.lstat().st_uid != os.getuid() or pid <= 0 or _alive(pid):
                continue  # a live kernel's (or another process's, with its pid): left alone
        except (ValueError, OSError):
            continue
        shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a killed kernel not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _text(value: object, limit: int = 4000) -> str:
    from .. import sanitize

    return sanitize.text(value if isinstance(value, str) else repr(value), limit)
