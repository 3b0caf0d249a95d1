"""A grading process: ``python -m grader.trusted.batch FD`` (started by the coordinator,
``process.COMMAND``), answering on the pipe whose descriptor is FD."""

import sys

from ..shutdown import fast_exit
from .server import serve

serve(int(sys.argv[1]))
fast_exit(0)
