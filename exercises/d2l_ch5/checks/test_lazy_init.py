"""Checks for 5.3 Deferred initialization.

``lazy_mlp`` gets inputs of a width drawn from the run's seed (never 20), so only a really lazy
first layer fits them; its parameters, and ``partially_lazy_net``'s, are looked at right after
construction and again after the first forward. ``varying_input_net`` names its modules freely:
its adapters are found by their weight's shape ``(hidden, d)`` and its body by the gradients a
backward through each width leaves behind.
"""

import pytest

from grader.kit import (
    TensorOut,
    case_fixture,
    exception_text,
    expect_gradients,
    expect_is_module,
    expect_outputs,
    expect_structure,
    fail,
    hinted,
    short,
)

from ._lazy_cases import (
    KEYERROR_HINT,
    LAZY_HINT,
    SHARED_BODY_HINT,
    expect_built,
    expect_lazy_split,
    expect_runs,
    expect_shapes,
    lazy_case,
    mismatched_case,
    routing,
    varying_case,
)

LAZY_HOOKS = ["lazy_mlp", "partially_lazy_net"]


@case_fixture
def lazy(ref, hook, seed, device):
    """The reference side of ``hook`` on this check's device (CPU for device-free checks)."""
    return lazy_case(ref, hook, seed, device)


@case_fixture
def mismatched(ref, seed):
    """``mismatched_net``'s inputs and the contract's shapes."""
    return mismatched_case(ref, seed)


@case_fixture
def varying(ref, seed):
    """``varying_input_net``'s arguments and runs."""
    return varying_case(ref, seed)


def _lazy_hint(hook, obs):
    return LAZY_HINT if hook == "lazy_mlp" and obs.warmup_error else None


# -- lazy_mlp and partially_lazy_net --------------------------------------------------------------


@pytest.mark.parametrize("hook", ["lazy_mlp"])
def test_lazy_before_forward(hook, lazy, sub):
    """Before the first forward every parameter is an UninitializedParameter."""
    expect_lazy_split(expect_built(lambda: lazy.observe(sub), hook), lazy)


@pytest.mark.parametrize("hook", ["partially_lazy_net"])
def test_initialization(hook, lazy, sub):
    """The first layer is initialized at construction, the last only by the first forward."""
    expect_lazy_split(expect_built(lambda: lazy.observe(sub), hook), lazy)


@pytest.mark.parametrize("hook", LAZY_HOOKS)
def test_outputs(hook, device, lazy, sub, tolerance):
    """Outputs equal the reference's (same parameters) for three batch sizes (width from the seed for `lazy_mlp`)."""
    obs = lazy.observe(sub)
    with hinted(_lazy_hint(hook, obs)):
        expect_outputs(obs, lazy.case, tolerance)


@pytest.mark.parametrize("hook", LAZY_HOOKS)
def test_gradients(hook, device, lazy, sub, tolerance):
    """Input and parameter gradients equal the reference's after a seeded backward."""
    obs = lazy.observe(sub)
    with hinted(_lazy_hint(hook, obs)):
        expect_gradients(obs, lazy.case, tolerance)


@pytest.mark.parametrize("hook", LAZY_HOOKS)
def test_structure(hook, lazy, sub):
    """After the first forward: parameter names, shapes ((256, d) and (10, 256) for `lazy_mlp`) and count; nothing lazy."""
    obs = lazy.observe(sub)
    with hinted(_lazy_hint(hook, obs)):
        expect_structure(obs, lazy.case)


# -- mismatched_net (exercise 5.3.2) ------------------------------------------------------------------


@pytest.mark.parametrize("hook", ["mismatched_net"])
def test_builds(hook, mismatched, sub):
    """Construction succeeds: the mismatch only shows at the first forward."""
    obs = mismatched.observe(sub, "cpu")
    expect_is_module(obs, "`mismatched_net()`")


@pytest.mark.parametrize("hook", ["mismatched_net"])
def test_layer_shapes(hook, mismatched, sub):
    """Layers of the contract's shapes: weights (256, 20) and (10, 128), with biases."""
    obs = mismatched.observe(sub, "cpu")
    expect_is_module(obs, "`mismatched_net()`")
    expect_shapes(obs.after, mismatched.shapes, mismatched.num_params)


@pytest.mark.parametrize("hook", ["mismatched_net"])
def test_forward_raises(hook, device, mismatched, sub):
    """A forward on (B, 20) input raises RuntimeError (the shapes cannot be multiplied)."""
    obs = mismatched.observe(sub, device)
    expect_is_module(obs, "`mismatched_net()`")
    if obs.device_error:
        fail(f"moving the module with `.to(...)` raised {exception_text(obs.device_error)}")
    if len(obs.runs) != len(mismatched.inputs):
        fail("not every input was run")
    for (x,), run in zip(mismatched.inputs, obs.runs):
        shape = tuple(x.shape)
        if run.error is None:
            got = f"a tensor of shape {tuple(run.y.value.shape)}" if isinstance(run.y, TensorOut) else "a result"
            fail(
                f"the forward on input of shape {shape} returned {got} instead of raising",
                "Linear(20, 256) followed by Linear(128, 10) cannot be chained",
            )
        if run.error.get("type") != "RuntimeError":
            fail(
                f"the forward on input of shape {shape} raised {exception_text(run.error)}, expected RuntimeError "
                "(what torch raises when the shapes cannot be multiplied)",
                "define `forward` (an nn.Sequential has one)"
                if run.error.get("type") == "NotImplementedError"
                else "let torch raise its own error: do not check the widths and raise another exception type",
            )


# -- varying_input_net (exercise 5.3.3) ------------------------------------------------------------------


@pytest.mark.parametrize("hook", ["varying_input_net"])
def test_output_shapes(hook, device, varying, sub):
    """For every width in `in_dims` and several batch sizes the output is a finite (B, out) tensor."""
    obs = varying.observe(sub, device)
    expect_runs(obs, varying, backward=False)
    for width, (x,), run in zip(varying.widths, varying.inputs, obs.runs):
        if width not in varying.in_dims:
            continue
        b, y = x.shape[0], run.y
        where = f"input of shape {tuple(x.shape)}"
        if not isinstance(y, TensorOut):
            fail(f"the forward returned {type(y).__name__} for {where}, expected a tensor")
        if tuple(y.value.shape) != (b, varying.out):
            fail(f"the output for {where} has shape {tuple(y.value.shape)}, expected {(b, varying.out)}")
        if y.value.dtype != x.dtype:
            fail(f"the output for {where} has dtype {str(y.value.dtype).removeprefix('torch.')}, expected the input's")
        if y.device != str(device) and not (y.device == "cuda:0" and device == "cuda"):
            fail(f"the output for {where} is on {y.device}, expected {device}")
        if not bool(y.value.isfinite().all()):
            fail(f"the output for {where} has non-finite values (NaN or inf)")


@pytest.mark.parametrize("hook", ["varying_input_net"])
def test_unknown_width(hook, varying, sub):
    """A batch whose width is not in `in_dims` raises ValueError."""
    obs = varying.observe(sub, "cpu")
    expect_is_module(obs, "`varying_input_net(...)`")
    if len(obs.runs) != len(varying.inputs):
        fail("not every input was run")
    run, what = obs.runs[-1], f"a batch of width {varying.unknown} (in_dims is {varying.in_dims})"
    if run.error is None:
        fail(f"{what} returned a result instead of raising ValueError")
    if run.error.get("type") != "ValueError":
        hint = (
            KEYERROR_HINT
            if run.error.get("type") == "KeyError"
            else "check `X.shape[-1]` and raise ValueError for a width without an adapter"
        )
        fail(f"{what} raised {exception_text(run.error)}, expected ValueError", hint)


@pytest.mark.parametrize("hook", ["varying_input_net"])
def test_gradient_routing(hook, device, varying, sub):
    """A backward through width d reaches the whole adapter Linear(d, hidden) and no other width's adapter."""
    obs = varying.observe(sub, device)
    expect_runs(obs, varying)
    r = routing(obs, varying)
    h = varying.hidden
    for d in varying.in_dims:
        if r.adapter_of[d] is None:
            n = sum(1 for sh in r.sizes.values() if sh == (h, d))
            fail(
                f"{n} parameters have shape {(h, d)}, expected one: the weight of width {d}'s adapter nn.Linear({d}, {h})"
                if n
                else f"no parameter has shape {(h, d)}: width {d} needs an adapter nn.Linear({d}, {h}) (hidden = {h})"
            )
    for width, got in r.got:
        missing = sorted(r.adapters[width] - got)
        if missing:
            fail(
                f"after a backward through width {width}, its adapter's {short(missing)} received no gradient: that adapter is not used for it"
            )
        for d in varying.in_dims:
            leaked = sorted(r.adapters[d] & got) if d != width else []
            if leaked:
                fail(
                    f"after a backward through width {width}, {short(leaked)} (the adapter of width {d}) received a gradient: only the matching adapter may be used"
                )


@pytest.mark.parametrize("hook", ["varying_input_net"])
def test_shared_body(hook, varying, sub):
    """The parameters besides the adapters that get gradients are the same objects for every width (one shared body)."""
    obs = varying.observe(sub, "cpu")
    expect_runs(obs, varying)
    r = routing(obs, varying)
    bodies = {d: r.body(d) for d in varying.in_dims}
    for d, body in bodies.items():
        if not body:
            fail(
                f"after a backward through width {d}, no parameter besides the adapter received a gradient: the body (hidden → out) is missing, not trainable or not shared",
                SHARED_BODY_HINT,
            )
    first = varying.in_dims[0]
    for d in varying.in_dims[1:]:
        if bodies[d] != bodies[first]:
            a, b = sorted(bodies[first] - bodies[d]), sorted(bodies[d] - bodies[first])
            fail(
                f"the body differs between widths: a backward through width {first} reaches {short(a or sorted(bodies[first]))}, "
                f"one through width {d} reaches {short(b or sorted(bodies[d]))} instead",
                SHARED_BODY_HINT,
            )


@pytest.mark.parametrize("hook", ["varying_input_net"])
def test_adapters(hook, varying, sub):
    """One Linear(d, hidden) per width (weight (hidden, d), bias (hidden,)); count Σ_d (d·hidden + hidden) + the body's."""
    obs = varying.observe(sub, "cpu")
    expect_runs(obs, varying)
    after = obs.after
    if after.hidden_modules:
        m = after.hidden_modules[0]
        fail(
            f"submodule `{m.get('name')}` ({m.get('type')}) is kept in a plain container, so torch does not register it",
            "use nn.ModuleDict or nn.ModuleList",
        )
    if after.lazy:
        fail("some parameters are still uninitialized (lazy) after a forward")
    r = routing(obs, varying)
    h = varying.hidden
    for d in varying.in_dims:
        owner = r.adapter_of[d]
        if owner is None:
            fail(
                f"width {d} has no adapter: expected one parameter of shape {(h, d)}, the weight of nn.Linear({d}, {h})"
            )
        shapes = sorted(r.sizes[n] for n in r.adapters[d])
        if shapes != sorted([(h,), (h, d)]):
            fail(
                f"the adapter for width {d} (`{owner or 'the module itself'}`) has parameters of shapes {shapes}: expected nn.Linear({d}, {h}), weight {(h, d)} and bias {(h,)}"
            )
    adapters = set().union(*r.adapters.values())
    body = set().union(*(r.body(d) for d in varying.in_dims))
    unused = sorted(set(r.sizes) - adapters - body)
    if unused:
        fail(f"{short(unused)} belong to neither an adapter nor the body: no backward through any width reaches them")
    expected = varying.adapter_params() + sum(_numel(r.sizes[n]) for n in body)
    if after.num_params != expected:
        fail(
            f"the module has {after.num_params} parameters, expected {expected} (Σ_d (d·hidden + hidden) = {varying.adapter_params()} plus the body's)"
        )


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n
