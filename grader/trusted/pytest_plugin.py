"""The pytest plugin that runs checks: fixtures, device cells, hook attribution, outcomes.

Registered as an object plugin on an in-process ``pytest.main`` in the trusted process; the
submission never sees pytest (so a ``conftest.py`` in a submission is just a file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from . import failures
from .course import Course
from .failures import CheckFailed, derive_seed
from .submission import BadAnswer, HookUnavailable, SubmissionRaised
from .view import SECOND, SubmissionView
from .workers import WorkerFailure


@dataclass
class CheckOutcome:
    id: str
    hook: str
    key: str
    name: str
    cell: str | None
    status: str  # passed | failed | error | skipped
    message: str = ""
    hint: str | None = None
    not_attempted: bool = False
    duration: float = 0.0
    weight: float | None = None
    doc: str = ""


@dataclass
class RunContext:
    course: Course
    view: SubmissionView
    seed: int
    cuda_devices: list[str]
    tolerance: Callable[[str, str, torch.dtype, str], tuple[float, float]]
    cache: dict = field(default_factory=dict)
    only: set[str] | None = None
    advice: list[str] = field(default_factory=list)  # filled by the run: see failures.advise


NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


def device_cells(cuda: list[str]) -> list:
    cells: list = ["cpu"]
    if cuda:
        cells += cuda
    else:
        cells.append(pytest.param("cuda", marks=pytest.mark.skip(reason="no CUDA device")))
    return cells


class GradingPlugin:
    """Collects the course's checks once, then runs them for each submission ``next_run`` gives
    (one for ``grader run DIR``, a grading process's whole queue in a batch), with that
    submission's context; ``finish_run`` gets each one's outcomes."""

    def __init__(
        self,
        ctx: RunContext,
        next_run: Callable[[], Any] | None = None,
        finish_run: Callable[[Any, list[CheckOutcome], list[str]], None] | None = None,
    ):
        self.ctx = ctx
        self.next_run, self.finish_run = next_run, finish_run
        self.outcomes: dict[str, CheckOutcome] = {}
        self.meta: dict[str, CheckOutcome] = {}
        self.internal_errors: list[str] = []
        self.advice = ctx.advice
        self.collected: list[pytest.Item] = []  # every check with a hook, -k deselected ones too
        self.collect_errors: list[str] = []  # problems of the checks themselves, for every run
        self.running: Any = None  # the run whose checks are under way
        self.aborted: BaseException | None = None  # raised by next_run or finish_run

    def begin(self, ctx: RunContext) -> None:
        """Start a submission's run: nothing of the previous run's outcomes stays."""
        self.ctx, self.advice = ctx, ctx.advice
        self.outcomes = {}
        self.internal_errors = list(self.collect_errors)
        for item in self.collected:
            item._report_sections.clear()  # captured output of the previous run's checks

    # -- configuration ---------------------------------------------------------------------

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "hook(name): the exercise hook a check belongs to")
        config.addinivalue_line("markers", "points(n): default points of a check (1 if absent)")
        config.addinivalue_line(
            "markers",
            "needs_cuda(n): the check needs n CUDA devices; where there are fewer it is skipped for "
            "every submission alike (worth nothing, never passed)",
        )
        config.addinivalue_line(
            "markers",
            "optimizer: the check makes the worker build or step a torch.optim optimizer; it runs "
            "after the others, in the submission's second worker (sub.second()), forked once the "
            "template has imported torch._dynamo",
        )
        # pytest renders every failure as a "long" traceback, parsing the source of each frame
        # (torch's large modules included): ~0.3 s a failure, 40 s for an unattempted starter.
        # The grader reports its own message (classify), so ask for the one-line style, which
        # reads no source. (`--tb` itself belongs to the terminal plugin, which is off.)
        config.option.tbstyle = "line"

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "device" in metafunc.fixturenames and not _parametrized(metafunc, "device"):
            metafunc.parametrize("device", device_cells(self.ctx.cuda_devices))

    # -- fixtures --------------------------------------------------------------------------

    @pytest.fixture(scope="session")
    def sub(self) -> SubmissionView:
        return self.ctx.view

    @pytest.fixture(scope="session")
    def ref(self):
        return self.ctx.course.reference

    @pytest.fixture(scope="session")
    def seed(self) -> int:
        return self.ctx.seed

    @pytest.fixture(scope="session")
    def make_rng(self) -> Callable[..., torch.Generator]:
        def make(*keys: Any) -> torch.Generator:
            return torch.Generator().manual_seed(derive_seed(self.ctx.seed, *keys))

        return make

    @pytest.fixture
    def rng(self, request: pytest.FixtureRequest) -> torch.Generator:
        meta = self.meta.get(request.node.nodeid)
        key = meta.id if meta else request.node.nodeid
        return torch.Generator().manual_seed(derive_seed(self.ctx.seed, key))

    @pytest.fixture
    def tolerance(self, request: pytest.FixtureRequest) -> Callable[[torch.dtype, str], tuple[float, float]]:
        meta = self.meta.get(request.node.nodeid)
        hook, name = (meta.hook, meta.name) if meta else ("", "")
        return lambda dtype, device: self.ctx.tolerance(hook, name, dtype, device)

    @pytest.fixture(scope="session")
    def cache(self) -> Callable[[Any, Callable[[], Any]], Any]:
        store = self.ctx.cache

        def get(key: Any, fn: Callable[[], Any]) -> Any:
            if key not in store:
                store[key] = fn()
            return store[key]

        return get

    # -- collection ------------------------------------------------------------------------

    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        # What a check is (hook, id, points) depends on the check alone: described once. What runs
        # depends on the submission (``select``, for each run).
        items[:] = [it for it in items if self._collect(it)]

    def _collect(self, item: pytest.Item) -> bool:
        """Describe ``item`` once and keep it among the checks; False if it names no known hook."""
        if item.nodeid not in self.meta:
            meta = self._describe(item)
            if meta is None:
                return False
            needs = item.get_closest_marker("needs_cuda")
            if needs is not None:
                n = int(needs.args[0]) if needs.args else 1
                have = len(self.ctx.cuda_devices)
                if have < n:
                    count = {1: "a CUDA device"}.get(n, f"{NUMBERS.get(n, n)} CUDA devices")
                    item.add_marker(pytest.mark.skip(reason=f"not gradable here: needs {count}"))
            self.meta[item.nodeid] = meta
            self.collected.append(item)
        return True

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collect_errors = list(self.internal_errors)

    def select(self, items: list[pytest.Item]) -> list[pytest.Item]:
        """The checks to run for this run's submission, in order; records the others' outcomes
        (not attempted, skipped, not selected) without running them."""
        course = self.ctx.course
        selected = {it.nodeid for it in items}  # the session's items: -k has removed its deselected
        keep = []
        try:
            discovery = self.ctx.view.discovery
            broken = None
        except WorkerFailure as e:  # the submission could not even be loaded: fail everything
            discovery, broken = None, e.message
        for item in self.collected:
            meta = self.meta[item.nodeid]
            if self.ctx.only is not None and meta.hook not in self.ctx.only:
                self._record(meta, "skipped", "not selected in this run")
                continue
            # What the run's selection leaves out and what this machine cannot run (a CUDA cell
            # without CUDA, a check that needs more GPUs) are skipped before the submission is
            # looked at: they count for nothing whatever the submission, so the maximum depends on
            # the run and the machine alone.
            if item.nodeid not in selected:  # whatever its marks (a CUDA cell's skip included)
                self._record(meta, "skipped", "not selected in this run")
                continue
            skip = item.get_closest_marker("skip")
            if skip is not None:
                # Recorded here, as pytest would report it, without its setup and reports: a CPU-only
                # run has one such CUDA cell for every device check (~0.05 s a submission).
                reason = skip.kwargs.get("reason", skip.args[0] if skip.args else "unconditional skip")
                self._record(meta, "skipped", str(reason))
                continue
            status = ("failed", broken) if broken is not None else discovery.status(meta.hook)
            if status is not None:
                kind, message = status
                self._record(
                    meta, "error" if kind == "error" else "failed", message, not_attempted=kind == "not_attempted"
                )
                continue
            keep.append(item)
        # Group a hook's checks together, keeping the section order of the course.
        order = {name: i for i, name in enumerate(course.hooks)}
        keep.sort(key=lambda it: order.get(self.meta[it.nodeid].hook, 0))
        # The checks marked ``optimizer`` run last: in a cold run the template imports
        # torch._dynamo meanwhile, and their worker is forked after that (``WorkerTemplate.warm``).
        # (Results list a hook's checks by id, whatever order they ran in.)
        keep.sort(key=lambda it: it.get_closest_marker("optimizer") is not None)
        return keep

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        """Each run: its context, its checks (the last one's teardown ends every fixture, the
        session's too, so the next run sets them up afresh), then its outcomes."""
        if self.next_run is None:
            return None
        while True:
            # A failure of the queue or of the caller's handling of a result is the caller's to
            # raise (``aborted``), not a problem of the checks for pytest to swallow.
            try:
                run = self.next_run()
            except BaseException as e:
                self.aborted = e
                return True
            if run is None:
                return True
            self.running = run
            self.begin(run.ctx)
            keep = self.select(session.items)
            for i, item in enumerate(keep):
                item.ihook.pytest_runtest_protocol(item=item, nextitem=keep[i + 1] if i + 1 < len(keep) else None)
            self.running = None
            try:
                if self.finish_run is not None:
                    self.finish_run(run, list(self.outcomes.values()), list(self.internal_errors))
            except BaseException as e:
                self.aborted = e
                return True

    def _describe(self, item: pytest.Item) -> CheckOutcome | None:
        params = dict(getattr(getattr(item, "callspec", None), "params", {}) or {})
        hook = params.get("hook")
        marker = item.get_closest_marker("hook")
        if hook is None and marker is not None and marker.args:
            hook = marker.args[0]
        if hook not in self.ctx.course.hooks:
            self.internal_errors.append(
                f"check {item.nodeid} does not name a known hook (give it a `hook` parameter or @pytest.mark.hook)"
            )
            return None
        name = getattr(item, "originalname", item.name).removeprefix("test_")
        cell = params.get("device")
        others = [_param_text(v) for k, v in params.items() if k not in ("hook", "device")]
        key = f"{hook}/{name}" + (f"[{'-'.join(others)}]" if others else "")
        parts = others + ([str(cell)] if cell is not None else [])
        cid = f"{hook}/{name}" + (f"[{'-'.join(parts)}]" if parts else "")
        points = item.get_closest_marker("points")
        doc = (getattr(getattr(item, "function", None), "__doc__", None) or "").strip().splitlines()
        return CheckOutcome(
            id=cid,
            hook=str(hook),
            key=key,
            name=name,
            cell=str(cell) if cell is not None else None,
            status="skipped",
            weight=float(points.args[0]) if points and points.args else None,
            doc=doc[0] if doc else "",
        )

    # -- outcomes --------------------------------------------------------------------------

    def _record(
        self,
        meta: CheckOutcome,
        status: str,
        message: str = "",
        hint: str | None = None,
        not_attempted: bool = False,
        duration: float = 0.0,
    ) -> None:
        out = CheckOutcome(**{**meta.__dict__})
        out.status, out.message, out.hint, out.not_attempted = status, message, hint, not_attempted
        out.duration = duration
        self.outcomes[out.id] = out

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None):
        # Always the same worker for the same check, cold run or batch: a submission's global
        # state cannot make the two differ.
        with self.ctx.view.lane(SECOND if item.get_closest_marker("optimizer") else None):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        failures._advice = []
        try:
            return (yield)
        finally:
            meta = self.meta.get(item.nodeid)
            for text in failures._advice or []:
                note = f"{meta.id}: {text}" if meta else text
                if note not in self.advice:
                    self.advice.append(note)
            failures._advice = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        rep = yield
        meta = self.meta.get(item.nodeid)
        if meta is None or call.when == "teardown":
            return rep
        if rep.skipped:
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            self._record(meta, "skipped", str(reason).removeprefix("Skipped: "), duration=rep.duration)
        elif call.excinfo is not None:
            status, message, hint, na = classify(call.excinfo.value, meta)
            self._record(meta, status, message, hint, na, duration=rep.duration)
        elif call.when == "call":
            self._record(meta, "passed", duration=rep.duration)
        return rep

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.internal_errors.append(f"could not collect {report.nodeid or 'checks'}: {report.longreprtext[-1500:]}")

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        # A check deselected before this plugin saw it (a course's conftest.py: -k deselects after
        # it) is still one of the checks: "not selected in this run" in every run (``select``).
        for item in items:
            self._collect(item)


def _parametrized(metafunc: pytest.Metafunc, name: str) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else ""
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if name in names:
            return True
    return False


def _param_text(value: Any) -> str:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return str(value)
    return getattr(value, "__name__", type(value).__name__)


def classify(exc: BaseException, meta: CheckOutcome) -> tuple[str, str, str | None, bool]:
    """(status, message, hint, not_attempted) for an exception raised by a check."""
    if isinstance(exc, CheckFailed):
        return "failed", exc.message, exc.hint, False
    if isinstance(exc, HookUnavailable):
        if exc.status == "not_attempted":
            return "failed", exc.message, None, True
        return "error", exc.message, None, False
    if isinstance(exc, SubmissionRaised):
        if exc.error.get("type") == "NotImplementedError":
            # A stub that still raises is "not attempted", wherever the check called it.
            return "failed", f"not attempted: `{exc.hook}` raises NotImplementedError", None, True
        return "failed", str(exc), None, False
    if isinstance(exc, WorkerFailure):
        message = exc.message
        tail = (exc.output or "").strip()
        if tail:
            message += "; last output: " + tail[-300:].replace("\n", " | ")
        return "failed", message, None, False
    if isinstance(exc, AssertionError):
        text = str(exc).strip() or "assertion failed"
        return "failed", text[:2000], None, False
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        raise exc
    return "error", f"internal error in check {meta.id}: {type(exc).__name__}: {exc}"[:2000], None, False


__all__ = ["GradingPlugin", "RunContext", "CheckOutcome", "derive_seed", "classify", "BadAnswer"]
