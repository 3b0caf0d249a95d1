"""Checks for 5.2 Parameter management: nested blocks, parameter access, initializers, tying.

Initializers run exactly as the book uses them, ``net.apply(init)``, on a net the grader builds
(large Linear layers next to LayerNorm and BatchNorm1d modules). Random ones are judged with a
Kolmogorov–Smirnov test whose threshold comes from the Dvoretzky–Kiefer–Wolfowitz inequality
(see ``_stats.py``): a correct initializer fails a check with probability at most 1e-6.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from grader.kit import Arch, FunctionalSGD, arch, case_fixture, derive_seed, expect_tied, fail, mismatch, seeded, short

from . import _inits, _stats
from ._cases import build_case, check_gradients, check_outputs, check_structure

MODULE_HOOKS = ["block1", "block2", "rgnet", "shared_mlp"]
INIT_HOOKS = list(_inits.WEIGHTS)

# The shared-layer net of the book: one Linear(8, 8) object at positions 2 and 4.
SHARED_NET = arch.seq(
    arch.linear(4, 8),
    arch.relu(),
    {"id": "shared", **arch.linear(8, 8)},
    arch.relu(),
    {"ref": "shared"},
    arch.relu(),
    arch.linear(8, 1),
)
SHARED_TIES = [["2.weight", "4.weight"], ["2.bias", "4.bias"]]


@case_fixture
def case(ref, hook, seed, device):
    """The reference side of ``hook`` on this check's device (CPU for device-free checks)."""
    return build_case(ref, hook, seed, device)


# -- block1, block2, rgnet, shared_mlp ----------------------------------------------------------


@pytest.mark.parametrize("hook", MODULE_HOOKS)
def test_outputs(hook, device, case, sub, tolerance):
    """Outputs equal the reference's, its parameters transplanted by name, for three batch sizes."""
    check_outputs(case, sub, tolerance)


@pytest.mark.parametrize("hook", MODULE_HOOKS)
def test_gradients(hook, device, case, sub, tolerance):
    """Input and parameter gradients equal the reference's (a shared layer's: the sum over its uses)."""
    hint = None
    if hook == "shared_mlp":
        after = case.case.observe(sub).after
        if after is not None and any(len({(after.param(n) or {}).get("id") for n in g}) > 1 for g in SHARED_TIES):
            hint = (
                "the shared layer's gradient is the sum over both uses only when positions 2 and 4 hold one Parameter"
            )
    check_gradients(case, sub, tolerance, hint)


@pytest.mark.parametrize("hook", MODULE_HOOKS)
def test_structure(hook, case, sub):
    """Parameter names (e.g. `0.block 2.0.weight`), shapes and count, tied parameters counted once."""
    check_structure(case, sub)


@pytest.mark.parametrize("hook", ["shared_mlp"])
def test_tying(hook, case, sub):
    """Positions 2 and 4 hold one Parameter object (not a copy, not two Parameters on one memory)."""
    obs = case.case.observe(sub)
    expect_tied(obs.after, SHARED_TIES, before=obs.before)


# -- param_shapes (exercise 5.2.1) ------------------------------------------------------------------

_BLOCK1 = arch.seq(arch.linear(4, 8), arch.relu(), arch.linear(8, 4), arch.relu())
PARAM_NETS = {
    "nest_mlp": {
        "type": "Container",
        "named": [
            ["net", arch.seq(arch.linear(20, 64), arch.relu(), arch.linear(64, 32), arch.relu())],
            ["linear", arch.linear(32, 16)],
        ],
    },
    "fixed_hidden_mlp": {
        "type": "Container",
        "named": [["linear", arch.linear(20, 20)]],
        "buffers": [["rand_weight", [20, 20]]],
    },
    "rgnet": arch.seq(arch.named_seq([(f"block {i}", _BLOCK1) for i in range(4)]), arch.linear(4, 1)),
    "shared": SHARED_NET,
}


def _expected_shapes(spec: dict) -> tuple[dict[str, tuple[int, ...]], set[str], set[str]]:
    net = arch.build(spec)
    shapes = {n: tuple(p.shape) for n, p in net.named_parameters()}
    aliases = {n for n, _ in net.named_parameters(remove_duplicate=False)} - set(shapes)
    return shapes, {n for n, _ in net.named_buffers()}, aliases


@pytest.mark.hook("param_shapes")
@pytest.mark.parametrize("net", list(PARAM_NETS))
def test_shapes(net, sub):
    """Maps each parameter name (tied ones once, buffers excluded) to its shape as a tuple of ints."""
    shapes, buffers, aliases = _expected_shapes(PARAM_NETS[net])
    got = sub.call("param_shapes", net=Arch(PARAM_NETS[net])).value
    if not isinstance(got, dict):
        fail(f"`param_shapes(net)` returned a {type(got).__name__}, expected a dict")
    extra = [k for k in got if k not in shapes]
    for k in extra:
        if k in buffers:
            fail(
                f"`{k}` is a buffer, not a parameter",
                "`named_parameters()` lists parameters only (`state_dict()` adds buffers)",
            )
        if k in aliases:
            fail(
                f"`{k}` is a tied parameter listed a second time",
                "`named_parameters()` yields a tied parameter once (`state_dict()` repeats it)",
            )
    missing = [k for k in shapes if k not in got]
    if missing or extra:
        fail(
            "the names differ from `named_parameters()`: "
            + "; ".join(
                ([f"missing {short(missing)}"] if missing else [])
                + ([f"unexpected {short([repr(k) for k in extra])}"] if extra else [])
            )
        )
    for name, shape in shapes.items():
        value = got[name]
        if isinstance(value, torch.Size):  # `p.shape`, as the book prints it: a tuple of ints
            value = tuple(value)
        if type(value) is not tuple:
            hint = "use `p.shape` or `tuple(p.shape)`" if isinstance(value, list) else None
            fail(f"`{name}` maps to a {type(value).__name__}, expected a tuple of ints", hint)
        if not all(type(s) is int for s in value):
            fail(f"`{name}` maps to a tuple holding {short(sorted({type(s).__name__ for s in value}))}, expected ints")
        if value != shape:
            fail(f"`{name}` maps to {value}, which is not that parameter's shape")


# -- initializers -------------------------------------------------------------------------------


@pytest.mark.parametrize("hook", INIT_HOOKS)
def test_weights(hook, sub, seed, cache):
    """Linear weights after `net.apply(init)`: exact for constants; else a KS test per layer (false-failure rate ≤ 1e-6)."""
    applied, lay = _inits.apply_init(sub, hook, seed, cache)
    alpha = _stats.ALPHA / len(lay.linear_weights)  # Bonferroni: the check's rate stays ≤ ALPHA
    for name, fan in lay.linear_weights.items():
        _inits.WEIGHTS[hook](name, applied.value(name), fan, alpha)


@pytest.mark.parametrize("hook", INIT_HOOKS)
def test_biases(hook, sub, seed, cache):
    """Linear biases are exactly 0 where the contract sets them (init_normal, init_constant), else untouched."""
    applied, lay = _inits.apply_init(sub, hook, seed, cache)
    for name in lay.linear_biases:
        b = applied.value(name)
        if hook in _inits.ZERO_BIAS:
            bad = int((b != 0).sum())
            if bad:
                fail(f"`{name}`: {bad} of {b.numel()} elements are not 0", "`nn.init.zeros_(module.bias)`")
        elif not torch.equal(b, lay.state[name]):
            fail(f"`{name}` changed, but `{hook}` leaves the bias untouched")


@pytest.mark.parametrize("hook", INIT_HOOKS)
def test_other_modules(hook, sub, seed, cache):
    """Parameters and buffers of non-Linear modules (LayerNorm, BatchNorm1d) stay exactly as they were."""
    applied, lay = _inits.apply_init(sub, hook, seed, cache)
    for name, kind in lay.others.items():
        if not torch.equal(applied.value(name), lay.state[name]):
            fail(f"`{name}` ({kind}) changed: only nn.Linear modules may be initialized", _inits.TYPE_HINT)


@pytest.mark.parametrize("hook", INIT_HOOKS)
def test_parameters_kept(hook, sub, seed, cache):
    """Every parameter stays the same leaf nn.Parameter object (shape, dtype, requires_grad) after the init."""
    applied, lay = _inits.apply_init(sub, hook, seed, cache)
    for name, kept in applied.kept.items():
        if not kept:
            fail(
                f"`{name}` is a different object after the init, so an optimizer built before would not see it",
                _inits.IN_PLACE_HINT,
            )
    for p in applied.summary.params:
        name = str(p.get("name"))
        if not p.get("is_parameter") or not p.get("is_leaf") or not p.get("requires_grad"):
            fail(f"`{name}` is no longer a leaf nn.Parameter requiring grad", _inits.IN_PLACE_HINT)
        want = lay.state.get(name)
        if want is not None and (
            tuple(p.get("shape") or ()) != tuple(want.shape) or p.get("dtype") != str(want.dtype).removeprefix("torch.")
        ):
            fail(f"`{name}` changed its shape or dtype")


# -- train_shared_mlp (exercise 5.2.2) ---------------------------------------------------------------

STEPS, LR = 10, 0.2
DOUBLE_STEP_HINT = (
    "a shared Parameter was stepped twice per step: give the optimizer `net.parameters()`, "
    "which yields it once (collecting each layer's parameters lists it twice)"
)
ZERO_GRAD_HINT = "call `optimizer.zero_grad()` every step; otherwise gradients accumulate"


def _train(net: nn.Module, X: torch.Tensor, y: torch.Tensor, params: list, zero_grad: bool = True) -> list[float]:
    """The training loop of the contract, with the parameter list given (for known mistakes)."""
    opt = FunctionalSGD(params, lr=LR)
    losses = []
    for _ in range(STEPS):
        if zero_grad:
            opt.zero_grad()
        loss = nn.MSELoss()(net(X), y)
        losses.append(float(loss))
        loss.backward()
        opt.step()
    return losses


def _training(ref, seed: int) -> dict:
    s = derive_seed(seed, "train_shared_mlp")
    g = torch.Generator().manual_seed(s)
    X, y = torch.randn(32, 4, generator=g), torch.randn(32, 1, generator=g)
    with seeded(s):
        state = {k: v.detach().clone() for k, v in arch.build(SHARED_NET).state_dict().items()}

    def fresh() -> nn.Module:
        net = arch.build(SHARED_NET)
        arch.load_state(net, state)
        return net

    net = fresh()
    losses = ref.train_shared_mlp(net=net, X=X.clone(), y=y.clone(), steps=STEPS, lr=LR)
    final = {n: p.detach().clone() for n, p in net.named_parameters()}
    known = []
    for params_of, zero_grad, hint in [
        (lambda n: [p for _, p in n.named_parameters(remove_duplicate=False)], True, DOUBLE_STEP_HINT),
        (lambda n: list(n.parameters()), False, ZERO_GRAD_HINT),
    ]:
        alt = fresh()
        alt_losses = _train(alt, X, y, params_of(alt), zero_grad)
        known.append((alt_losses, {n: p.detach().clone() for n, p in alt.named_parameters()}, hint))
    return {"X": X, "y": y, "state": state, "losses": [float(x) for x in losses], "final": final, "known": known}


def _trained(sub, ref, seed, cache):
    t = cache(("d2l_ch5.train_shared_mlp", seed), lambda: _training(ref, seed))
    res = sub.call(
        "train_shared_mlp", inspect=("net",), net=Arch(SHARED_NET, t["state"]), X=t["X"], y=t["y"], steps=STEPS, lr=LR
    )
    return t, res.value, res.inspected.get("net")


def _close(a: torch.Tensor, b: torch.Tensor, tolerance) -> bool:
    return mismatch(a, b, *tolerance(b.dtype, "cpu")) is None


@pytest.mark.optimizer
@pytest.mark.parametrize("hook", ["train_shared_mlp"])
def test_losses(hook, sub, ref, seed, cache, tolerance):
    """Returns the `steps` losses before each step, as floats, equal to the reference's."""
    t, value, _ = _trained(sub, ref, seed, cache)
    if not isinstance(value, list):
        fail(f"`train_shared_mlp` returned a {type(value).__name__}, expected a list of floats")
    if len(value) != STEPS:
        fail(f"{len(value)} losses returned for steps={STEPS}, expected one per step")
    for i, x in enumerate(value):
        if not isinstance(x, float):
            fail(f"loss {i} is a {type(x).__name__}, expected a Python float", "`float(loss)` or `loss.item()`")
    got, want = torch.tensor(value, dtype=torch.float64), torch.tensor(t["losses"], dtype=torch.float64)
    rtol, atol = tolerance(torch.float32, "cpu")
    problem = mismatch(got, want, rtol, atol, what="the list of losses")
    if problem:
        hint = next(
            (h for alt, _, h in t["known"] if _close(got, torch.tensor(alt, dtype=torch.float64), tolerance)), None
        )
        if hint is None and _close(got[:-1], want[1:], tolerance):
            hint = "record the loss before `optimizer.step()`"
        fail(problem, hint)


@pytest.mark.optimizer
@pytest.mark.parametrize("hook", ["train_shared_mlp"])
def test_final_parameters(hook, sub, ref, seed, cache, tolerance):
    """After training, the net's parameters equal the reference's: each shared parameter stepped once per step."""
    t, _, net = _trained(sub, ref, seed, cache)
    if net is None:
        fail("the net could not be inspected after training")
    got = {}
    for name in t["final"]:
        if name not in net.values:
            fail(f"the net has no parameter `{name}` after training")
        got[name] = net.values[name]
    for name, want in t["final"].items():
        rtol, atol = tolerance(want.dtype, "cpu")
        problem = mismatch(got[name], want, rtol, atol, what=f"`{name}` after training")
        if problem:
            hint = next((h for _, alt, h in t["known"] if all(_close(got[n], alt[n], tolerance) for n in alt)), None)
            fail(problem, hint)


@pytest.mark.optimizer
@pytest.mark.parametrize("hook", ["train_shared_mlp"])
def test_ties_kept(hook, sub, ref, seed, cache):
    """After training, positions 2 and 4 of the net still hold one Parameter object."""
    _, _, net = _trained(sub, ref, seed, cache)
    expect_tied(net, SHARED_TIES, what="the net after training")


# -- tied_untied_param_counts (exercise 5.2.3) -------------------------------------------------------


@pytest.mark.parametrize("hook", ["tied_untied_param_counts"])
def test_value(hook, sub):
    """Returns exactly (121, 193) as a tuple of two ints."""
    value = sub.call("tied_untied_param_counts").value
    if type(value) is not tuple or len(value) != 2:
        fail(f"returned {value!r}, expected a tuple of two ints (tied, untied)")
    if not all(type(v) is int for v in value):
        fail(f"returned a tuple of {short([type(v).__name__ for v in value])}, expected ints")
    tied, untied = value
    if tied != 121:
        hint = "`state_dict()` repeats the shared layer's entries: count `net.parameters()`" if tied == 193 else None
        fail(f"the tied count is {tied}, expected 121", hint)
    if untied != 193:
        fail(
            f"the untied count is {untied}, expected 193",
            "the untied net has two independent `nn.Linear(8, 8)` layers" if untied == 121 else None,
        )
