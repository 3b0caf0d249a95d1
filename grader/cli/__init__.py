"""The ``grader`` command (one module per group of subcommands).

Exit codes: 0 every check that ran passed; 1 some check did not pass; 2 usage or configuration
error; 3 the grader itself failed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class Failure(click.ClickException):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.exit_code = code


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="grader")
def main() -> None:
    """Grade PyTorch exercise submissions against a reference, safely."""


def _atomic_write(path: str, data: str | bytes) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(tmp, mode) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)




def _renderers(pm) -> dict:
    out = {}
    for formats in pm.hook.grader_report_formats():
        for f in formats or []:
            out[f.name] = f
    return out


# Subcommands register themselves on `main` when their module is imported.
from . import info, run  # noqa: E402,F401
