"""Start-up without the cyclic garbage collector, for the two processes that import torch: the
worker template and the trusted grading process.

Importing torch and the lazy parts the checks use (torch._dynamo, sympy) makes about 300,000
long-lived objects, and on the way the collector runs five full collections over them: ~0.5 s of
CPU in each process, on the critical path of a cold run (benchmarks/bench.py). So imports run with
the collector off and what they made is then frozen (``gc.freeze``): later collections never scan
it again, which also keeps a forked worker from writing to the template's pages just to scan them.
The few thousand cycles left over from the imports stay frozen too (well under a megabyte).
"""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def imports_without_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
