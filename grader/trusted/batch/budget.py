"""How much a batch runs at once and for how long: jobs (grading processes) from the CPU cores
and memory available, and the deadlines after which a grading process is stopped."""

from __future__ import annotations

import os

JOB_MEMORY = 1 << 30  # peak RSS of one job, measured by benchmarks/bench.py: grading process ~410 MB,
# worker template ~290 MB, a worker ~260 MB (most of it shared with its template)

STARTUP_DEADLINE = 300.0  # seconds a grading process may take to say it is ready
DEFAULT_DEADLINE = 900.0  # seconds on one submission, until a grading process says its own


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


def deadline_for(submission_budget: float, check: float) -> float:
    """How long a grading process may spend on one submission before it is stopped: the
    submission's time budget, the last request's limit, and room for the trusted side."""
    return submission_budget + check + max(30.0, 0.25 * submission_budget)
