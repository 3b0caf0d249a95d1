"""Start-up without the cyclic garbage collector, for the two processes that import torch: the
worker template and the trusted grading process.

Importing torch and the lazy part the checks use (sympy) makes 250,000 to 350,000 long-lived
objects, and on the way the collector runs full collections over them: ~0.5 s of CPU in each
process, on the critical path of a cold run (benchmarks/bench.py). The template's later import
of torch._dynamo (``template.LATE_TORCH_MODULES``) runs the same way. So imports run with
the collector off and what they made is then frozen (``gc.freeze``): later collections never scan
it again, which also keeps a forked worker from writing to the template's pages just to scan them.
The few thousand cycles left over from the imports stay frozen too (well under a megabyte).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


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
