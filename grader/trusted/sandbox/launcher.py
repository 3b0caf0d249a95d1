"""The launcher: starts one worker under a chosen level (a fresh scratch directory and uid, a
copy of the submission the worker's uid can read, the level's plan, the template's fork) and kills
every sandbox it started when closed."""

from __future__ import annotations

import ctypes
import itertools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..workers import Worker, WorkerTemplate
from .bwrap import BwrapLevel
from .host import grader_paths, make_readable, readable_by_others
from .level import Context, Level, worker_features
from .limits import Limits
from .placeholder import Placeholder

# Per-worker uids when running as root (RLIMIT_NPROC counts per uid and never applies to uid 0;
# one uid per worker also lets a kill reach everything the worker started). Each grading
# process takes the block its pid names, so graders alive at once never share a uid (pids are
# unique among live processes; with a pid_max above 2**18 two pids 2**18 apart would share one),
# and its workers take the block's uids in turn, across its launchers.
UID_BASE = int(os.environ.get("GRADER_UID_BASE", "2000000000"))
UID_BLOCK = 4096


def _tree_world_readable(root: Path) -> bool:
    for dirpath, _, filenames in os.walk(root):
        if os.stat(dirpath).st_mode & 0o005 != 0o005:
            return False
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p) and not os.stat(p).st_mode & 0o004:
                return False
    return True


def _copy_readable(src: Path, dst: Path) -> None:
    """A snapshot of a submission that a per-worker uid can read (symlinks copied as links,
    never followed: a link to /etc/shadow stays a link, resolved inside the sandbox)."""
    shutil.copytree(src, dst, symlinks=True)
    make_readable(dst)


def _set_non_dumpable() -> None:
    """The trusted process: no same-uid process may read its memory or environ via /proc."""
    try:
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
    except Exception:
        pass


class Launcher:
    """Spawns confined workers for one submission: the template plus a confinement level."""

    _spawned = itertools.count(1)  # workers spawned by this process, every launcher together

    def __init__(
        self,
        template: WorkerTemplate,
        level: Level,
        limits: Limits | None = None,
        hidden: list[str] | None = None,
        cuda: bool = False,
    ):
        _set_non_dumpable()
        self.template, self.level = template, level
        self.limits = limits or Limits()
        self.hidden = grader_paths() if hidden is None else list(hidden)
        self.cuda = cuda
        self._tmp = tempfile.mkdtemp(prefix="grader-")
        os.chmod(self._tmp, 0o711)  # per-worker uids must reach their scratch directories
        self._n = 0
        self._handles: list[Placeholder] = []
        self._staged: dict[Path, Path] = {}
        self._uid0 = UID_BASE + (os.getpid() % (1 << 18)) * UID_BLOCK

    def _features(self) -> dict:
        return worker_features(self.template) if self.level.rank > 0 else {}

    def _readable(self, submission: Path) -> Path:
        """The submission as a per-worker uid can read it: a private world-readable copy when
        that uid would be refused some of it (bwrap mounts it at /submission, so only the tree's
        own permissions matter there; elsewhere its parents must be traversable too)."""
        if os.geteuid() != 0 or self.level.rank == 0:
            return submission
        if submission not in self._staged:
            ok = _tree_world_readable(submission)
            if not isinstance(self.level, BwrapLevel):
                ok = ok and readable_by_others(str(submission))
            if ok:
                self._staged[submission] = submission
            else:
                dst = Path(self._tmp) / f"submission{len(self._staged)}"
                _copy_readable(submission, dst)
                self._staged[submission] = dst
        return self._staged[submission]

    def spawn(self, submission: Path, hooks: dict[str, Any], skip: list[str]) -> Worker:
        self._n += 1
        scratch = Path(self._tmp) / f"w{self._n}"
        scratch.mkdir()
        os.chmod(scratch, 0o777)
        spawned = next(Launcher._spawned)
        uid = self._uid0 + (spawned % UID_BLOCK) if os.geteuid() == 0 and self.level.rank > 0 else None
        ctx = Context(
            scratch=scratch, limits=self.limits, hidden=self.hidden, cuda=self.cuda, uid=uid, features=self._features()
        )
        prepared = self.level.prepare(self._readable(Path(submission)), ctx)
        if prepared.handle is not None:
            self._handles.append(prepared.handle)
        plan = {**prepared.plan, "hooks": hooks, "skip": skip}
        try:
            worker = self.template.spawn(plan)
        except BaseException:
            if prepared.handle is not None:
                prepared.handle.kill()
            raise
        worker.sandbox = prepared.handle
        return worker

    def close(self) -> None:
        """Kill every sandbox this launcher started (and with them everything inside) and wait
        until they are gone; then remove the scratch directories."""
        for h in self._handles:
            h.kill()
        self._handles.clear()
        shutil.rmtree(self._tmp, ignore_errors=True)
