"""Checks for the ``layer_norm`` exercise, written with the grader's author kit (``grader.kit``).

Each check is a pytest function; ``pytestmark`` attributes every check of this module to the
``layer_norm`` hook, and the fixtures ``sub``, ``ref``, ``seed``, ``cache`` and ``tolerance``
are the grader's, the same the chapter's checks use. A check asking for ``device`` runs once
per device cell (``cpu``, then each ``cuda:i``, or a skipped ``cuda`` cell without a GPU).

The cases are built from the reference once per run and device (``case_fixture``) and compared
with what the submission's module computes in its worker, with the reference's parameters
transplanted by name. Messages never contain expected values.
"""

import pytest
import torch

from grader.kit import (
    CheckFailed,
    TensorOut,
    case_fixture,
    derive_seed,
    expect_gradients,
    expect_module,
    expect_outputs,
    expect_structure,
    fail,
    mismatch,
    module_case,
)

HOOK = "layer_norm"
EPS = 1e-5
pytestmark = pytest.mark.hook(HOOK)

VARIANCE_HINT = (
    "normalize each vector over its last dimension with the biased variance "
    "(`unbiased=False`: divide by `features`, not `features - 1`)"
)
DETACH_HINT = "the mean and the variance depend on the input: do not `.detach()` them (or use `.data`)"
INIT_HINT = "start with `weight` at ones and `bias` at zeros, as `nn.LayerNorm` does"
EPS_HINT = "add `eps` to the variance inside the square root: `sqrt(var + eps)`, not `sqrt(var) + eps`"


def _randomized(net):
    """Random weight and bias (from the seeded global RNG), so a forward that ignores either
    one cannot match."""
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p))
    return net


def _features(seed):
    g = torch.Generator().manual_seed(derive_seed(seed, HOOK, "features"))
    return int(torch.randint(4, 33, (1,), generator=g))


@case_fixture
def case(ref, seed, device):
    """Random weight and bias transplanted; inputs of rank 2 and 3 with a spread large enough
    that ``eps`` hardly matters."""
    s = derive_seed(seed, HOOK, "case")
    g = torch.Generator().manual_seed(s)
    f = _features(seed)
    inputs = [
        [torch.randn(1, f, generator=g) * 10 + 3],
        [torch.randn(7, f, generator=g) * 10],
        [torch.randn(2, 5, f, generator=g) * 10 - 2],
    ]
    args = {"features": f, "eps": EPS}
    return module_case(HOOK, lambda: _randomized(ref.layer_norm(**args)), inputs, seed=s, device=device, args=args)


@case_fixture
def init_case(ref, seed, device):
    """A freshly built module: nothing is transplanted, so its own initial values are used."""
    s = derive_seed(seed, HOOK, "init")
    g = torch.Generator().manual_seed(s)
    f = _features(seed)
    args = {"features": f, "eps": EPS}
    inputs = [[torch.randn(6, f, generator=g) * 10]]
    return module_case(HOOK, lambda: ref.layer_norm(**args), inputs, seed=s, device=device, args=args, transplant=False)


@case_fixture
def eps_case(ref, seed, device):
    """Rows that are nearly constant: their variance (about 1e-6) is far below ``eps``."""
    s = derive_seed(seed, HOOK, "eps")
    g = torch.Generator().manual_seed(s)
    f = _features(seed)
    args = {"features": f, "eps": 1e-3}
    rows = torch.randn(5, 1, generator=g) * 0.1 + torch.randn(5, f, generator=g) * 1e-3
    return module_case(HOOK, lambda: _randomized(ref.layer_norm(**args)), [[rows]], seed=s, device=device, args=args)


def _forward_is_right(case, sub, tolerance):
    try:
        expect_outputs(case.observe(sub), case, tolerance)
    except CheckFailed:
        return False
    return True


def test_outputs(device, case, sub, tolerance):
    """Outputs equal the reference's, weight and bias transplanted, for inputs of rank 2 and 3."""
    expect_outputs(case.observe(sub), case, tolerance, hint=VARIANCE_HINT)


def test_gradients(device, case, sub, tolerance):
    """Gradients of the input, `weight` and `bias` equal the reference's after a seeded backward."""
    # The hint about detaching only fits when the forward itself is right.
    hint = DETACH_HINT if _forward_is_right(case, sub, tolerance) else None
    expect_gradients(case.observe(sub), case, tolerance, hint=hint)


def test_parameters(case, sub):
    """Exactly `weight` and `bias`, each of shape `(features,)`: 2·features parameters."""
    expect_structure(case.observe(sub), case)


def test_initial_values(device, init_case, case, sub, tolerance):
    """A freshly built module computes what one with `weight` at ones and `bias` at zeros does."""
    obs = expect_module(init_case.observe(sub), init_case)
    if not _forward_is_right(case, sub, tolerance):
        fail("the initial values cannot be checked while the forward is wrong (see the `outputs` check)")
    try:
        expect_outputs(obs, init_case, tolerance)
    except CheckFailed as e:
        fail(f"a freshly built module does not compute a plain normalization: {e.message}", INIT_HINT)


def test_eps(device, eps_case, case, sub, tolerance):
    """On nearly constant rows, whose variance is far below `eps`, outputs equal the reference's."""
    obs = expect_module(eps_case.observe(sub), eps_case)
    if not _forward_is_right(case, sub, tolerance):
        fail("the handling of `eps` cannot be checked while the forward is wrong (see the `outputs` check)")
    run, expected = obs.runs[0], eps_case.outputs[0]
    if run.error or not isinstance(run.y, TensorOut):
        fail("the forward failed on nearly constant rows")
    rtol, atol = tolerance(expected.dtype, eps_case.device)
    problem = mismatch(run.y.value, expected, rtol, atol, what="the output for rows whose variance is far below `eps`")
    if problem:
        fail(problem, EPS_HINT)
