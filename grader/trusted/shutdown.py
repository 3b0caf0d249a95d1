"""How a trusted process that imported torch ends: the ``grader`` console script and a batch's
grading processes."""

from __future__ import annotations

import atexit
import os
import sys


def fast_exit(code: int) -> None:
    """Exit with ``code`` without the interpreter's teardown of torch's modules (over a second
    once torch._dynamo is loaded, as where an instructor's check builds a torch.optim optimizer in
    this process; benchmarks/bench.py). The standard streams are flushed and atexit handlers
    still run; the caller has written every report (atomically) by now."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        atexit._run_exitfuncs()
    except Exception:
        pass
    os._exit(code)
