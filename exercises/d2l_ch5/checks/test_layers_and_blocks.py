"""Checks for 5.1 Layers and blocks.

Module hooks are compared with the reference on inputs of three batch sizes drawn from the run's
seed: with the reference's parameters transplanted by name where the names are the contract's
(``mlp`` … ``my_sequential``), or with the grader's own modules handed to the hook where the
submission names its submodules freely (``parallel``, ``replicate``: their gradients are then
compared per module handed over).
"""

import pytest

from grader.kit import (
    ArchList,
    HookUnavailable,
    SubmissionRaised,
    WorkerFailure,
    case_fixture,
    derive_seed,
    expect_structure,
    expect_tied,
    fail,
    short,
)

from ._blame import uses
from ._cases import (
    LIST_CHAIN,
    build_case,
    check_gradients,
    check_outputs,
    check_structure,
    expect_independent,
    states_of,
)

MODULE_HOOKS = ["mlp", "nest_mlp", "fixed_hidden_mlp", "chimera", "my_sequential", "parallel", "replicate"]

VOCABULARY = {
    "parameters_not_registered",
    "state_dict_empty",
    "optimizer_empty",
    "device_not_propagated",
    "train_eval_not_propagated",
    "repr_empty",
}
REQUIRED = ("parameters_not_registered", "state_dict_empty")


@case_fixture
def case(ref, hook, seed, device):
    """The reference side of ``hook`` on this check's device (CPU for device-free checks)."""
    return build_case(ref, hook, seed, device)


@case_fixture
def repeated(ref, seed, device):
    """``my_sequential`` on a chain holding one Linear at two positions."""
    return build_case(ref, "my_sequential:repeated", seed, device)


# -- modules: outputs, gradients, structure ----------------------------------------------------


@pytest.mark.parametrize("hook", MODULE_HOOKS)
def test_outputs(hook, device, case, sub, tolerance):
    """Outputs equal the reference's (same parameters) for three batch sizes."""
    check_outputs(case, sub, tolerance)


@pytest.mark.parametrize("hook", MODULE_HOOKS)
def test_gradients(hook, device, case, sub, tolerance):
    """Input and parameter gradients equal the reference's after a seeded backward."""
    check_gradients(case, sub, tolerance)


@pytest.mark.parametrize("hook", MODULE_HOOKS)
def test_structure(hook, case, sub):
    """Parameter names (where the contract fixes them), shapes, count and buffers; submodules registered; nothing lazy."""
    check_structure(case, sub)


# -- my_sequential with a repeated module --------------------------------------------------------


@pytest.mark.parametrize("hook", ["my_sequential"])
def test_repeated_outputs(hook, device, repeated, sub, tolerance):
    """A module passed twice is applied at both positions: outputs equal the reference's."""
    check_outputs(repeated, sub, tolerance)


@pytest.mark.parametrize("hook", ["my_sequential"])
def test_repeated_gradients(hook, device, repeated, sub, tolerance):
    """With a module passed twice, its gradient is the sum over both positions."""
    check_gradients(repeated, sub, tolerance)


@pytest.mark.parametrize("hook", ["my_sequential"])
def test_repeated_structure(hook, repeated, sub):
    """With a module passed twice, names are "0", "1", … and its parameters are counted once."""
    expect_structure(repeated.case.observe(sub), repeated.case)


@pytest.mark.parametrize("hook", ["my_sequential"])
def test_tying(hook, repeated, sub):
    """Positions 2 and 4 hold one Parameter object (not a copy, not two Parameters on one memory)."""
    obs = repeated.case.observe(sub)
    expect_tied(obs.after, [["2.weight", "4.weight"], ["2.bias", "4.bias"]], before=obs.before)


# -- list_sequential and list_storage_problems (exercise 5.1.1) --------------------------------


def _list_facts(sub, seed, cache) -> dict:
    """What a plain list changes, observed on the submission's own ``list_sequential``."""
    states = cache(("d2l_ch5.list_states", seed), lambda: states_of(LIST_CHAIN, derive_seed(seed, "list_facts")))
    return sub.facts("list_sequential", modules=ArchList(LIST_CHAIN, states))


@pytest.mark.parametrize("hook", ["list_sequential"])
def test_forward(hook, case, sub, tolerance):
    """The chain's outputs are right (on CPU: a plain list does not follow the module elsewhere)."""
    check_outputs(case, sub, tolerance)


@pytest.mark.optimizer
@pytest.mark.parametrize("hook", ["list_sequential"])
def test_unregistered(hook, sub, seed, cache):
    """The modules live in a plain list: `parameters()` and `state_dict()` are empty."""
    list_facts = _list_facts(sub, seed, cache)
    _expect_plain_facts(list_facts)
    if list_facts["num_parameters"]:
        fail(
            f"`parameters()` yields {list_facts['num_parameters']} tensors: the modules are registered, "
            "but this exercise keeps them in a plain Python list to show what goes wrong"
        )
    if list_facts["state_dict_keys"]:
        fail(
            f"`state_dict()` has entries ({short(list_facts['state_dict_keys'])}): the modules are registered somewhere"
        )


def _expect_plain_facts(facts: dict) -> None:
    """The module's bookkeeping is torch's plain kind (else its facts describe a forgery)."""
    findings = facts.get("findings") or []
    if findings:
        fail(f"the module replaced torch's own bookkeeping: {findings[0]}")


def _claims(sub) -> set:
    value = sub.call("list_storage_problems").value
    if not isinstance(value, (set, frozenset)):
        fail(f"`list_storage_problems()` returned a {type(value).__name__}, expected a set of words")
    if not all(isinstance(w, str) for w in value):
        fail("`list_storage_problems()` must return a set of strings")
    return set(value)


@pytest.mark.parametrize("hook", ["list_storage_problems"])
def test_vocabulary(hook, sub):
    """Returns a set of words, all from the vocabulary."""
    unknown = sorted(_claims(sub) - VOCABULARY)
    if unknown:
        fail(f"unknown word(s) {short(unknown)}; the vocabulary is {short(sorted(VOCABULARY), 6)}")


@pytest.mark.parametrize("hook", ["list_storage_problems"])
def test_required(hook, sub):
    """Claims `parameters_not_registered` and `state_dict_empty`."""
    missing = [w for w in REQUIRED if w not in _claims(sub)]
    if missing:
        fail(f"{short(missing)} not claimed, though a plain list always causes it")


# Each claim, checked against the facts of the submission's own list_sequential: (holds, why not).
CLAIMS = {
    "parameters_not_registered": (lambda f: f["num_parameters"] == 0, "`parameters()` is not empty"),
    "state_dict_empty": (lambda f: not f["state_dict_keys"], "`state_dict()` is not empty"),
    "optimizer_empty": (
        lambda f: f["optimizer_error"] is not None,
        "`torch.optim.SGD(net.parameters(), lr=0.1)` works",
    ),
    "device_not_propagated": (
        lambda f: f["double_reaches_hidden"] is False,
        "the listed modules are registered, so `.double()` converts their parameters",
    ),
    "train_eval_not_propagated": (
        lambda f: f["eval_reaches_hidden"] is False,
        "the listed modules are registered, so `.eval()` reaches every one",
    ),
    "repr_empty": (lambda f: f["repr_shows_listed"] is False, "`repr(net)` shows the listed modules"),
}


@pytest.mark.optimizer
@pytest.mark.parametrize("hook", ["list_storage_problems"])
def test_claims_hold(hook, sub, seed, cache):
    """Every claimed problem really occurs for the submission's own `list_sequential`."""
    claims = _claims(sub) & VOCABULARY
    if not claims:
        return  # nothing claimed, nothing to verify (test_required asks for two claims)
    try:
        facts = _list_facts(sub, seed, cache)
    except (HookUnavailable, WorkerFailure) as e:
        fail(uses("list_sequential", e.message))
    except SubmissionRaised as e:
        fail(uses("list_sequential", str(e)))
    _expect_plain_facts(facts)
    for word in sorted(claims):
        holds, why_not = CLAIMS[word]
        if not holds(facts):
            fail(f"`{word}` is claimed but does not happen for your `list_sequential`: {why_not}")


# -- replicate (exercise 5.1.3) -------------------------------------------------------------------


@pytest.mark.parametrize("hook", ["replicate"])
def test_calls(hook, case, sub):
    """`make_block` is called exactly n times."""
    obs = case.case.observe(sub)
    report = obs.factories[0] if obs.factories else {}
    calls = int(report.get("calls", 0))
    if calls != case.n:
        hint = (
            "call `make_block()` once per instance"
            if calls < case.n
            else "do not call `make_block()` for anything but the n instances"
        )
        fail(f"`make_block` was called {calls} time(s) for n = {case.n}", hint)


@pytest.mark.parametrize("hook", ["replicate"])
def test_independent(hook, case, sub):
    """No instance, Parameter or parameter memory is shared between the n blocks."""
    expect_independent(case.case.observe(sub), case)
