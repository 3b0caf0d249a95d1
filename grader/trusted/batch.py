"""Grading a class: many submissions in parallel, each in its own confined workers.

The coordinator (``run_batch``, in the ``grader run`` process) imports no torch and runs no
checks: it starts ``jobs`` grading processes (``python -m grader.trusted.batch``), feeds each
one submission at a time, and supervises them. A grading process is an ordinary trusted grader
(its own ``Grader`` and worker template), so the reference observations of the run's one seed
are computed once per process and reused for every submission it grades, and every submission
gets freshly forked workers in a fresh scratch directory, swept (every process they left
behind killed) before the next one starts. pytest is not thread-safe, hence processes, not
threads.

Whatever a submission does, the batch goes on: a crash, hang or memory blow-up of its worker
fails its checks as in a single run; a grading process that dies or overruns its deadline on a
submission is killed (with its template and workers), the submission's row says so ("grading
error" / "timed out"), and a fresh process takes the rest of the queue.

Output (``results_dir``)::

    submissions/<name>/result.json    the JSON result (RESULT_SCHEMA.md) plus "student" and
                                      "grading_status"; written by the grading process after the
                                      submission's workers are gone, atomically
    submissions/<name>/<format><ext>  one file per extra --format (text, gradescope, junit, ...)
    gradebook.csv, report.html        written by the caller from the result files

Protocol between the coordinator and a grading process: JSON lines. The coordinator writes the
run's resolved ``Settings`` (``Settings.to_json``, the batch's one seed included), then one job per
line, on the process's stdin (EOF: finish); the process answers on a dedicated pipe (its stdout
and stderr go to a log whose tail explains a crash):
``{"event": "ready", "seed": s, "deadline": seconds}``, ``{"event": "fatal", "message": m}``
(configuration error: the batch stops), ``{"event": "done", "i": i, "status": ..., ...}``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..atomic import atomic_write
from ..reports.gradebook import GRADED, GRADING_ERROR, TIMED_OUT, row_status  # noqa: F401
from .settings import Settings

RESULT_FILE = "result.json"


class BatchError(Exception):
    """The batch cannot run at all (bad configuration, no grading process starts)."""

    def __init__(self, message: str, usage: bool = False):
        super().__init__(message)
        self.usage = usage


@dataclass
class Submission:
    name: str  # unique in the batch; the directory under results_dir/submissions
    path: Path


JOB_MEMORY = 1 << 30  # peak RSS of one job, measured by benchmarks/bench.py: grading process ~410 MB,
# worker template ~290 MB, a worker ~260 MB (most of it shared with its template)


def default_jobs() -> int:
    """One job per CPU core this process may use, fewer if the available memory is short."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        with open("/proc/meminfo") as f:
            available = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
        cores = min(cores, available // JOB_MEMORY)
    except (OSError, StopIteration, ValueError):
        pass
    return max(1, cores)


def jobs_for(requested: int, submissions: int) -> int:
    """Grading processes for a batch: as many as requested (0: ``default_jobs()``), never more
    than there are submissions, at least one."""
    return max(1, min(requested or default_jobs(), submissions))


# -- which submissions ------------------------------------------------------------------------


def collect(paths: list[Path], each: list[Path] = ()) -> tuple[list[Submission], list[str]]:
    """The submissions named (each a directory) plus every subdirectory of each ``each``
    directory, in name order; returns them with notes about what was left out. Names are the
    directory names, made unique with a numeric suffix."""
    found: list[Path] = []
    notes: list[str] = []
    for p in paths:
        if not Path(p).is_dir():
            raise BatchError(f"{p}: not a directory", usage=True)
        found.append(Path(p))
    for d in each:
        d = Path(d)
        if not d.is_dir():
            raise BatchError(f"--each {d}: not a directory", usage=True)
        for entry in sorted(d.iterdir(), key=lambda e: e.name):
            if entry.name.startswith((".", "__")):
                continue
            if entry.is_dir():
                found.append(entry)
            else:
                notes.append(f"{entry}: not a directory, left out")
    if not found:
        raise BatchError("no submissions to grade", usage=True)
    subs, used = [], set()
    for path in found:
        base = _safe_name(path.resolve().name)
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        subs.append(Submission(name, path))
    return subs, notes


def _safe_name(name: str) -> str:
    name = re.sub(r"[^\w.+-]", "_", name).lstrip(".")
    return name or "submission"


def result_path(results_dir: Path, name: str) -> Path:
    return Path(results_dir) / "submissions" / name / RESULT_FILE


# -- the coordinator --------------------------------------------------------------------------


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


class _Process:
    """One grading process, seen from the coordinator."""

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
                [sys.executable, "-m", "grader.trusted.batch", str(w)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                pass_fds=(w,),
                env={**os.environ, "TMPDIR": str(tmp)},
                start_new_session=True,  # its own process group: one kill ends it and its template
            )
        os.close(w)
        self.reply = os.fdopen(r, "rb", buffering=0)
        self.buffer = b""
        self.ready = False
        self.job: Submission | None = None
        self.job_index = -1
        self.since = time.monotonic()
        try:
            self.proc.stdin.write(settings.to_json().encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            pass  # it ended already: its end of stream is reported like any other

    def send(self, obj: dict) -> None:
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()

    def messages(self) -> list[dict] | None:
        """Complete messages read so far; None at end of stream (the process ended)."""
        chunk = os.read(self.reply.fileno(), 1 << 16)
        if not chunk:
            return None
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def finish(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        self.reply.close()

    def log_tail(self, limit: int = 600) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip()
        except OSError:
            return ""
        return text[-limit:]

    def ended(self) -> str:
        code = self.proc.wait()
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


def run_batch(
    submissions: list[Submission],
    settings: Settings,
    progress: Callable[[Row, int, int], None] | None = None,
) -> list[Row]:
    """Grade every submission with ``settings`` (``results_dir`` set); return one row per
    submission, in the given order. Each result file is in place when this returns (written by a
    grading process, or here for a submission whose grading process failed)."""
    if settings.results_dir is None:
        raise ValueError("a batch needs settings.results_dir")
    results_dir = Path(settings.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    jobs = jobs_for(settings.jobs, len(submissions))
    # The batch's one seed (every student gets the same inputs, and each grading process
    # computes the reference once): the given one, else one drawn here for the whole batch.
    seed = settings.seed if settings.seed is not None else secrets.randbits(32)
    settings = replace(settings, seed=seed, results_dir=results_dir.resolve())
    rows = [Row(i, s.name, str(s.path)) for i, s in enumerate(submissions)]
    queue = list(range(len(submissions)))
    queue.reverse()  # pop() from the end: submissions start in the given order
    done = 0
    sel = selectors.DefaultSelector()
    procs: list[_Process] = []
    started = 0
    failed_starts = 0
    deadline: float | None = settings.deadline
    start_failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="grader-batch-", ignore_cleanup_errors=True) as logs:

        def start() -> None:
            nonlocal started
            started += 1
            p = _Process(settings, started, Path(logs))
            procs.append(p)
            sel.register(p.reply, selectors.EVENT_READ, p)

        def assign(p: _Process) -> None:
            if queue:
                i = queue.pop()
                sub = submissions[i]
                try:
                    p.send({"i": i, "name": sub.name, "path": str(Path(sub.path).resolve()), "given": str(sub.path)})
                except OSError:  # it has just ended: the job goes back; its end of stream says the rest
                    queue.append(i)
                    return
                p.job, p.job_index, p.since = sub, i, time.monotonic()
            else:
                p.job, p.job_index = None, -1
                p.finish()

        def record(
            i: int, status: str, detail: str, seconds: float, score: float = 0.0, max_score: float = 0.0
        ) -> None:
            nonlocal done
            row = rows[i]
            row.status, row.detail, row.seconds = status, detail, round(seconds, 3)
            row.score, row.max_score = score, max_score
            done += 1
            if progress is not None:
                progress(row, done, len(rows))

        def retire(p: _Process, status: str, reason: str) -> None:
            """A grading process failed on its submission: write the row, start another."""
            nonlocal failed_starts
            sel.unregister(p.reply)
            procs.remove(p)
            was_ready, i = p.ready, p.job_index
            p.kill()
            if i >= 0:
                sub = submissions[i]
                _write_failure(results_dir, sub, status, reason, seed)
                record(i, status, reason, time.monotonic() - p.since)
            if not was_ready:
                failed_starts += 1
                start_failures.append(reason)
            if queue and failed_starts < 3:
                start()

        try:
            for _ in range(jobs):
                start()
            while procs:
                now = time.monotonic()
                wait = 1.0
                for p in list(procs):
                    limit = (deadline if p.ready else STARTUP_DEADLINE) or DEFAULT_DEADLINE
                    if p.job is not None or not p.ready:
                        over = now - p.since - limit
                        if over >= 0:
                            if p.ready:
                                retire(
                                    p,
                                    TIMED_OUT,
                                    f"grading took longer than {limit:g} s; its grading process was stopped",
                                )
                            else:
                                retire(p, GRADING_ERROR, f"a grading process did not start within {limit:g} s")
                            continue
                        wait = min(wait, -over)
                for key, _ in sel.select(timeout=max(0.01, wait)):
                    p = key.data
                    if p not in procs:
                        continue
                    msgs = p.messages()
                    if msgs is None:  # the process ended
                        if p.job is None and p.ready and not queue:
                            sel.unregister(p.reply)
                            procs.remove(p)
                            p.proc.wait()
                            p.reply.close()
                            continue
                        tail = p.log_tail()
                        reason = f"the grading process ended unexpectedly ({p.ended()})" + (f": {tail}" if tail else "")
                        retire(p, GRADING_ERROR, reason)
                        continue
                    for msg in msgs:
                        event = msg.get("event")
                        if event == "fatal":
                            raise BatchError(str(msg.get("message")), usage=bool(msg.get("usage")))
                        if event == "ready":
                            p.ready = True
                            seed = int(msg.get("seed", seed))
                            failed_starts = 0
                            if deadline is None:
                                deadline = float(msg.get("deadline") or DEFAULT_DEADLINE)
                            assign(p)
                        elif event == "done" and int(msg.get("i", -1)) == p.job_index:
                            record(
                                p.job_index,
                                str(msg.get("status")),
                                str(msg.get("detail") or ""),
                                time.monotonic() - p.since,
                                float(msg.get("score") or 0.0),
                                float(msg.get("max_score") or 0.0),
                            )
                            assign(p)
            if queue:
                raise BatchError(
                    "grading processes keep failing to start: " + (start_failures[-1] if start_failures else "?")
                )
        finally:
            for p in procs:
                p.kill()
            sel.close()
    return rows


STARTUP_DEADLINE = 300.0
DEFAULT_DEADLINE = 900.0


def deadline_for(submission_budget: float, check: float) -> float:
    """How long a grading process may spend on one submission before it is stopped: the
    submission's time budget, the last request's limit, and room for the trusted side."""
    return submission_budget + check + max(30.0, 0.25 * submission_budget)


def _write_failure(results_dir: Path, sub: Submission, status: str, reason: str, seed: int) -> None:
    """The result of a submission whose grading process failed: valid, scored 0, says why."""
    from .scoring import failsafe_result

    result = failsafe_result(str(sub.path), reason)
    result.update(student=sub.name, grading_status=status, seed=seed)
    _write_json(result_path(results_dir, sub.name), result)


def _write_json(path: Path, obj: dict) -> None:
    atomic_write(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


# -- the grading process ----------------------------------------------------------------------


def _graded(grader, renderers: dict, settings: Settings, job: dict, outcome: dict | BaseException) -> dict:
    """Write one job's reports and result (``outcome``: its result, or why it has none)."""
    from ..reports import ReportOptions
    from .scoring import failsafe_result

    name, given = job["name"], job["given"]
    if isinstance(outcome, BaseException):  # the grader failed on this submission: say so
        result = failsafe_result(given, f"the grader failed: {type(outcome).__name__}: {outcome}")
        result["seed"] = grader.settings.seed
    else:
        result = outcome
        result["submission"] = given
    status, detail = row_status(result)
    result.update(student=name, grading_status=status)
    assert settings.results_dir is not None
    out = result_path(settings.results_dir, name)
    # Per-submission reports first, the result last: a result file means "this one is done".
    for fmt in settings.formats:
        if fmt == "json":
            continue
        f = renderers[fmt]
        try:
            data = f.render(result, ReportOptions(audience=settings.audience))
        except Exception as e:
            detail = (detail + "; " if detail else "") + f"the {fmt} report failed: {type(e).__name__}: {e}"
            continue
        atomic_write(out.with_name(fmt + f.extension), data)
    _write_json(out, result)
    return {
        "status": status,
        "detail": detail,
        "score": result.get("score", 0.0),
        "max_score": result.get("max_score", 0.0),
    }


def serve(reply_fd: int) -> None:
    """Main loop of a grading process (``python -m grader.trusted.batch FD``)."""
    from .workers import Zygote

    zygote = Zygote()  # first, so its torch import overlaps ours
    reply = os.fdopen(reply_fd, "w", buffering=1)

    def send(obj: dict) -> None:
        reply.write(json.dumps(obj) + "\n")
        reply.flush()

    try:
        from ..plugins import PluginError
        from ..reports import report_formats
        from .grading import Grader
        from .sandbox import SandboxUnavailable
        from .settings import UsageError

        settings = Settings.from_json(sys.stdin.readline())
        try:
            grader = Grader(settings, zygote=zygote)
            renderers = report_formats(grader.pm)
            unknown = [f for f in settings.formats if f not in renderers]
            if unknown:
                raise UsageError(f"unknown format {unknown[0]!r} (known: {', '.join(sorted(renderers))})")
        except (PluginError, UsageError, SandboxUnavailable) as e:
            send({"event": "fatal", "message": str(e), "usage": True})
            return
        zygote.ready()
        t = settings.timeouts
        send(
            {
                "event": "ready",
                "seed": settings.seed,
                "deadline": deadline_for(t.submission, max(t.check, t.import_module)),
            }
        )

        def jobs():
            for line in sys.stdin:
                job = json.loads(line)
                yield job, Path(job["path"])

        def done(job: dict, outcome: dict | BaseException) -> None:
            send({"event": "done", "i": job["i"], **_graded(grader, renderers, settings, job, outcome)})

        # One pytest session for the whole queue: the checks are collected once (``grade_each``).
        grader.grade_each(jobs(), done)
    finally:
        zygote.close()


if __name__ == "__main__":
    from .shutdown import fast_exit

    serve(int(sys.argv[1]))
    fast_exit(0)
