"""Choosing a level: the registry of levels (``LEVELS``), which of them work on this host
(``survey_levels``, ``works_here``, a real ``trial`` worker), and the strongest one to grade under
(``choose_level``)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from ..workers import WorkerTemplate
from .bwrap import BwrapLevel
from .errors import SandboxUnavailable
from .landlock import LandlockLevel
from .launcher import Launcher
from .level import Level, worker_features
from .process import ProcessLevel
from .unshare import UnshareLevel

LEVELS: dict[str, type[Level]] = {
    "bwrap": BwrapLevel,
    "unshare": UnshareLevel,
    "landlock": LandlockLevel,
    "process": ProcessLevel,
}


def survey_levels(template: WorkerTemplate | None = None) -> dict[str, tuple[bool, str]]:
    """Every level's result on this host (``grader sandbox``, the tests): what the host lacks for it, and with a
    template also one worker really started under it (``works_here``)."""
    features = worker_features(template)
    return {name: works_here(cls(), features, template) for name, cls in LEVELS.items()}


def works_here(level: Level, features: dict, template: WorkerTemplate | None) -> tuple[bool, str]:
    """whether this host lacks nothing ``level`` needs; where so and a template is given, a worker must also start under
    it (a level the host seems to support but whose workers cannot start is not available)."""
    ok, why = level.available(features)
    if ok and template is not None:
        ok, why = trial(level, template)
    return ok, why


def choose_level(force: str | None = None, minimum: str | None = None, template: WorkerTemplate | None = None) -> Level:
    """The strongest level that works here (or the forced one); refuse below ``minimum``.
    With a template, a level is also tried once for real (a worker started under it must reach
    its import report), so a level the host seems to support but whose workers cannot start is skipped."""
    for name in (force, minimum):
        if name is not None and name not in LEVELS:
            raise SandboxUnavailable(f"unknown sandbox level {name!r} (known: {', '.join(LEVELS)})")
    features = worker_features(template)
    if force is not None:
        level = LEVELS[force]()
        ok, why = works_here(level, features, template)
        if not ok:
            raise SandboxUnavailable(f"sandbox level {force!r} is not available here: {why}")
    else:
        level = ProcessLevel()  # the fallback, whatever its trial says
        for cls in sorted(LEVELS.values(), key=lambda c: -c.rank):
            candidate = cls()
            if candidate.rank == 0 or works_here(candidate, features, template)[0]:
                level = candidate
                break
    if minimum is not None and level.rank < LEVELS[minimum].rank:
        raise SandboxUnavailable(
            f"the strongest sandbox available here is {level.name!r}, below the required {minimum!r}"
        )
    return level


_TRIALS: dict[str, tuple[bool, str]] = {}


def trial(level: Level, template: WorkerTemplate) -> tuple[bool, str]:
    """Start one worker under ``level`` on an empty submission; cached per process."""
    from ...worker.wire import ChannelError, recv

    key = f"{level.name}:{os.geteuid()}"
    if key in _TRIALS:
        return _TRIALS[key]
    tmp = tempfile.mkdtemp(prefix="grader-trial-")
    launcher = Launcher(template, level)
    worker = None
    try:
        worker = launcher.spawn(Path(tmp), {}, [])
        deadline = time.monotonic() + 30
        while True:
            msg, _ = recv(worker.chan, deadline=deadline)
            if msg.get("event") == "ready":
                break
        result = (True, "")
    except (ChannelError, OSError, SandboxUnavailable, Exception) as e:
        output = worker.output.text(500) if worker is not None else ""
        result = (False, f"a worker could not start under it: {e} {output}".strip())
    finally:
        if worker is not None:
            worker.kill()
        launcher.close()
        shutil.rmtree(tmp, ignore_errors=True)
    _TRIALS[key] = result
    return result
