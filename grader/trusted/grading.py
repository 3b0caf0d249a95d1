"""One grading run, end to end: plugins → course → worker → checks → result."""

from __future__ import annotations

import contextlib
import resource
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import sanitize
from .sandbox import Launcher, Limits
from .settings import Settings, UsageError
from .workers import WorkerTemplate

if TYPE_CHECKING:
    from .sources import Sources


class GradingError(Exception):
    """The grader itself could not grade (exit code 3)."""


MAX_SEEDS = 4  # reference observations kept, one store per seed (a kernel's grades draw a seed each)


@dataclass
class Job:
    """One submission of a ``grade_each`` queue with its own seed and hooks, for a queue whose
    submissions do not share them (a kernel's ``%grade`` requests): ``seed`` None and ``only``
    None (or empty) follow the queue's own, as a plain submission does."""

    submission: str | Path | Sources
    seed: int | None = None
    only: list[str] | None = None


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
    """Holds what does not change between submissions: plugins, course, template, level, all
    from the run's ``Settings``."""

    def __init__(self, settings: Settings, template: WorkerTemplate | None = None):
        global _started
        from ..worker.startup import imports_without_gc

        # The first grader of a process imports torch, the course and the checks' lazy imports.
        with contextlib.nullcontext() if _started else imports_without_gc():
            _started = True
            self._start(settings, template)

    def _start(self, settings: Settings, template: WorkerTemplate | None) -> None:
        from ..plugins import get_plugin_manager
        from .course import load_course
        from .sandbox import choose_level

        self.settings = settings
        self.template = template or WorkerTemplate()
        self.assignment = settings.assignment
        self.pm = get_plugin_manager(settings.plugins, assignment=self.assignment.plugins if self.assignment else ())
        self.course = load_course(self.pm)
        self.selection: list[str] = []  # hooks graded when a run names none (empty: all)
        if self.assignment is not None:
            from .inventory import collect_checks

            metas, _ = collect_checks(self.course)
            self.assignment.validate_against(self.course, {m.key for m in metas})
            self.pm.register(self.assignment.plugin(self.course), name="grader-assignment")
            self.selection = self.assignment.selection(self.course)
        unknown = [h for h in settings.only if h not in self.course.hooks]
        if unknown:
            raise UsageError(f"unknown hook(s) for --only: {', '.join(unknown)}")
        self.cuda = cuda_devices(settings.cuda)
        import torch

        # The reference computes with a worker's intra-op threads (``Limits.threads``, one):
        # float sums split over threads round differently, and this process's idle OpenMP
        # threads spun on the core its worker needed (~0.3 s of CPU a cold run, benchmarks).
        torch.set_num_threads(settings.limits.threads)
        self.warm_up()  # before the level's probe waits for the template
        # Probed once: the strongest level whose workers really start here (docs/confinement.md).
        self.level = choose_level(settings.sandbox, settings.min_sandbox, template=self.template)
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

    def grade(
        self,
        submission: str | Path | Sources,
        seed: int | None = None,
        only: list[str] | None = None,
        keyword: str | None = None,
    ) -> dict:
        """Grade one submission: a directory, a .py, .ipynb or .md file, or ``Sources`` already
        read (``Sources.from_cells``: a kernel's cells; it is closed once graded). Raises
        UsageError (no submission there) or CheckRunError."""
        got: list = []
        self.grade_each(
            [(None, submission)], lambda _, outcome: got.append(outcome), seed=seed, only=only, keyword=keyword
        )
        if isinstance(got[0], BaseException):
            raise got[0]
        return got[0]

    def grade_each(
        self,
        submissions: Iterable[tuple[Any, str | Path | Sources | Job]],
        on_result: Callable[[Any, dict | BaseException], None],
        seed: int | None = None,
        only: list[str] | None = None,
        keyword: str | None = None,
    ) -> None:
        """Grade each ``(key, submission)`` in turn, read lazily (a batch's queue), calling
        ``on_result(key, result)`` as each one ends, or ``on_result(key, error)`` where it could
        not be graded; a ``Job`` brings its own seed and hooks. pytest collects the checks once;
        each submission gets its own workers, its own context and fresh fixtures, and the same
        checks in the same order as when graded alone (a submission's result does not depend on
        its neighbours)."""
        from .pytest_plugin import GradingPlugin
        from .runner import CheckRunError, run_checks

        queue = iter(submissions)
        pending: list[_Run] = []

        def next_run() -> _Run | None:
            if pending:
                return pending.pop()
            for key, path in queue:
                try:
                    job = path if isinstance(path, Job) else Job(path)
                    run = _Run(self, key, job.submission, seed if job.seed is None else job.seed, job.only or only)
                except Exception as e:  # not a directory, a worker that cannot start: say so, go on
                    on_result(key, e)
                    continue
                return run
            return None

        def finish_run(run: _Run, outcomes: list, errors: list[str]) -> None:
            result: dict | BaseException
            try:
                result = run.result(outcomes, errors)
            except Exception as e:
                result = e
            finally:
                run.close()
            on_result(run.key, result)

        # The first submission's worker imports it while pytest starts and collects the checks.
        first = next_run()
        if first is None:
            return
        pending.append(first)
        plugin = GradingPlugin(first.ctx, next_run, finish_run)  # collection reads its course and devices

        def unfinished() -> list[_Run]:
            return [run for run in (*pending, plugin.running) if run is not None]

        try:
            run_checks(plugin, self.course.check_files, keyword if keyword is not None else self.settings.keyword)
            failure: BaseException | None = None
        except CheckRunError as e:
            failure = e
        except BaseException:
            for run in unfinished():
                run.close()
            raise
        if plugin.aborted is not None:
            raise plugin.aborted
        # pytest stopped (a broken plugin, an interrupt) with runs left: the one under way keeps
        # the outcomes it has if pytest only was interrupted, the others get the error.
        for run in unfinished():
            if failure is None and plugin.outcomes:
                finish_run(run, list(plugin.outcomes.values()), list(plugin.internal_errors))
            else:
                run.close()
                on_result(run.key, failure or CheckRunError("pytest stopped before grading this submission"))
        if failure is not None:
            for key, _ in queue:
                on_result(key, failure)

    def cache_for(self, seed: int) -> dict:
        """The store of reference observations for ``seed``: one per seed, the ``MAX_SEEDS`` last
        used kept (a batch uses one seed; a kernel's grades, a fresh one each)."""
        store = self.caches.pop(seed, None)
        if store is None:
            store = {}
            while len(self.caches) >= MAX_SEEDS:
                del self.caches[next(iter(self.caches))]
        self.caches[seed] = store  # the most recent last
        return store

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
            self.template.sweep()
        except WorkerFailure:
            pass  # the template is gone, its workers with it; the next spawn reports it

    def close(self) -> None:
        self.template.close()


def _own_cpu() -> float:
    """CPU seconds this process (all its threads, none of its children) has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Run:
    """One submission's run: its workers (a client on the template, through the level's launcher),
    the context its checks see, and what its result says."""

    def __init__(
        self, grader: Grader, key: Any, submission: str | Path | Sources, seed: int | None, only: list[str] | None
    ):
        from .pytest_plugin import RunContext
        from .sources import Sources
        from .submission import SubmissionClient, hook_and_book_names
        from .view import SubmissionView

        # The submission's sources, read without running them (a notebook's code cells, copied
        # for the workers); a path that is no submission raises UsageError.
        hooks = grader.course.worker_hooks()
        if isinstance(submission, Sources):
            self.sources, submission = submission, str(submission.given)
        else:
            self.sources = Sources.read(submission, hook_and_book_names(hooks))
        settings = grader.settings
        self.grader, self.key, self.submission = grader, key, submission
        seed = settings.seed if seed is None and settings.seed is not None else seed
        self.seed = new_seed() if seed is None else seed
        self.selected = set(only or settings.only or grader.selection)
        self.started = time.monotonic()
        self.cpu_started = _own_cpu()
        try:
            self.launcher = Launcher(
                grader.template,
                grader.level,
                worker_limits(settings.limits, bool(grader.cuda)),
                hidden=grader.hidden,
                cuda=bool(grader.cuda),
            )
        except BaseException:
            self.sources.close()
            raise
        self.client = SubmissionClient(self.sources.root, hooks, self.launcher.spawn, settings.timeouts, self.sources)
        self.ctx = RunContext(
            course=grader.course,
            view=SubmissionView(self.client),
            seed=self.seed,
            cuda_devices=grader.cuda,
            tolerance=grader.tolerance,
            cache=grader.cache_for(self.seed),
            only=self.selected or None,
        )
        self._closed = False
        try:
            # The worker imports the submission while the checks start (or, the first time,
            # while pytest collects them); their selection reads its report (a worker that
            # cannot even start fails every check closed).
            self.client.start()
            # Then the template's late imports: they overlap the checks, and only the checks
            # marked ``optimizer`` (run last, in the second worker) wait for them.
            grader.template.warm()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.client.discovery is None:  # no check asked (a collection error)
                from .workers import WorkerFailure

                try:
                    self.client.load()
                except WorkerFailure:
                    pass
        finally:
            self.client.close()
            self.grader._sweep()
            self.launcher.close()
            self.sources.close()

    def result(self, outcomes: list, errors: list[str]) -> dict:
        from .scoring import build_result

        self.close()
        grader, client = self.grader, self.client
        integrity = self.integrity()
        discovery = client.discovery
        # Warnings are for the student (near-miss names, advice from checks); problems of the
        # checks themselves (a plugin bug) are for the instructor: `grading_errors`.
        warnings = list(discovery.warnings) if discovery else []
        warnings += [a for a in self.ctx.advice if a not in warnings]
        result = build_result(
            grader.course,
            outcomes,
            discovery,
            submission=str(self.submission),
            seed=self.seed,
            devices=["cpu", *grader.cuda],
            sandbox={"level": grader.level.name, "details": grader.level.describe()},
            points=grader.points,
            visibility=grader.visibility,
            warnings=warnings,
            required=grader.assignment.required if grader.assignment else (),
            extra={
                "execution_time": round(time.monotonic() - self.started, 3),
                "stats": {
                    **client.stats,
                    "workers_started": client.workers_started,
                    # The trusted process itself (not its workers): what a submission costs it.
                    "cpu_s": round(_own_cpu() - self.cpu_started, 3),
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                },
                **({"grading_errors": list(errors)} if errors else {}),
                # Files that do not parse, shown atop the reports as Python shows them.
                **(
                    {"syntax_errors": sanitize.tree(discovery.syntax_errors)}
                    if discovery and discovery.syntax_errors
                    else {}
                ),
                # For the instructor only, and worth no points by itself.
                **({"integrity": sanitize.tree(integrity)} if integrity else {}),
                # Reports show only the hooks this run graded (RESULT_SCHEMA keeps them all).
                **({"selection": [h for h in grader.course.hooks if h in self.selected]} if self.selected else {}),
                **({"assignment": grader.assignment.describe(grader.course)} if grader.assignment else {}),
                # Not one source where the grader looked (warnings[0] says where it looked).
                **({"nothing_found": True} if not self.sources.files else {}),
            },
        )
        grader.pm.hook.grader_result(result=result)
        return result

    def integrity(self) -> list[dict]:
        """What the submission reached for beyond its own work: uses in its source of the
        grader's internals, stack frames, the garbage collector or the interpreter's hooks
        (``scan``), and the probe code its workers found changed (``seal``)."""
        from .scan import flags

        # A submission's .py files on the disk (a kernel's cells are not read from it).
        out = [{"source": "source", **f} for f in flags(Path(self.submission))] if self.sources.on_disk else []
        for t in self.client.tampering[:20]:
            out.append(
                {
                    "source": "worker",
                    "what": "changed the grader's own code in the worker",
                    "during": t["during"],
                    "changed": list(t["what"]),
                }
            )
        return out
