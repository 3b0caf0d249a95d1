"""Cases and check bodies for 5.3 Deferred initialization.

``lazy_mlp`` and ``partially_lazy_net`` are compared with the reference like any module (the
warm-up forward materializes the lazy layers before the reference's values are transplanted),
and their ``before`` report (taken right after construction) says which parameters were still
``UninitializedParameter``s. ``mismatched_net`` is only built and run. ``varying_input_net``
names its modules freely, so it is judged by shapes, gradient routing and identity: which
parameters receive a gradient after a backward through each input width.

One worker request per hook and device serves every check of that hook (the request cache
answers identical requests once); everything is drawn from the run's seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from grader.kit import (
    ModuleCase,
    ModuleObservation,
    ModuleSummary,
    SubmissionRaised,
    derive_seed,
    describe_module,
    exception_text,
    expect_is_module,
    expect_plain,
    expect_sound,
    fail,
    fail_raised,
    module_case,
    seeded,
    short,
)

LAZY_HINT = (
    "nn.LazyLinear(out_features) infers its input width from the first batch; nn.Linear fixes it at construction"
)
SHAPES_HINT = "construction only records the layer sizes: the mismatch shows when a batch flows through the layers"
KEYERROR_HINT = (
    "look the width up yourself and `raise ValueError(...)` for an unknown one (a ModuleDict lookup raises KeyError)"
)
SHARED_BODY_HINT = "build the body once in `__init__` and call that one module after every adapter"


def _ints(g: torch.Generator, lo: int, hi: int, n: int = 1) -> list[int]:
    return [int(v) for v in torch.randint(lo, hi + 1, (n,), generator=g)]


def _batches(g: torch.Generator, features: int) -> tuple[list[list[torch.Tensor]], list[torch.Tensor]]:
    """Inputs of three batch sizes (1, 2–16, 17–48) and a warm-up batch."""
    sizes = [1, *_ints(g, 2, 16), *_ints(g, 17, 48)]
    return [[torch.randn(b, features, generator=g)] for b in sizes], [torch.randn(2, features, generator=g)]


# -- lazy_mlp and partially_lazy_net -------------------------------------------------------------


@dataclass
class Lazy:
    """The reference case, the input width, and which parameters the reference has
    uninitialized right after construction (name -> lazy)."""

    case: ModuleCase
    width: int
    lazy_at_construction: dict[str, bool]

    def observe(self, sub: Any) -> ModuleObservation:
        return self.case.observe(sub, before=True)


def lazy_width(seed: int) -> int:
    """``lazy_mlp``'s input width: from the seed, never the book's 20 (so a fixed width shows)."""
    g = torch.Generator().manual_seed(derive_seed(seed, "lazy_mlp", "width"))
    return [d for d in range(3, 49) if d != 20][_ints(g, 0, 44)[0]]


def lazy_case(ref: Any, hook: str, seed: int, device: str) -> Lazy:
    s = derive_seed(seed, "case", hook)
    width = lazy_width(seed) if hook == "lazy_mlp" else 20
    inputs, warmup = _batches(torch.Generator().manual_seed(s), width)
    case = module_case(hook, getattr(ref, hook), inputs, seed=s, device=device, warmup=warmup)
    with seeded(s):
        fresh = getattr(ref, hook)()
    return Lazy(case, width, {str(p["name"]): bool(p["lazy"]) for p in describe_module(fresh).params})


def expect_built(obs_fn: Callable[[], ModuleObservation], hook: str, hint: str | None = None) -> ModuleObservation:
    """The observation, with construction failures said as such."""
    try:
        return obs_fn()
    except SubmissionRaised as e:
        fail_raised(hook, f"constructing the module with `{hook}()`", e.error, hint)


def expect_lazy_split(obs: ModuleObservation, lazy: Lazy) -> None:
    """Right after construction, each of the contract's parameters is uninitialized exactly when
    the reference's is (lazy layers wait for the first forward, eager ones do not)."""
    expect_is_module(obs, f"`{lazy.case.hook}()`")
    before = obs.before
    if before is None:
        fail("the module could not be described before its first forward")
    if before.errors:
        fail(f"the module is broken before its first forward: {before.errors[0]}")
    expect_plain(before)
    want = lazy.lazy_at_construction
    found = {str(p.get("name")): p for p in before.params}
    missing = [n for n in want if n not in found]
    if missing:
        fail(
            f"right after construction the module has no parameter {short(missing)} "
            f"(found {short(list(found), 6) or 'none'}; the contract's names: {short(list(want), 6)})"
        )
    early = [n for n, lazy_ in want.items() if lazy_ and not found[n].get("lazy")]
    late = [n for n, lazy_ in want.items() if not lazy_ and found[n].get("lazy")]
    if early:
        fail(
            f"{short(early)} {_are(early)} already initialized at construction (`{early[0]}` has shape "
            f"{tuple(found[early[0]].get('shape') or ())}): {_they(early)} should stay uninitialized until the first forward",
            "use nn.LazyLinear(out_features) for that layer",
        )
    if late:
        fail(
            f"{short(late)} {_are(late)} still uninitialized after construction: that layer's input width is known, "
            "so it should be initialized at once",
            "use nn.Linear(in_features, out_features) for that layer",
        )
    # Parameters the contract does not have are the structure check's business.


def _are(names: list[str]) -> str:
    return "is" if len(names) == 1 else "are"


def _they(names: list[str]) -> str:
    return "it" if len(names) == 1 else "they"


# -- mismatched_net ------------------------------------------------------------------------------


@dataclass
class Mismatched:
    inputs: list[list[torch.Tensor]]
    shapes: dict[str, tuple[int, ...]]
    num_params: int

    def observe(self, sub: Any, device: str) -> ModuleObservation:
        return expect_built(
            lambda: sub.module("mismatched_net", inputs=self.inputs, device=device, grads=False),
            "mismatched_net",
            SHAPES_HINT,
        )


def mismatched_case(ref: Any, seed: int) -> Mismatched:
    s = derive_seed(seed, "case", "mismatched_net")
    inputs, _ = _batches(torch.Generator().manual_seed(s), 20)
    net = ref.mismatched_net()
    shapes = {n: tuple(p.shape) for n, p in net.named_parameters()}
    return Mismatched(inputs[:2], shapes, sum(p.numel() for p in net.parameters()))


def expect_shapes(after: ModuleSummary | None, shapes: dict[str, tuple[int, ...]], num_params: int) -> None:
    """Parameters under the contract's names and shapes, and the contract's count."""
    got = expect_sound(after, allow_lazy=True).shapes()  # a lazy one is named below
    missing = [n for n in shapes if n not in got]
    extra = [n for n in got if n not in shapes]
    if missing or extra:
        parts = ([f"missing {short(missing)}"] if missing else []) + ([f"unexpected {short(extra)}"] if extra else [])
        fail(
            "parameters differ from the contract: "
            + "; ".join(parts)
            + f" (the contract's names: {short(list(shapes), 6)})"
        )
    for n, shape in shapes.items():
        if got[n] is None:
            fail(f"parameter `{n}` is uninitialized (lazy): the contract's layers all have fixed sizes")
        if got[n] != shape:
            fail(f"parameter `{n}` has shape {got[n]}, expected {shape}")
    if after.num_params != num_params:
        fail(f"the module has {after.num_params} parameters, expected {num_params}")


# -- varying_input_net ---------------------------------------------------------------------------


@dataclass
class Varying:
    """Arguments, the runs (each width at three batch sizes, then one unknown width), and what
    the reference's parameter count is made of."""

    in_dims: list[int]
    hidden: int
    out: int
    unknown: int
    widths: list[int]  # per run
    inputs: list[list[torch.Tensor]]
    grad_outputs: list[torch.Tensor | None]
    body_params: int  # the reference body's, for messages only

    @property
    def args(self) -> dict:
        return {"in_dims": list(self.in_dims), "hidden": self.hidden, "out": self.out}

    def observe(self, sub: Any, device: str) -> ModuleObservation:
        return sub.module(
            "varying_input_net",
            args=self.args,
            inputs=self.inputs,
            grad_outputs=self.grad_outputs,
            device=device,
        )

    def adapter_params(self) -> int:
        return sum(d * self.hidden + self.hidden for d in self.in_dims)


def varying_case(ref: Any, seed: int) -> Varying:
    s = derive_seed(seed, "case", "varying_input_net")
    g = torch.Generator().manual_seed(s)
    pool = torch.randperm(28, generator=g)[:6] + 3  # six distinct widths in 3..30
    in_dims = [int(d) for d in pool[:3]]
    hidden = _ints(g, 31, 40)[0]  # wider than any input: an adapter's weight (hidden, d) is unambiguous
    out = _ints(g, 2, 6)[0]
    unknown = int(pool[3])
    widths, inputs, grads = [], [], []
    for d in in_dims:
        for b in [1, *_ints(g, 2, 9), *_ints(g, 10, 24)]:
            widths.append(d)
            inputs.append([torch.randn(b, d, generator=g)])
            grads.append(torch.randn(b, out, generator=g))
    widths.append(unknown)
    inputs.append([torch.randn(_ints(g, 2, 9)[0], unknown, generator=g)])
    grads.append(None)
    net = ref.varying_input_net(in_dims=in_dims, hidden=hidden, out=out)
    body = sum(p.numel() for p in net.parameters()) - sum(d * hidden + hidden for d in in_dims)
    return Varying(in_dims, hidden, out, unknown, widths, inputs, grads, body)


@dataclass
class Routing:
    """Which parameters an observation's runs sent gradients to, sorted into adapters and body."""

    sizes: dict[str, tuple[int, ...]]  # every (unique) parameter -> shape
    adapter_of: dict[int, str | None]  # width -> name of the module holding its (hidden, d) weight
    adapters: dict[int, set[str]]  # width -> that module's parameters
    got: list[tuple[int, set[str]]] = field(default_factory=list)  # per known-width run: (width, names with a gradient)

    def body(self, width: int) -> set[str]:
        """Parameters outside every adapter that received a gradient in each run of ``width``."""
        all_adapters = set().union(*self.adapters.values())
        sets = [g - all_adapters for w, g in self.got if w == width]
        return set.intersection(*sets) if sets else set()


def routing(obs: ModuleObservation, v: Varying) -> Routing:
    after = obs.after
    if after is None:
        fail("the module could not be described")
    if after.errors:
        fail(f"the module is broken: {after.errors[0]}")
    sizes = {
        str(p["name"]): tuple(int(x) for x in p.get("shape") or ()) for p in after.unique_params() if not p.get("lazy")
    }
    adapter_of: dict[int, str | None] = {}
    adapters: dict[int, set[str]] = {}
    for d in v.in_dims:
        weights = [n for n, sh in sizes.items() if sh == (v.hidden, d)]
        owner = weights[0].rpartition(".")[0] if len(weights) == 1 else None
        adapter_of[d] = owner
        adapters[d] = {n for n in sizes if n.rpartition(".")[0] == owner} if owner is not None else set()
    r = Routing(sizes, adapter_of, adapters)
    for width, run in zip(v.widths, obs.runs):
        if width in v.in_dims and run.error is None and not run.backward_error:
            r.got.append((width, {n for n, g in run.grads.items() if g is not None}))
    return r


def expect_runs(obs: ModuleObservation, v: Varying, backward: bool = True) -> None:
    """Every known width ran forward; with ``backward``, each width also ran backward at least
    once (a batch whose output has the wrong shape cannot take the upstream gradient, and is
    output_shapes' business, not the gradient checks')."""
    expect_is_module(obs, "`varying_input_net(...)`")
    if obs.device_error:
        fail(f"moving the module with `.to(...)` raised {exception_text(obs.device_error)}")
    if len(obs.runs) != len(v.inputs):
        fail("not every input was run")
    failed: dict[int, str] = {}
    for width, x, run in zip(v.widths, v.inputs, obs.runs):
        if width not in v.in_dims:
            continue
        shape = tuple(x[0].shape)
        if run.error:
            fail(
                f"the forward raised {exception_text(run.error)} for input of shape {shape} (width {width} is in in_dims)"
            )
        if run.backward_error:
            failed.setdefault(width, f"backward failed for input of shape {shape}: {run.backward_error}")
    if backward:
        for width in v.in_dims:
            ok = [run for w, run in zip(v.widths, obs.runs) if w == width and not run.backward_error]
            if not ok:
                fail(failed[width])


__all__ = [
    "KEYERROR_HINT",
    "LAZY_HINT",
    "SHARED_BODY_HINT",
    "Lazy",
    "Mismatched",
    "Routing",
    "Varying",
    "expect_built",
    "expect_lazy_split",
    "expect_runs",
    "expect_shapes",
    "lazy_case",
    "mismatched_case",
    "routing",
    "varying_case",
]
