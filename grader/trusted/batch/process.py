"""One grading process, seen from the coordinator: started with the run's settings, fed jobs,
read for messages, killed with everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from ..settings import Settings
from . import protocol
from .collect import Submission

# How a grading process starts: this package's ``__main__``, given the reply pipe's descriptor.
# ``-m`` would put the working directory first on the import path, so a ``grader/`` folder where
# the command runs would be imported instead of the installed grader: drop it, as -P does (3.11+).
COMMAND = [
    sys.executable,
    "-c",
    "import runpy, sys; del sys.path[0]; runpy.run_module('grader.trusted.batch', run_name='__main__', alter_sys=True)",
]


class GradingProcess:
    """A grading process (``python -m grader.trusted.batch FD``) in its own process group, its
    output in ``logs/grader-<number>.log``, its temporary files in ``logs/tmp-<number>``."""

    def __init__(self, settings: Settings, number: int, logs: Path):
        self.number = number
        self.log_path = logs / f"grader-{number}.log"
        # Its temporary files (the workers' scratch directories) go here, removed with the batch's
        # even when the process is killed before it could clean up.
        tmp = logs / f"tmp-{number}"
        tmp.mkdir()
        r, w = os.pipe()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [*COMMAND, str(w)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                pass_fds=(w,),
                env={**os.environ, "TMPDIR": str(tmp)},
                start_new_session=True,  # its own process group: one kill ends it and its template
            )
        os.close(w)
        self.reply = os.fdopen(r, "rb", buffering=0)
        self.reader = protocol.LineReader()
        self.ready = False  # it said "ready"
        self.job: Submission | None = None  # what it is grading now
        self.job_index = -1
        self.since = time.monotonic()  # when it started, or started its job
        try:
            self._stdin().write(settings.to_json().encode() + b"\n")
            self._stdin().flush()
        except OSError:
            pass  # it ended already: its end of stream is reported like any other

    def _stdin(self) -> IO[bytes]:
        assert self.proc.stdin is not None
        return self.proc.stdin

    def send(self, message: dict) -> None:
        """Write one message on its stdin; OSError if it has ended."""
        self._stdin().write(protocol.encode(message))
        self._stdin().flush()

    def messages(self) -> list[dict] | None:
        """The messages completed by what can be read now; None at end of stream (it ended)."""
        chunk = os.read(self.reply.fileno(), 1 << 16)
        if not chunk:
            return None
        return self.reader.feed(chunk)

    def finish(self) -> None:
        """No more jobs: close its stdin."""
        try:
            self._stdin().close()
        except OSError:
            pass

    def reap(self) -> None:
        """After its end of stream: wait for it, close the pipe."""
        self.proc.wait()
        self.reply.close()

    def kill(self) -> None:
        """Kill its process group (it, its worker template and their workers), then reap it."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.reap()

    def log_tail(self, limit: int = 600) -> str:
        """The end of its output: why it crashed."""
        try:
            text = self.log_path.read_text(errors="replace").strip()
        except OSError:
            return ""
        return text[-limit:]

    def ended(self) -> str:
        """How it ended, for a row's detail."""
        code = self.proc.wait()
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"
