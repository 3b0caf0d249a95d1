"""Confinement levels: checked at start-up, the strongest available used, recorded in the report.

A level turns "start a worker for this submission" into a spawn plan for the template (what the
forked child applies to itself before importing student code: ``grader.worker.confine``) plus,
for the namespace levels, a placeholder sandbox process per worker whose namespaces the child
joins (setns) and whose death takes the whole worker tree with it, setsid daemons included.
Workers stay a fork of the pre-imported template (milliseconds), confined or not.

Levels, strongest first (docs/confinement.md says which attacks each one stops):

- ``bwrap``: bubblewrap namespaces: no network, a filesystem of only the Python runtime and the
  submission (read-only) and a private size-capped /tmp, own PID namespace; as root also a
  per-worker uid; seccomp denylist where available.
- ``unshare``: util-linux ``unshare`` namespaces (root only): no network, own PID namespace, the
  grader's directories masked, a private /tmp; per-worker uid; Landlock and seccomp if present.
- ``landlock``: no namespaces: a per-worker uid when root, a Landlock filesystem allowlist, and
  seccomp (no sockets but AF_UNIX) when libseccomp is present.
- ``process``: a plain forked subprocess with rlimits and a process-tree kill.

Every level: rlimits (CPU, address space or data, file size, open files, processes where they
count), BLAS/OpenMP thread caps, a cleared environment, no capabilities, output captured with a
cap (``workers.OutputTail``) and wall-clock limits (``submission.Timeouts``).

The package, bottom layer first (each module imports only modules earlier in this list):
``errors``, ``limits``, ``host`` (runtime and grader paths), ``placeholder`` (the processes
holding namespaces), ``level`` (the interface and shared plan pieces), the levels ``process``,
``landlock``, ``unshare``, ``bwrap``, ``launcher`` (starting a worker at a level), ``choose``
(which levels work here, the strongest one).
"""

from __future__ import annotations

from .bwrap import BwrapLevel, bwrap_binary
from .choose import LEVELS, choose_level, survey_levels, trial, works_here
from .errors import SandboxUnavailable
from .host import grader_paths, runtime_roots
from .landlock import LandlockLevel
from .launcher import UID_BASE, UID_BLOCK, Launcher
from .level import Context, Level, Prepared
from .limits import GiB, Limits, MiB
from .placeholder import PLACEHOLDER, Placeholder
from .process import ProcessLevel
from .unshare import UnshareLevel

__all__ = [
    "GiB",
    "LEVELS",
    "PLACEHOLDER",
    "UID_BASE",
    "UID_BLOCK",
    "BwrapLevel",
    "Context",
    "LandlockLevel",
    "Launcher",
    "Level",
    "Limits",
    "MiB",
    "Placeholder",
    "Prepared",
    "ProcessLevel",
    "SandboxUnavailable",
    "UnshareLevel",
    "bwrap_binary",
    "choose_level",
    "grader_paths",
    "survey_levels",
    "runtime_roots",
    "trial",
    "works_here",
]
