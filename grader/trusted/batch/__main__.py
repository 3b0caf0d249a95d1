"""A grading process: ``python -m grader.trusted.batch FD`` (started by the coordinator,
``process.COMMAND``), answering on the pipe whose descriptor is FD."""

import sys

from ..shutdown import fast_exit
from .server import serve

try:
    serve(int(sys.argv[1]))
except BrokenPipeError:
    # Whoever read the answers has ended (a kernel shut down mid-grade, a coordinator killed):
    # there is no one left to tell, and nothing of it is an error of this process's.
    fast_exit(0)
fast_exit(0)
