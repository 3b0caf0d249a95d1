"""The ``grader`` command (one module per group of subcommands).

Exit codes: 0 every check that ran passed; 1 some check did not pass; 2 usage or configuration
error; 3 the grader itself failed.
"""

from __future__ import annotations

import sys
import time

import click

from ..trusted.shutdown import fast_exit

# When this command started (its first import): a run's ``execution_time`` is measured from here.
STARTED = time.monotonic()

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class Failure(click.ClickException):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        # click declares exit_code a ClassVar, yet reads it from the exception (``e.exit_code``).
        self.exit_code = code  # type: ignore[misc]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="grader")
def main() -> None:
    """Grade PyTorch exercise submissions against a reference, safely."""


def console_main() -> None:
    """The ``grader`` console script: ``main``, then ``fast_exit`` (``main`` stays the click
    group that tests and ``python -c`` call)."""
    try:
        main()
        code: str | int | None = 0
    except SystemExit as e:
        code = e.code
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    fast_exit(int(code or 0))


# Subcommands register themselves on `main` when their module is imported.
from . import classroom, gradebook, gradescope, info, run  # noqa: E402,F401
