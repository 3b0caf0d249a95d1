"""The check author kit: what a check module imports, and the fixtures it can ask for.

Checks are plain pytest functions run in the trusted process. A check belongs to the hook named
by its ``hook`` parameter (or ``@pytest.mark.hook("name")``); its id is
``hook/<function name without test_>[<other params>]``.

Fixtures (provided by the grader's pytest plugin):

``sub``
    ``SubmissionView``: ask the worker to call a hook (``sub.call``), to build and run a module
    (``sub.module``), for list-storage facts (``sub.facts``), files (``sub.read_file``), the
    second worker, where the main worker's requests never ran (``sub.second()``), or a fresh
    one (``sub.fresh()``).
``ref``
    The reference: ``ref.mlp()``, ``ref.my_linear(in_units=3, units=2)``.
``device``
    ``"cpu"``, then each ``"cuda:i"``; the CUDA cell is skipped when there is no CUDA device.
``seed``
    The run's seed. ``rng`` is a ``torch.Generator`` for this check; ``make_rng(*keys)`` gives
    the same stream to every check using the same keys (so they can share one observation).
``tolerance``
    ``tolerance(dtype, device) -> (rtol, atol)``, after plugins' ``grader_tolerance``.
``cache``
    ``cache(key, fn)``: compute once per run (reference observations are reused across
    submissions of a batch).

Fail with ``fail(message, hint=...)`` (or a plain ``assert``); the message is shown to the
student and must never contain expected values.

A module's case (the reference's side of its checks) is a few lines with ``case_fixture``::

    @case_fixture
    def case(ref, hook, seed, device):
        \"\"\"The reference side of ``hook`` on this check's device.\"\"\"
        return module_case(hook, getattr(ref, hook), inputs(seed), seed=seed, device=device)

Exercise plugins mark their specs with ``hookspec`` (and ``known_as`` for the course text's own
names of an implementation) and their harness hooks with ``hookimpl`` (both re-exported here).

``__all__`` is the public API; ``docs/plugin-authors.md`` documents every name in it (a test
keeps the two in step).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pytest
import torch
from torch import nn
from torch.autograd.gradcheck import GradcheckError  # the attribute torch.autograd.gradcheck is the function

from . import hookimpl, hookspec, sanitize
from .trusted.compare import default_tolerance, mismatch, same_values
from .trusted.course import known_as
from .trusted.discovery import exception_text
from .trusted.failures import CheckFailed, advise, derive_seed
from .trusted.student_files import UnreadableFile, read_safetensors
from .trusted.submission import BadAnswer, HookUnavailable, SubmissionRaised
from .trusted.view import (
    Arch,
    ArchList,
    CallResult,
    Factory,
    Handle,
    ModuleObservation,
    ModuleSummary,
    Run,
    Scratch,
    SubmissionView,
    TensorOut,
    decode_value,
)
from .trusted.workers import WorkerFailure
from .worker import arch, observe
from .worker.arch import seeded  # the worker's seeded builds use the same one

__all__ = [
    # hints
    "BUFFER_HINT",
    "DATA_HINT",
    "GIVEN_HINT",
    "LIST_HINT",
    "TIE_COPY_HINT",
    "TIE_STORAGE_HINT",
    # classes and exceptions
    "Arch",
    "ArchList",
    "BadAnswer",
    "CallResult",
    "CheckFailed",
    "Factory",
    "FunctionalSGD",
    "Handle",
    "HookUnavailable",
    "ModuleCase",
    "ModuleObservation",
    "ModuleSummary",
    "Run",
    "Scratch",
    "SubmissionRaised",
    "SubmissionView",
    "TensorOut",
    "UnreadableFile",
    "WorkerFailure",
    # functions, markers and modules
    "advise",
    "arch",
    "case_fixture",
    "cuda_devices",
    "decode_value",
    "default_tolerance",
    "derive_seed",
    "describe_module",
    "device_of",
    "exception_text",
    "expect",
    "expect_buffer_values",
    "expect_as_built",
    "expect_buffers",
    "expect_gradients",
    "expect_is_module",
    "expect_module",
    "expect_outputs",
    "expect_plain",
    "expect_sound",
    "expect_structure",
    "expect_tied",
    "fail",
    "fail_raised",
    "gradcheck",
    "hinted",
    "hook_of",
    "hookimpl",
    "hookspec",
    "known_as",
    "mismatch",
    "module_case",
    "read_safetensors",
    "same_values",
    "seeded",
    "short",
]


def fail(message: str, hint: str | None = None) -> NoReturn:
    """End the check as failed: ``message`` says what differed (shown to the student, so never
    an expected value), ``hint`` names the likely mistake."""
    raise CheckFailed(message, hint)


def fail_raised(hook: str, call: str, error: dict, hint: str | None = None) -> NoReturn:
    """End the check because the submission's ``hook`` raised ``error`` (the worker's description)
    during ``call`` (how the message names it). A stub's ``NotImplementedError`` makes the hook
    "not attempted", as when the check calls the hook directly; anything else fails the check."""
    if error.get("type") == "NotImplementedError":
        raise SubmissionRaised(hook, error)
    fail(f"{call} raised {exception_text(error)}", hint)


def expect(condition: Any, message: str, hint: str | None = None) -> None:
    """``fail(message, hint)`` unless ``condition`` holds."""
    if not condition:
        fail(message, hint)


def short(names: Sequence[str], n: int = 4) -> str:
    """Names for a message: the first ``n`` in backticks (sanitized, ``grader.sanitize.name``:
    a submission chooses them), then "and k more"."""
    names = list(names)
    shown = ", ".join(f"`{sanitize.name(x)}`" for x in names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def device_of(request: Any, default: str = "cpu") -> str:
    """The device cell of the running check (``default`` for checks without one), for fixtures
    that build cases without making every check that uses them device-parametrized."""
    params = getattr(getattr(request.node, "callspec", None), "params", {}) or {}
    return str(params.get("device", default))


def cuda_devices(request: Any) -> list[str]:
    """The CUDA devices this run grades on (``["cuda:0", …]``; empty without CUDA or with
    ``--no-cuda``), for checks that need a number of GPUs rather than one device cell."""
    for plugin in request.config.pluginmanager.get_plugins():
        ctx = getattr(plugin, "ctx", None)
        if ctx is not None and isinstance(getattr(ctx, "cuda_devices", None), list):
            return list(ctx.cuda_devices)
    return []


def hook_of(request: Any) -> str | None:
    """The hook of the running check (its ``hook`` parameter, else its ``@pytest.mark.hook``),
    for fixtures that build cases without asking for ``hook`` themselves."""
    params = getattr(getattr(request.node, "callspec", None), "params", {}) or {}
    if "hook" in params:
        return str(params["hook"])
    marker = request.node.get_closest_marker("hook")
    return str(marker.args[0]) if marker is not None and marker.args else None


def describe_module(module: nn.Module) -> ModuleSummary:
    """A module of the trusted side's own (a reference's) described as the worker describes a
    submission's: parameters (lazy or not), buffers, submodules. No values."""
    return ModuleSummary(observe.summarize(module), {})


@contextlib.contextmanager
def hinted(hint: str | None) -> Iterator[None]:
    """Give a failure raised in the block that has no hint of its own ``hint`` (the known
    mistake a check recognized before running an expectation that does not know it)."""
    try:
        yield
    except CheckFailed as e:
        if hint and not e.hint:
            e.hint = hint
        raise


# -- case fixtures ------------------------------------------------------------------------------

_CASE_ARGUMENTS = ("ref", "hook", "seed", "device")


def case_fixture(build: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Make ``build`` a fixture that gives the reference's side of a check (its case): built
    once per run and kept (``cache``), for the check's device cell, with torch's global
    generator seeded while it builds.

    ``build`` takes, by name, any of ``ref``, ``hook`` (the check's, ``hook_of``), ``seed`` (the
    run's) and ``device`` (the check's cell, ``device_of``: ``"cpu"`` for a check without one),
    and returns the case; one case is built for each distinct value of the arguments it takes.
    The fixture is named after ``build`` (or ``name``), and its docstring is ``build``'s::

        @case_fixture
        def case(ref, hook, seed, device):
            \"\"\"The reference side of ``hook`` on this check's device.\"\"\"
            return module_case(hook, getattr(ref, hook), inputs(seed), seed=seed, device=device)

    Everything a build uses must come from these arguments: the case is shared by every check
    that asks for the fixture, and by every submission a grading process grades."""

    def make(build: Callable[..., Any]) -> Any:
        wanted = list(inspect.signature(build).parameters)
        unknown = [a for a in wanted if a not in _CASE_ARGUMENTS]
        if unknown:
            raise TypeError(
                f"case_fixture: `{build.__qualname__}` takes {', '.join(unknown)}; a case's build takes "
                f"only {', '.join(_CASE_ARGUMENTS)}"
            )
        key = f"{build.__module__}.{build.__qualname__}"

        def fixture(request: Any, ref: Any, seed: int, cache: Callable[[Any, Callable[[], Any]], Any]) -> Any:
            given = {"ref": ref, "seed": seed}
            if "hook" in wanted:
                given["hook"] = hook_of(request)
            if "device" in wanted:
                given["device"] = device_of(request)
            args = {a: given[a] for a in wanted}
            cell = tuple(args.get(a) for a in ("hook", "device"))

            def compute() -> Any:
                with seeded(derive_seed(seed, "case", key, *cell)):
                    return build(**args)

            return cache(("case", key, seed, *cell), compute)

        # Not functools.wraps: pytest would read the fixtures to request from build's signature.
        fixture.__name__ = fixture.__qualname__ = build.__name__
        fixture.__module__, fixture.__doc__ = build.__module__, build.__doc__
        return pytest.fixture(name=name or build.__name__)(fixture)

    return make if build is None else make(build)


def _vjp_loss(y: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """A scalar whose backward equals ``y.backward(g)`` for real parameters (for complex ``y``,
    Re Σ conj(g)·y). ``y.backward(g)`` itself imports sympy on first use (half a second)."""
    return (y * g.conj()).real.sum() if y.is_complex() else (y * g).sum()


# -- module cases: the reference side of a module check -----------------------------------------


@dataclass
class ModuleCase:
    """The reference's side of a module check: its parameters (to transplant), the inputs and
    upstream gradients, and what the reference computed from them."""

    hook: str
    device: str
    args: dict
    state: dict[str, torch.Tensor] | None
    inputs: list[list[torch.Tensor]]
    grad_outputs: list[torch.Tensor | None]
    outputs: list[Any]
    input_grads: list[list[torch.Tensor | None]]
    param_grads: list[dict[str, torch.Tensor | None]]  # every name, a tied Parameter's each time
    shapes: dict[str, tuple[int, ...]]
    num_params: int
    buffers: dict[str, tuple[int, ...]]
    warmup: list[torch.Tensor] = field(default_factory=list)
    grads: bool = True
    # Gradients of the modules handed to the hook, by argument label (``net1.0.weight``), for
    # hooks whose parameter names are the submission's choice (then ``state`` is None).
    given_grads: list[dict[str, torch.Tensor | None]] = field(default_factory=list)
    # Submodules another hook builds and judges (``{"2.": "fixed_hidden_mlp"}``: the third part of
    # ``chimera``): a constant kept as a plain attribute there is that hook's finding, advised here,
    # so one mistake costs points in one place.
    parts: dict[str, str] = field(default_factory=dict)

    # The runs were made in evaluation mode (``module.eval()``), the submission's too.
    eval: bool = False
    # The reference's buffers after its runs, by name (running statistics, counters), on the CPU.
    buffer_values: dict[str, torch.Tensor] = field(default_factory=dict)

    def observe(self, sub: SubmissionView, **kw: Any) -> ModuleObservation:
        """Ask the worker to build the submission's module through the hook with this case's
        arguments, transplant the state, and run the same inputs and backward, in evaluation
        mode for a case built with ``eval=True`` (``kw``: more options of ``sub.module``, such
        as ``before=True``, or ``values=True`` for the buffers' values after the runs, which
        ``expect_buffer_values`` compares)."""
        if self.given_grads:
            kw.setdefault("given", True)
        if self.eval:
            kw.setdefault("eval", True)
        return sub.module(
            self.hook,
            args=self.args,
            state=self.state,
            inputs=self.inputs,
            grad_outputs=self.grad_outputs,
            device=self.device,
            grads=self.grads,
            warmup=self.warmup,
            **kw,
        )


def module_case(
    hook: str,
    build: Callable[[], nn.Module],
    inputs: Sequence[Sequence[torch.Tensor]],
    *,
    seed: int,
    device: str = "cpu",
    args: dict | None = None,
    grads: bool = True,
    warmup: Sequence[torch.Tensor] = (),
    transplant: bool = True,
    given: Callable[[], dict] | None = None,
    parts: dict[str, str] | None = None,
    eval: bool = False,
) -> ModuleCase:
    """Build the reference with ``build()`` under ``seed``, run it on ``device`` for each input
    (and a seeded upstream gradient), and record everything a check compares against.

    The module runs as built, in training mode (batch statistics, dropout on, running
    statistics updated by each forward), unless ``eval``: then both sides call ``.eval()``
    before the runs. ``warmup`` inputs go through it first, without gradients and in training
    mode, before its state is recorded (lazy layers take their shapes; running statistics move
    too, and are transplanted with the rest of the state). The reference's buffers after the
    runs are kept in ``buffer_values`` for ``expect_buffer_values``.

    ``transplant=False``: the submission's parameter names are its own choice (the values
    arrive with the modules in ``args``), so no state is transplanted. ``given()``: the
    reference's copies of the modules in ``args`` (``{"net1": module, "modules": [...],
    "make_block": factory}``), whose gradients are then compared by argument label. ``parts``:
    submodules (by name prefix) that another hook builds and judges (``ModuleCase.parts``)."""
    with seeded(seed):
        net = build()
        if warmup:
            with torch.no_grad():
                for w in warmup:
                    net(w)
        state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        shapes = {n: tuple(p.shape) for n, p in net.named_parameters()}
        buffers = {n: tuple(b.shape) for n, b in net.named_buffers()}
        num = sum(p.numel() for p in net.parameters())
        net = net.to(device)
        if eval:
            net.eval()
        gen = torch.Generator().manual_seed(seed + 1)
        outputs, in_grads, p_grads, g_outs, given_grads = [], [], [], [], []
        given_params = observe.given_parameters(given()) if given is not None else []
        for x in inputs:
            xs = [t.detach().clone().to(device) for t in x]
            if grads:
                xs = [t.requires_grad_(True) if t.is_floating_point() or t.is_complex() else t for t in xs]
            for p in net.parameters():
                p.grad = None
            for _, q in given_params:
                q.grad = None
            y = net(*xs)
            outputs.append(y.detach().cpu() if isinstance(y, torch.Tensor) else y)
            g = None
            if grads and isinstance(y, torch.Tensor) and y.grad_fn is not None:
                if y.is_complex():
                    g = torch.complex(torch.randn(y.shape, generator=gen), torch.randn(y.shape, generator=gen)).to(
                        y.dtype
                    )
                else:
                    g = torch.randn(y.shape, generator=gen, dtype=y.dtype)
                _vjp_loss(y, g.to(device)).backward()
            g_outs.append(g)
            in_grads.append(
                [t.grad.detach().cpu() if isinstance(t, torch.Tensor) and t.grad is not None else None for t in xs]
            )
            # Every name of a tied Parameter, so the gradient reaching each position is compared.
            p_grads.append(
                {
                    n: (p.grad.detach().cpu() if p.grad is not None else None)
                    for n, p in net.named_parameters(remove_duplicate=False)
                }
            )
            if given_params:
                given_grads.append(
                    {n: (p.grad.detach().cpu() if p.grad is not None else None) for n, p in given_params}
                )
        buffer_values = {n: b.detach().cpu().clone() for n, b in net.named_buffers()}
    return ModuleCase(
        hook=hook,
        device=device,
        args=dict(args or {}),
        state=state if transplant else None,
        inputs=[[t.detach().cpu() for t in x] for x in inputs],
        grad_outputs=g_outs,
        outputs=outputs,
        input_grads=in_grads,
        param_grads=p_grads,
        shapes=shapes,
        num_params=num,
        buffers=buffers,
        warmup=list(warmup),
        grads=grads,
        given_grads=given_grads,
        parts=dict(parts or {}),
        eval=eval,
        buffer_values=buffer_values,
    )


# -- expectations -------------------------------------------------------------------------------

# Hints for the mistakes the expectations below recognize, for checks to reuse.
#: Autograd cut by ``.data``/``.detach()`` in the forward (a gradient is missing).
DATA_HINT = "`.data` or `.detach()` in the forward cuts autograd: use the Parameter itself"
#: Submodules kept in a plain Python list, which torch does not register.
LIST_HINT = "modules in a plain Python list are invisible to torch: use nn.ModuleList or add_module"
#: A constant tensor kept as a plain attribute, which ``.to(device)`` leaves behind.
BUFFER_HINT = "register constant tensors with `self.register_buffer(...)` so `.to(device)` moves them"
#: Modules handed to the hook copied (or detached) instead of used as they are.
GIVEN_HINT = "use the module objects you were given (not copies) in the forward, and keep autograd intact (no `.data`/`.detach()`)"
#: A tie made of independent copies of a module.
TIE_COPY_HINT = "use the very same module object at each position (do not copy or re-create it)"
#: A tie made of two Parameters on one storage instead of one Parameter.
TIE_STORAGE_HINT = "wrapping `.data` of one Parameter in a new nn.Parameter shares memory, not the Parameter: reuse the module (or Parameter) object itself"


def _call_text(hook: str, case: ModuleCase | None) -> str:
    return f"`{hook}(...)`" if case and case.args else f"`{hook}()`"


def expect_is_module(obs: ModuleObservation, call: str | None = None) -> None:
    """The hook returned an nn.Module at all; ``call`` is how the message writes the call
    (default `` `hook()` ``)."""
    if obs.not_module is not None:
        fail(f"{call or _call_text(obs.hook, None)} returned a {obs.not_module['type']}, not an nn.Module")


def expect_module(obs: ModuleObservation, case: ModuleCase | None = None) -> ModuleObservation:
    """The hook returned an nn.Module whose parameters took the reference's values by name."""
    hook = obs.hook
    expect_is_module(obs, _call_text(hook, case))
    if obs.warmup_error:
        fail(f"the first forward (which initializes lazy layers) raised {exception_text(obs.warmup_error)}")
    t = obs.transplant
    if t is not None and not t.get("done"):
        parts = []
        missing = [str(x) for x in t.get("missing", [])]
        unexpected = [str(x) for x in t.get("unexpected", [])]
        if missing:
            parts.append(f"missing {short(missing)}")
        if unexpected:
            parts.append(f"unexpected {short(unexpected)}")
        for s in t.get("shapes", [])[:3]:
            parts.append(
                f"`{s.get('name')}` has shape {tuple(s.get('found', []))}, expected {tuple(s.get('expected', []))}"
            )
        names = list(case.state) if case and case.state is not None else []
        hint = None
        if missing and obs.after is not None and obs.after.hidden_modules:
            hint = LIST_HINT  # the missing names sit in modules torch cannot see
        expected = f" (the contract's names: {short(names, 6)})" if names and (missing or unexpected) else ""
        fail("parameter names or shapes differ from the contract: " + "; ".join(parts) + expected, hint)
    # A tensor left behind by ``.to(device)`` (``obs.stray``) is not a failure here: the worker
    # moved it along for the runs, and ``expect_structure`` judges it on every machine alike.
    if obs.device_error:
        fail(f"moving the module with `.to(...)` raised {exception_text(obs.device_error)}")
    return obs


def _batch(case: ModuleCase, i: int) -> str:
    shapes = [tuple(t.shape) for t in case.inputs[i]]
    return "input of shape " + ", ".join(str(s) for s in shapes)


def expect_outputs(
    obs: ModuleObservation,
    case: ModuleCase,
    tolerance: Callable[[torch.dtype, str], tuple[float, float]],
    hint: str | None = None,
) -> None:
    """Each run's output equals the reference's (type, shape, dtype, device, values)."""
    expect_module(obs, case)
    for i, run in enumerate(obs.runs):
        if run.error:
            hint_ = BUFFER_HINT if "device" in str(run.error.get("message", "")) and case.device != "cpu" else hint
            fail(f"the forward raised {exception_text(run.error)} for {_batch(case, i)}", hint_)
        expected = case.outputs[i]
        y = run.y
        if not isinstance(y, TensorOut):
            fail(f"the forward returned {type(y).__name__} for {_batch(case, i)}, expected a tensor")
        if _norm(y.device) != _norm(case.device):
            fail(f"the output is on {y.device}, expected {case.device} (the input's device)", BUFFER_HINT)
        rtol, atol = tolerance(expected.dtype, case.device)
        problem = mismatch(y.value, expected, rtol, atol, what=f"the output for {_batch(case, i)}")
        if problem:
            fail(problem, hint)
    if len(obs.runs) != len(case.outputs):
        fail("not every input was run")


def _norm(device: str) -> str:
    return "cuda:0" if device == "cuda" else device


def expect_gradients(
    obs: ModuleObservation,
    case: ModuleCase,
    tolerance: Callable[[torch.dtype, str], tuple[float, float]],
    hint: str | None = None,
) -> None:
    """After a backward with the same upstream gradient, the input's and every parameter's
    gradient equal the reference's; a missing gradient is named."""
    expect_module(obs, case)
    for i, run in enumerate(obs.runs):
        if run.error:
            fail(f"the forward raised {exception_text(run.error)} for {_batch(case, i)}")
        y, want = run.y, case.outputs[i] if i < len(case.outputs) else None
        if isinstance(y, TensorOut) and isinstance(want, torch.Tensor) and tuple(y.value.shape) != tuple(want.shape):
            fail(
                f"the output for {_batch(case, i)} has shape {tuple(y.value.shape)}, expected {tuple(want.shape)}, so the upstream gradient does not fit it"
            )
        if run.backward_error:
            cut = "grad_fn" in run.backward_error or "does not require grad" in run.backward_error
            fail(f"backward failed for {_batch(case, i)}: {run.backward_error}", DATA_HINT if cut else None)
        for name, expected in case.param_grads[i].items() if case.state is not None else ():
            if expected is None:
                continue
            if name not in run.grads:
                fail(f"parameter `{name}` is not registered in the module")
            got = run.grads[name]
            if got is None:
                fail(f"parameter `{name}` received no gradient", DATA_HINT)
            rtol, atol = tolerance(expected.dtype, case.device)
            problem = mismatch(got, expected, rtol, atol, what=f"the gradient of `{name}` ({_batch(case, i)})")
            if problem:
                fail(problem, hint)
        for j, expected in enumerate(case.input_grads[i]):
            if expected is None:
                continue
            got = run.dx[j] if j < len(run.dx) else None
            if got is None:
                fail(f"no gradient reached the input ({_batch(case, i)})", DATA_HINT)
            rtol, atol = tolerance(expected.dtype, case.device)
            problem = mismatch(got, expected, rtol, atol, what=f"the input's gradient ({_batch(case, i)})")
            if problem:
                fail(problem, hint)
        for label, expected in case.given_grads[i].items() if i < len(case.given_grads) else ():
            if expected is None:
                continue
            arg = label.split(".", 1)[0]
            if label not in run.given:
                fail(f"no gradient for `{label}`: that module was never obtained from `{arg}`")
            got = run.given[label]
            if got is None:
                fail(f"no gradient reached `{label}`, a parameter of the module passed as `{arg}`", GIVEN_HINT)
            rtol, atol = tolerance(expected.dtype, case.device)
            problem = mismatch(got, expected, rtol, atol, what=f"the gradient of `{label}` ({_batch(case, i)})")
            if problem:
                fail(problem, hint)


def expect_sound(after: ModuleSummary | None, allow_lazy: bool = False) -> ModuleSummary:
    """The module's description after a forward, failing when there is none, when describing it
    raised, when a submodule sits in a plain container torch cannot see, or (unless
    ``allow_lazy``) when parameters are still uninitialized."""
    if after is None:
        fail("the module could not be described")
    if after.errors:
        fail(f"the module is broken: {after.errors[0]}")
    expect_plain(after)
    if after.hidden_modules:
        h = after.hidden_modules[0]
        fail(
            f"submodule `{h.get('name')}` ({h.get('type')}) is kept in a plain container, so torch does not register it",
            LIST_HINT,
        )
    if after.lazy and not allow_lazy:
        fail("some parameters are still uninitialized (lazy) after a forward")
    return after


def expect_plain(summary: ModuleSummary) -> None:
    """torch's bookkeeping of the module is its plain kind: ``dict``s of ``nn.Parameter``s and
    tensors, a tree without cycles. A ``dict`` subclass in ``_parameters``, a Parameter subclass,
    is not described as if it were (``ModuleSummary.findings``)."""
    if summary.findings:
        fail(f"the module replaced torch's own bookkeeping: {summary.findings[0]}")


def expect_as_built(obs: ModuleObservation) -> None:
    """The module the hook returned (``obs.before``) is the one the checks looked at after
    moving and running it (``obs.after``): plain bookkeeping, no modules hidden in plain
    containers, and the same Parameters shared by the same names. A module that ties, unties or
    registers modules only once the grader uses it (in its ``_apply``, ``train`` or ``forward``)
    is judged as returned."""
    before, after = obs.before, obs.after
    if before is None or after is None:
        return
    expect_plain(before)
    if before.hidden_modules and not after.hidden_modules:
        h = before.hidden_modules[0]
        fail(
            f"as returned, submodule `{h.get('name')}` ({h.get('type')}) is kept in a plain container, so torch does not register it",
            LIST_HINT,
        )
    names = {str(p.get("name")) for p in before.params} & {str(p.get("name")) for p in after.params}

    def ties(summary: ModuleSummary) -> set[frozenset[str]]:
        groups = (frozenset(n for n in g if n in names) for g in summary.tie_groups())
        return {g for g in groups if len(g) > 1}

    formed, broken = ties(after) - ties(before), ties(before) - ties(after)
    if formed or broken:
        group = sorted(next(iter(formed or broken)))
        how = "are one Parameter only after" if formed else "stop being one Parameter after"
        fail(
            f"{short(group)} {how} the grader moved or ran the module: "
            "the module the hook returns must already be the one it describes"
        )


def expect_structure(obs: ModuleObservation, case: ModuleCase) -> None:
    """Parameters registered under the contract's names and shapes, counted once each; the
    contract's buffers registered as buffers and no other constant tensor kept as a plain
    attribute; no modules hidden in plain containers; nothing lazy left after a forward; and the
    module as the hook returned it shares the same Parameters (``expect_as_built``). All of it
    device-free: the verdict is the same on every machine."""
    expect_module(obs, case)
    expect_as_built(obs)
    after = expect_sound(obs.after)
    expect_buffers(after, case.buffers, case.parts)
    plain = [n for n in obs.plain_tensors if n not in case.buffers and not _advised_part(n, case.parts)]
    if plain:
        fail(
            f"tensor `{plain[0]}` is a plain attribute, not a buffer: `.to(device)` leaves it behind "
            "(on a GPU the forward then mixes devices) and `state_dict()` omits it",
            BUFFER_HINT,
        )
    got = {k: v for k, v in after.shapes().items()}
    want = {k: tuple(v) for k, v in case.shapes.items()}
    missing = [n for n in want if n not in got]
    extra = [n for n in got if n not in want]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {short(missing)}")
        if extra:
            parts.append(f"unexpected {short(extra)}")
        fail("parameters differ from the contract: " + "; ".join(parts))
    for n, shape in want.items():
        if got[n] != shape:
            fail(f"parameter `{n}` has shape {got[n]}, expected {shape}")
    if after.num_params != case.num_params:
        fail(f"the module has {after.num_params} parameters, expected {case.num_params}")


def expect_buffers(
    after: ModuleSummary, buffers: dict[str, tuple[int, ...]], parts: dict[str, str] | None = None
) -> None:
    """Each named constant tensor is a buffer (it moves with ``.to(device)``), not a plain
    attribute and not a Parameter. Device-free: a plain attribute fails here on every machine,
    not only where a GPU shows that it stays behind. In ``parts`` (submodules another hook
    builds and judges, ``ModuleCase.parts``) a plain attribute is advised, not failed."""
    have = {str(b.get("name")): b for b in after.buffers}
    attrs = {str(t.get("name")) for t in after.tensor_attrs}
    params = {str(p.get("name")) for p in after.params}
    for name, shape in buffers.items():
        if name in have:
            found = tuple(have[name].get("shape") or ())
            if not have[name].get("lazy") and found != tuple(shape):
                fail(f"buffer `{name}` has shape {found}, expected {tuple(shape)}")
            continue
        if name in params:
            fail(
                f"`{name}` is a Parameter, so an optimizer would train it; the contract makes it a constant buffer",
                BUFFER_HINT,
            )
        if name in attrs and _advised_part(name, parts or {}):
            continue
        if name in attrs:
            fail(
                f"`{name}` is a plain tensor attribute, not a buffer: `.to(device)` leaves it behind "
                "(on a GPU the forward then mixes devices) and `state_dict()` omits it",
                BUFFER_HINT,
            )
        fail(f"buffer `{name}` is missing")


def _advised_part(name: str, parts: dict[str, str]) -> bool:
    """Whether ``name`` lies in a submodule another hook judges: if so, say so, without failing."""
    for prefix, hook in parts.items():
        if name.startswith(prefix):
            advise(
                f"`{name}` is a plain tensor attribute, not a buffer, in the part your `{hook}` builds: "
                f"`{hook}/structure` counts it; fix it there"
            )
            return True
    return False


def expect_buffer_values(
    obs: ModuleObservation,
    case: ModuleCase,
    tolerance: Callable[[torch.dtype, str], tuple[float, float]],
    names: Sequence[str] | None = None,
    hint: str | None = None,
) -> None:
    """After the same runs, each buffer of the reference (``names``: only these) holds the
    reference's value in the submission's module too: running statistics and counters that
    the forwards update in training mode, and leave alone in evaluation mode. The observation
    must carry the values: ``case.observe(sub, values=True)``."""
    expect_module(obs, case)
    after = expect_sound(obs.after)
    if not any(e.get("value") is not None for e in after.params + after.buffers):
        raise TypeError("expect_buffer_values needs the values after the runs: observe with `values=True`")
    for i, run in enumerate(obs.runs):
        if run.error:
            fail(f"the forward raised {exception_text(run.error)} for {_batch(case, i)}")
    buffers = {str(b.get("name")) for b in after.buffers}
    runs = f"{len(case.inputs)} {'evaluation' if case.eval else 'training'}-mode forward{'s' if len(case.inputs) != 1 else ''}"
    for name in names if names is not None else list(case.buffer_values):
        expected = case.buffer_values[name]
        if name not in buffers:
            fail(
                f"buffer `{name}` is missing",
                BUFFER_HINT if name in {str(t.get("name")) for t in after.tensor_attrs} else None,
            )
        got = after.values.get(name)
        if got is None:
            fail(f"buffer `{name}` has no value after {runs}")
        rtol, atol = tolerance(expected.dtype, case.device)
        problem = mismatch(got, expected, rtol, atol, what=f"buffer `{name}` after {runs}")
        if problem:
            fail(problem, hint)


def expect_tied(
    after: ModuleSummary | None,
    groups: Sequence[Sequence[str]],
    what: str = "the module",
    before: ModuleSummary | None = None,
) -> None:
    """Each group of names is one Parameter object. Two Parameters on one storage and two
    independent copies are different findings, each with its own message. With ``before`` (the
    module as the hook returned it, ``ModuleObservation.before``), the groups must hold there
    too: a tie made only when the grader moves or runs the module is not the module returned."""
    if before is not None:
        expect_tied(before, groups, f"{what}, as returned,")
    if after is None:
        fail(f"{what} could not be described")
    expect_plain(after)
    if not after.params:
        fail(f"{what} has no registered parameters", LIST_HINT if after.hidden_modules else None)
    for group in groups:
        entries = []
        for name in group:
            p = after.param(name)
            if p is None:
                fail(f"{what} has no parameter `{name}` (found {short([str(x.get('name')) for x in after.params], 6)})")
            entries.append(p)
        first, first_name = entries[0], group[0]
        for name, p in zip(group[1:], entries[1:]):
            if p.get("id") == first.get("id"):
                continue
            if p.get("storage") is not None and p.get("storage") == first.get("storage"):
                fail(
                    f"`{first_name}` and `{name}` are two Parameter objects on one storage, not one Parameter: "
                    "each gets its own gradient and optimizer step, so the tie breaks in training",
                    TIE_STORAGE_HINT,
                )
            fail(
                f"`{first_name}` and `{name}` are independent copies (separate Parameters, separate memory), not one tied Parameter",
                TIE_COPY_HINT,
            )


# -- gradcheck across the boundary --------------------------------------------------------------


_SLOW_RERUN = "_run_slow_mode_and_get_error"


@contextlib.contextmanager
def _no_slow_rerun():
    """When fast mode fails, gradcheck recomputes both Jacobians in slow mode just to print them:
    here that is two worker round trips per scalar input, and the Jacobians (expected values)
    are never shown, so the recomputation is skipped (a private hook: absent, nothing changes)."""
    module = importlib.import_module("torch.autograd.gradcheck")
    original = getattr(module, _SLOW_RERUN, None)
    if original is None:
        yield
        return
    setattr(module, _SLOW_RERUN, lambda *args, **kwargs: "")
    try:
        yield
    finally:
        setattr(module, _SLOW_RERUN, original)


def gradcheck(
    sub: SubmissionView,
    hook: str,
    handle: int,
    inputs: Sequence[torch.Tensor],
    params: dict[str, torch.Tensor],
    *,
    fast_mode: bool = True,
) -> None:
    """``torch.autograd.gradcheck`` run here, in float64, on a module kept in the worker.

    The function under test lives in the worker: forward values and vector-Jacobian products
    cross the boundary; the finite differences and the comparison are computed here. The
    parameters ``params`` (by name) are explicit inputs too, so their gradients are checked."""
    names = list(params)
    k = len(inputs)
    labels = (["the input"] if k == 1 else [f"input {i}" for i in range(k)]) + [f"`{n}`" for n in names]
    cut: set[int] = set()  # arguments the worker's backward gave no gradient at all

    def remote(args: Sequence[torch.Tensor], g: torch.Tensor | None) -> tuple[Any, list]:
        return sub.apply(
            handle, [a.detach() for a in args[:k]], {n: a.detach() for n, a in zip(names, args[k:])}, g, hook
        )

    class Remote(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *args):
            ctx.save_for_backward(*args)
            y, _ = remote(args, None)
            if not isinstance(y, torch.Tensor):
                fail(f"for float64 input the forward returned {type(y).__name__}, expected a tensor")
            if y.dtype not in (torch.float64, torch.complex128):
                fail(
                    f"for float64 input{' and parameters' if names else ''} the forward returned {str(y.dtype).removeprefix('torch.')}: "
                    "it must compute in the input's dtype",
                    "do not fix a dtype (`.float()`, `dtype=torch.float32`, `complex64`) inside the layer",
                )
            return y

        @staticmethod
        def backward(ctx, g):
            args = ctx.saved_tensors
            _, grads = remote(args, g.detach())
            if len(grads) != len(args):
                fail("the backward returned the wrong number of gradients")
            cut.update(i for i, gr in enumerate(grads) if gr is None)
            return tuple(torch.zeros_like(a) if gr is None else gr.to(a.dtype) for gr, a in zip(grads, args))

    args = tuple(t.detach().to(torch.float64).requires_grad_(True) for t in list(inputs) + [params[n] for n in names])
    try:
        with _no_slow_rerun():
            torch.autograd.gradcheck(
                Remote.apply, args, fast_mode=fast_mode, check_undefined_grad=False, atol=1e-5, rtol=1e-3
            )
    except GradcheckError as e:
        if cut:
            fail(
                "gradcheck in float64 failed: no gradient reaches " + " or ".join(labels[i] for i in sorted(cut)),
                DATA_HINT + "; so does computing outside torch (numpy, `.item()`, `.tolist()`)",
            )
        # The first line names the output and argument; later lines hold the Jacobians (values).
        first = str(e).strip().splitlines()[0].rstrip(",")
        first = re.sub(
            r"with respect to input (\d+)",
            lambda m: f"with respect to {labels[int(m.group(1))]}" if int(m.group(1)) < len(labels) else m.group(0),
            first,
        )
        fail(
            f"gradcheck in float64 failed: {first}",
            "the backward pass does not match finite differences of the forward",
        )


class FunctionalSGD:
    """``torch.optim.SGD(params, lr, momentum)`` for a check's own training (expected values),
    without the class: a torch.optim optimizer imports torch._dynamo on first use (~1 s, half a
    torch import), which the grading process otherwise never needs. ``step`` calls the function
    ``SGD.step`` calls, ``torch.optim.sgd.sgd``, so the values are bitwise the same
    (tests/test_optimizer_lane.py). Keeps ``state[p]["momentum_buffer"]`` as SGD does; no weight
    decay, dampening or Nesterov."""

    def __init__(self, params: Any, lr: float, momentum: float = 0.0):
        self.params = list(params)  # a parameter listed twice is stepped twice, as by SGD
        self.lr, self.momentum = float(lr), float(momentum)
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        from torch.optim.sgd import sgd

        params = [p for p in self.params if p.grad is not None]
        buffers = [self.state.get(p, {}).get("momentum_buffer") for p in params]
        sgd(
            params,
            [p.grad for p in params],
            buffers,
            weight_decay=0.0,
            momentum=self.momentum,
            lr=self.lr,
            dampening=0.0,
            nesterov=False,
            maximize=False,
        )
        if self.momentum:
            for p, b in zip(params, buffers):
                if b is not None:  # sgd fills every buffer when there is momentum
                    self.state.setdefault(p, {})["momentum_buffer"] = b
