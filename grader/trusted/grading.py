"""One grading run, end to end: plugins → course → worker → checks → result."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .sandbox import Launcher, Limits
from .submission import Timeouts
from .workers import Zygote


@dataclass
class Options:
    seed: int | None = None
    only: list[str] = field(default_factory=list)
    keyword: str | None = None
    plugins: list[str] = field(default_factory=list)
    sandbox: str | None = None
    min_sandbox: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: Limits = field(default_factory=Limits)
    cuda: bool = True


class GradingError(Exception):
    """The grader itself could not grade (exit code 3)."""


class UsageError(Exception):
    """Bad options or configuration (exit code 2)."""


def new_seed() -> int:
    return secrets.randbits(32)


def cuda_devices(enabled: bool = True) -> list[str]:
    if not enabled:
        return []
    import torch

    try:
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    except Exception:
        return []


class Grader:
    """Holds what does not change between submissions: plugins, course, zygote, level."""

    def __init__(self, options: Options, zygote: Zygote | None = None):
        from ..plugins import get_plugin_manager
        from .course import load_course
        from .sandbox import choose_level

        self.options = options
        self.zygote = zygote or Zygote()
        self.pm = get_plugin_manager(options.plugins)
        self.course = load_course(self.pm)
        unknown = [h for h in options.only if h not in self.course.hooks]
        if unknown:
            raise UsageError(f"unknown hook(s) for --only: {', '.join(unknown)}")
        self.level = choose_level(options.sandbox, options.min_sandbox)
        self.cuda = cuda_devices(options.cuda)
        self.cache: dict = {}

    def tolerance(self, hook: str, check: str, dtype: Any, device: str) -> tuple[float, float]:
        from .compare import device_tolerance

        got = self.pm.hook.grader_tolerance(hook=hook, check=check, dtype=dtype, device=device)
        return tuple(got) if got is not None else device_tolerance(dtype, device)

    def points(self, hook: str, check: str | None) -> float | None:
        return self.pm.hook.grader_points(hook=hook, check=check)

    def visibility(self, hook: str, check: str | None) -> str | None:
        return self.pm.hook.grader_visibility(hook=hook, check=check)

    def grade(self, submission: str | Path, seed: int | None = None, only: list[str] | None = None, keyword: str | None = None) -> dict:
        from .probes import SubmissionView
        from .pytest_plugin import RunContext
        from .runner import run_checks
        from .scoring import build_result
        from .submission import SubmissionClient

        path = Path(submission)
        if not path.is_dir():
            raise UsageError(f"{submission}: not a directory")
        seed = self.options.seed if seed is None and self.options.seed is not None else seed
        seed = new_seed() if seed is None else seed
        started = time.monotonic()
        launcher = Launcher(self.zygote, self.level, self.options.limits)
        client = SubmissionClient(path, self.course.hook_args(), launcher.spawn, self.options.timeouts)
        view = SubmissionView(client)
        ctx = RunContext(
            course=self.course,
            view=view,
            seed=seed,
            cuda_devices=self.cuda,
            tolerance=self.tolerance,
            cache=self.cache,
            only=set(only or self.options.only) if (only or self.options.only) else None,
        )
        try:
            try:
                client.load()
            except Exception as e:  # a worker that cannot even start: every check fails closed
                from .workers import WorkerFailure

                if not isinstance(e, WorkerFailure):
                    raise
            outcomes, errors = run_checks(ctx, keyword if keyword is not None else self.options.keyword)
        finally:
            client.close()
            launcher.close()
        discovery = client.discovery
        warnings = list(discovery.warnings) if discovery else []
        warnings += errors
        result = build_result(
            self.course,
            outcomes,
            discovery,
            submission=str(submission),
            seed=seed,
            devices=["cpu", *self.cuda],
            sandbox={"level": self.level.name, "details": self.level.describe()},
            points=self.points,
            visibility=self.visibility,
            warnings=warnings,
            extra={
                "execution_time": round(time.monotonic() - started, 3),
                "stats": {**client.stats, "workers_started": client.workers_started},
            },
        )
        self.pm.hook.grader_result(result=result)
        return result

    def close(self) -> None:
        self.zygote.close()
