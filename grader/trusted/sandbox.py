"""Confinement levels: probed at start-up, the strongest available used, recorded in the report.

A level turns "start a worker for this submission" into a spawn plan for the zygote (what the
forked child applies to itself before importing student code) plus, for namespace levels, a
sandbox process whose namespaces the child joins and whose death takes the whole tree with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .workers import WORKER_ENV, Worker, Zygote

GiB = 1 << 30
MiB = 1 << 20


@dataclass
class Limits:
    """Per-worker resource limits (documented in the README, tunable in the assignment file)."""

    memory: int = 4 * GiB  # address space on top of what the pre-imported template already maps
    cpu_seconds: int = 900
    file_size: int = 64 * MiB
    open_files: int = 256
    processes: int = 64
    threads: int = 1

    def rlimits(self, nproc: int | None) -> dict:
        out = {
            "as_extra": self.memory,
            "cpu": self.cpu_seconds,
            "fsize": self.file_size,
            "nofile": self.open_files,
            "core": 0,
        }
        if nproc is not None:
            out["nproc"] = nproc
        return out


@dataclass
class Prepared:
    plan: dict
    handle: object | None = None
    cleanup: list = field(default_factory=list)


class Level:
    name = "?"
    rank = 0
    protects = ""

    def available(self) -> tuple[bool, str]:
        return True, ""

    def prepare(self, submission: Path, scratch: Path, limits: Limits) -> Prepared:
        raise NotImplementedError

    def describe(self) -> str:
        return self.protects


def _own_process_count() -> int:
    uid = os.getuid()
    n = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


class ProcessLevel(Level):
    """A plain subprocess (forked from the template) with rlimits, its own session and a
    process-tree kill. Same user, same filesystem view, network reachable."""

    name = "process"
    rank = 0
    protects = "separate process (verdicts unreachable), rlimits, wall-clock kill of the process tree"

    def prepare(self, submission: Path, scratch: Path, limits: Limits) -> Prepared:
        nproc = None if os.getuid() == 0 else _own_process_count() + limits.processes
        return Prepared(
            plan={
                "root": str(submission),
                "scratch": str(scratch),
                "limits": limits.rlimits(nproc),
                "env": {**WORKER_ENV, "HOME": str(scratch), "TMPDIR": str(scratch)},
                "threads": limits.threads,
            }
        )


LEVELS: dict[str, type[Level]] = {"process": ProcessLevel}


class SandboxUnavailable(Exception):
    pass


def choose_level(force: str | None = None, minimum: str | None = None) -> Level:
    """The strongest level that works here (or the forced one); refuse below ``minimum``."""
    for name in (force, minimum):
        if name is not None and name not in LEVELS:
            raise SandboxUnavailable(f"unknown sandbox level {name!r} (known: {', '.join(LEVELS)})")
    if force is not None:
        level = LEVELS[force]()
        ok, why = level.available()
        if not ok:
            raise SandboxUnavailable(f"sandbox level {force!r} is not available here: {why}")
    else:
        ranked = sorted((cls() for cls in LEVELS.values()), key=lambda lv: -lv.rank)
        level = next((lv for lv in ranked if lv.available()[0]), ProcessLevel())
    if minimum is not None and level.rank < LEVELS[minimum].rank:
        raise SandboxUnavailable(
            f"the strongest sandbox available here is {level.name!r}, below the required {minimum!r}"
        )
    return level


class Launcher:
    """Spawns confined workers for submissions: the zygote plus a confinement level."""

    def __init__(self, zygote: Zygote, level: Level, limits: Limits | None = None):
        self.zygote, self.level = zygote, level
        self.limits = limits or Limits()
        self._tmp = tempfile.mkdtemp(prefix="grader-")
        self._n = 0

    def spawn(self, submission: Path, hooks: dict[str, list[str]], skip: list[str]) -> Worker:
        self._n += 1
        scratch = Path(self._tmp) / f"w{self._n}"
        scratch.mkdir(mode=0o777)
        prepared = self.level.prepare(submission, scratch, self.limits)
        plan = {**prepared.plan, "hooks": hooks, "skip": skip}
        try:
            worker = self.zygote.spawn(plan)
        except BaseException:
            if prepared.handle is not None:
                prepared.handle.kill()
            raise
        worker.sandbox = prepared.handle
        return worker

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)
