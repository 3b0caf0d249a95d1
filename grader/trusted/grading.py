"""One grading run, end to end: plugins → course → worker → checks → result."""

from __future__ import annotations

import contextlib
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
    assignment: Any = None  # grader.trusted.assignment.Assignment: selection, points, visibility, required


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


def worker_limits(limits: Limits, cuda: bool) -> Limits:
    """The limits a worker gets. With CUDA devices the memory limit is on data (RLIMIT_DATA),
    not address space: initializing CUDA reserves far more virtual memory than it uses (tens of
    GiB), so under RLIMIT_AS every CUDA call in the worker fails (``Limits.rlimits``; the
    launcher is told about CUDA). The other limits and the wall-clock kill stay."""
    return limits


_warm = False  # the trusted process's torch has done its lazy imports (``Grader.warm_up``)
_started = False  # a Grader was made in this process (its imports ran without the GC)


class Grader:
    """Holds what does not change between submissions: plugins, course, zygote, level."""

    def __init__(self, options: Options, zygote: Zygote | None = None):
        global _started
        from ..worker.startup import imports_without_gc

        # The first grader of a process imports torch, the course and the checks' lazy imports.
        with contextlib.nullcontext() if _started else imports_without_gc():
            _started = True
            self._start(options, zygote)

    def _start(self, options: Options, zygote: Zygote | None) -> None:
        from ..plugins import get_plugin_manager
        from .course import load_course
        from .sandbox import choose_level

        self.options = options
        self.zygote = zygote or Zygote()
        self.assignment = options.assignment
        self.pm = get_plugin_manager([*(self.assignment.plugins if self.assignment else []), *options.plugins])
        self.course = load_course(self.pm)
        self.selection: list[str] = []  # hooks graded when a run names none (empty: all)
        if self.assignment is not None:
            from .inventory import collect_checks

            metas, _ = collect_checks(self.course)
            self.assignment.validate_against(self.course, {m.key for m in metas})
            self.pm.register(self.assignment.plugin(self.course), name="grader-assignment")
            self.selection = self.assignment.selection(self.course)
        unknown = [h for h in options.only if h not in self.course.hooks]
        if unknown:
            raise UsageError(f"unknown hook(s) for --only: {', '.join(unknown)}")
        self.cuda = cuda_devices(options.cuda)
        import torch

        # The reference computes with a worker's intra-op threads (``Limits.threads``, one):
        # float sums split over threads round differently, and this process's idle OpenMP
        # threads spun on the core its worker needed (~0.3 s of CPU a cold run, benchmarks).
        torch.set_num_threads(options.limits.threads)
        self.warm_up()  # before the level's probe waits for the template
        # Probed once: the strongest level whose workers really start here (docs/confinement.md).
        self.level = choose_level(options.sandbox, options.min_sandbox, zygote=self.zygote)
        from .sandbox import grader_paths

        self.hidden = grader_paths(self.pm.get_plugins())  # never visible inside a worker
        from ..worker import precision

        precision.apply()  # the reference computes under the workers' policy (no TF32)
        # Reference observations depend only on the seed: one store per seed, shared by every
        # submission graded with it (a batch computes them once per grading process).
        self.caches: dict[int, dict] = {}

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
        selected = set(only or self.options.only or self.selection)
        started = time.monotonic()
        launcher = Launcher(self.zygote, self.level, worker_limits(self.options.limits, bool(self.cuda)),
                            hidden=self.hidden, cuda=bool(self.cuda))
        client = SubmissionClient(path, self.course.hook_args(), launcher.spawn, self.options.timeouts)
        view = SubmissionView(client)
        ctx = RunContext(
            course=self.course,
            view=view,
            seed=seed,
            cuda_devices=self.cuda,
            tolerance=self.tolerance,
            cache=self.caches.setdefault(seed, {}),
            only=selected or None,
        )
        try:
            # The worker imports the submission while pytest starts; the checks' collection
            # reads its report (a worker that cannot even start fails every check closed).
            client.start()
            # Then the template's late imports: they overlap the checks, and only the checks
            # marked ``optimizer`` (run last, in a worker of their own) wait for them.
            self.zygote.warm()
            outcomes, errors = run_checks(ctx, keyword if keyword is not None else self.options.keyword)
            if client.discovery is None:  # pytest stopped before asking (a collection error)
                from .workers import WorkerFailure

                try:
                    client.load()
                except WorkerFailure:
                    pass
        finally:
            client.close()
            self._sweep()
            launcher.close()
        discovery = client.discovery
        # Warnings are for the student (near-miss names, advice from checks); problems of the
        # checks themselves (a plugin bug) are for the instructor: `grading_errors`.
        warnings = list(discovery.warnings) if discovery else []
        warnings += [a for a in ctx.advice if a not in warnings]
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
            required=self.assignment.required if self.assignment else (),
            extra={
                "execution_time": round(time.monotonic() - started, 3),
                "stats": {**client.stats, "workers_started": client.workers_started},
                **({"grading_errors": list(errors)} if errors else {}),
                # Reports show only the hooks this run graded (RESULT_SCHEMA keeps them all).
                **({"selection": [h for h in self.course.hooks if h in selected]} if selected else {}),
                **({"assignment": self.assignment.describe(self.course)} if self.assignment else {}),
            },
        )
        self.pm.hook.grader_result(result=result)
        return result

    def warm_up(self) -> None:
        """Make torch do here, once, the lazy import that the checks' reference side would
        otherwise trigger mid-run, with the collector on: a backward with an explicit gradient
        (gradcheck's) imports sympy (~0.4 s). In a cold run the template is still importing
        torch meanwhile. This process never builds a torch.optim optimizer, which would import
        torch._dynamo (~1 s more): the reference and the checks train with ``kit.FunctionalSGD``
        (tests/test_optimizer_lane.py)."""
        global _warm
        if _warm:
            return
        _warm = True
        import torch

        x = torch.ones(2, requires_grad=True)
        (x * 2).backward(torch.ones(2))

    def _sweep(self) -> None:
        """Nothing of this submission's run (a daemon it left behind) lives on into the next."""
        from .workers import WorkerFailure

        try:
            self.zygote.sweep()
        except WorkerFailure:
            pass  # the template is gone, its workers with it; the next spawn reports it

    def close(self) -> None:
        self.zygote.close()
