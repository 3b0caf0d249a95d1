"""Grading a class: many submissions in parallel, each in its own confined workers.

The coordinator (``run_batch``, in the ``grader run`` process) imports no torch and runs no
checks: it starts ``jobs`` grading processes (``python -m grader.trusted.batch``), feeds each
one submission at a time, and supervises them. A grading process is an ordinary trusted grader,
handed the run's resolved ``Settings``; whatever a submission does, the batch goes on.

Modules, one job each:

- ``collect``: which submissions, under which unique names;
- ``budget``: how many grading processes, and their deadlines;
- ``coordinator``: ``run_batch``, the queue and the supervision of the grading processes;
- ``process``: one grading process as the coordinator sees it;
- ``protocol``: the JSON lines they exchange;
- ``server``: the grading process's main loop (``__main__`` starts it);
- ``kernel``: a kernel's jobs (``%grade``: the cells of its history) and their answers;
- ``results``: the result files under ``results_dir``;
- ``errors``: ``BatchError``, what stops the whole batch.
"""

from .budget import default_jobs, jobs_for
from .collect import Submission, collect
from .coordinator import Row, run_batch
from .errors import BatchError
from .results import RESULT_FILE, result_path

__all__ = [
    "BatchError",
    "RESULT_FILE",
    "Row",
    "Submission",
    "collect",
    "default_jobs",
    "jobs_for",
    "result_path",
    "run_batch",
]
