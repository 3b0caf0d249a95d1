"""The coordinator: runs in the ``grader run`` process, imports no torch and runs no checks. It
starts the grading processes, feeds each one submission at a time, and supervises them: a
process that dies or overruns its deadline on a submission is killed (with its template and
workers), the submission's row and result file say so ("grading error" / "timed out"), and a
fresh process takes the rest of the queue.
"""

from __future__ import annotations

import dataclasses
import secrets
import selectors
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...reports.gradebook import GRADING_ERROR, TIMED_OUT
from ..settings import Settings
from . import protocol
from .budget import DEFAULT_DEADLINE, STARTUP_DEADLINE, jobs_for
from .collect import Submission
from .errors import BatchError
from .process import GradingProcess
from .results import write_failure

MAX_FAILED_STARTS = 3  # grading processes in a row that end before they are ready: the batch stops


@dataclass
class Row:
    """What the coordinator learnt about one submission (the result file has the rest)."""

    index: int
    name: str
    path: str
    status: str = ""
    score: float = 0.0
    max_score: float = 0.0
    detail: str = ""
    seconds: float = 0.0


Progress = Callable[[Row, int, int], None]  # (the row just finished, rows finished, rows in all)


def run_batch(submissions: list[Submission], settings: Settings, progress: Progress | None = None) -> list[Row]:
    """Grade every submission with ``settings`` (``results_dir`` set); return one row per
    submission, in the given order. Each result file is in place when this returns (written by a
    grading process, or here for a submission whose grading process failed). Raises
    ``BatchError`` when the batch cannot run: the settings do not work (``usage``), or grading
    processes keep failing to start."""
    # The grading processes' logs and temporary files: removed with the batch, whatever happens.
    with tempfile.TemporaryDirectory(prefix="grader-batch-", ignore_cleanup_errors=True) as logs:
        return Coordinator(submissions, settings, Path(logs), progress).run()


class Coordinator:
    """One batch's bookkeeping: the queue of submissions, the grading processes and their rows."""

    def __init__(self, submissions: list[Submission], settings: Settings, logs: Path, progress: Progress | None = None):
        if settings.results_dir is None:
            raise ValueError("a batch needs settings.results_dir")
        self.submissions = submissions
        self.results_dir = Path(settings.results_dir)
        self.jobs = jobs_for(settings.jobs, len(submissions))
        # The batch's one seed (every student gets the same inputs, and each grading process
        # computes the reference once): the given one, else one drawn here for the whole batch.
        seed = settings.seed if settings.seed is not None else secrets.randbits(32)
        self.settings = dataclasses.replace(settings, seed=seed, results_dir=self.results_dir.resolve())
        self.seed = seed  # as the grading processes report it
        self.deadline = settings.deadline  # None until a grading process says
        self.progress = progress
        self.rows = [Row(i, s.name, str(s.path)) for i, s in enumerate(submissions)]
        self.queue = list(reversed(range(len(submissions))))  # pop() from the end: the given order
        self.done = 0
        self.selector = selectors.DefaultSelector()
        self.procs: list[GradingProcess] = []
        self.started = 0
        self.failed_starts = 0  # in a row
        self.start_failures: list[str] = []
        self.logs = logs  # the grading processes' logs and temporary files

    def run(self) -> list[Row]:
        """Grade the whole queue (see ``run_batch``); every grading process is gone on return."""
        self.results_dir.mkdir(parents=True, exist_ok=True)
        try:
            for _ in range(self.jobs):
                self.start()
            while self.procs:
                wait = self.enforce_deadlines()
                for key, _ in self.selector.select(timeout=max(0.01, wait)):
                    if key.data in self.procs:
                        self.read(key.data)
            if self.queue:
                raise BatchError(
                    "grading processes keep failing to start: "
                    + (self.start_failures[-1] if self.start_failures else "?")
                )
        finally:
            for p in self.procs:
                p.kill()
            self.selector.close()
        return self.rows

    def start(self) -> None:
        """Start one more grading process."""
        self.started += 1
        p = GradingProcess(self.settings, self.started, self.logs)
        self.procs.append(p)
        self.selector.register(p.reply, selectors.EVENT_READ, p)

    def assign(self, p: GradingProcess) -> None:
        """Give ``p`` the next submission, or tell it there is none left."""
        if not self.queue:
            p.job, p.job_index = None, -1
            p.finish()
            return
        i = self.queue.pop()
        sub = self.submissions[i]
        try:
            p.send(protocol.job(i, sub.name, str(Path(sub.path).resolve()), str(sub.path), sub.note))
        except OSError:  # it has just ended: the job goes back; its end of stream says the rest
            self.queue.append(i)
            return
        p.job, p.job_index, p.since = sub, i, time.monotonic()

    def record(
        self, i: int, status: str, detail: str, seconds: float, score: float = 0.0, max_score: float = 0.0
    ) -> None:
        """Submission ``i`` is finished: fill its row, report progress."""
        row = self.rows[i]
        row.status, row.detail, row.seconds = status, detail, round(seconds, 3)
        row.score, row.max_score = score, max_score
        self.done += 1
        if self.progress is not None:
            self.progress(row, self.done, len(self.rows))

    def retire(self, p: GradingProcess, status: str, reason: str) -> None:
        """``p`` failed (on its submission, if it had one): kill it, write that submission's
        result and row, start another unless too many failed to start in a row."""
        self.forget(p)
        was_ready, i = p.ready, p.job_index
        p.kill()
        if i >= 0:
            sub = self.submissions[i]
            write_failure(self.results_dir, sub, status, reason, self.seed)
            self.record(i, status, reason, time.monotonic() - p.since)
        if not was_ready:
            self.failed_starts += 1
            self.start_failures.append(reason)
        if self.queue and self.failed_starts < MAX_FAILED_STARTS:
            self.start()

    def forget(self, p: GradingProcess) -> None:
        self.selector.unregister(p.reply)
        self.procs.remove(p)

    def enforce_deadlines(self) -> float:
        """Retire every process past its deadline (starting up, or on its submission); return
        how long to wait for messages before the next deadline (at most a second)."""
        now = time.monotonic()
        wait = 1.0
        for p in list(self.procs):
            limit = (self.deadline if p.ready else STARTUP_DEADLINE) or DEFAULT_DEADLINE
            if p.job is None and p.ready:
                continue  # idle: finishing, nothing to time
            over = now - p.since - limit
            if over < 0:
                wait = min(wait, -over)
            elif p.ready:
                self.retire(p, TIMED_OUT, f"grading took longer than {limit:g} s; its grading process was stopped")
            else:
                self.retire(p, GRADING_ERROR, f"a grading process did not start within {limit:g} s")
        return wait

    def read(self, p: GradingProcess) -> None:
        """Handle what ``p`` has sent, or its end."""
        messages = p.messages()
        if messages is None:
            self.ended(p)
            return
        for message in messages:
            event = message.get("event")
            if event == protocol.FATAL:
                raise BatchError(str(message.get("message")), usage=bool(message.get("usage")))
            if event == protocol.READY:
                p.ready = True
                self.seed = int(message.get("seed", self.seed))
                self.failed_starts = 0
                if self.deadline is None:
                    self.deadline = float(message.get("deadline") or DEFAULT_DEADLINE)
                self.assign(p)
            elif event == protocol.DONE and int(message.get("i", -1)) == p.job_index:
                self.record(
                    p.job_index,
                    str(message.get("status")),
                    str(message.get("detail") or ""),
                    time.monotonic() - p.since,
                    float(message.get("score") or 0.0),
                    float(message.get("max_score") or 0.0),
                )
                self.assign(p)

    def ended(self, p: GradingProcess) -> None:
        """``p``'s end of stream: done with the queue, or a failure."""
        if p.job is None and p.ready and not self.queue:
            self.forget(p)
            p.reap()
            return
        tail = p.log_tail()
        reason = f"the grading process ended unexpectedly ({p.ended()})" + (f": {tail}" if tail else "")
        self.retire(p, GRADING_ERROR, reason)
