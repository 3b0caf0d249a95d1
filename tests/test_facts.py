"""Facts about modules come from torch's own bookkeeping, never from what a module's class says
about itself (``grader/worker/bookkeeping.py``, ``observe.py``): the reading equals torch's own
methods on ordinary modules, overrides change nothing, reading runs no student code, and
bookkeeping that is not torch's plain kind is a finding the checks fail on."""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from grader.kit import CheckFailed, ModuleSummary, describe_module, expect_plain, expect_sound, expect_tied
from grader.reference import custom_layers, layers_and_blocks, lazy_init, parameters
from grader.worker import arch, observe
from grader.worker.bookkeeping import Reading

EXPLOITS = Path(__file__).resolve().parent / "submissions" / "exploits"


def load(attack: str, module: str = "solution"):
    spec = importlib.util.spec_from_file_location(f"exploit_{attack}_{module}", EXPLOITS / attack / f"{module}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def assert_reads_as_torch(m: nn.Module) -> None:
    r = Reading(m)
    for dup in (True, False):
        assert [(n, id(p)) for n, p in m.named_parameters(remove_duplicate=dup)] == [
            (n, id(p)) for n, p in r.parameters(dup)
        ]
        assert [(n, id(b)) for n, b in m.named_buffers(remove_duplicate=dup)] == [
            (n, id(b)) for n, b, _ in r.buffers(dup)
        ]
        assert [(n, id(s)) for n, s in m.named_modules(remove_duplicate=dup)] == [(n, id(s)) for n, s in r.modules(dup)]
    assert list(m.state_dict()) == r.state_dict_keys()
    assert r.findings == []


class WithExtraState(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.register_parameter("unused", None)
        self.register_buffer("scratch", torch.zeros(2), persistent=False)
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))
        self.add_module("absent", None)

    def get_extra_state(self):
        return {"version": 1}

    def set_extra_state(self, state):
        pass


def ordinary_modules() -> list[nn.Module]:
    tied = arch.build(arch.seq(arch.linear(8, 8), {"type": "Tanh"}, arch.linear(8, 8)))
    arch.tie(tied, [["2.weight", "0.weight"]])
    return [
        layers_and_blocks.mlp(),
        layers_and_blocks.nest_mlp(),
        layers_and_blocks.fixed_hidden_mlp(),
        layers_and_blocks.chimera(),
        layers_and_blocks.list_sequential([nn.Linear(2, 2)]),
        parameters.rgnet(),
        parameters.shared_mlp(),
        lazy_init.lazy_mlp(),
        lazy_init.partially_lazy_net(),
        lazy_init.varying_input_net(in_dims=[3, 5], hidden=4, out=2),
        custom_layers.my_linear(in_units=3, units=2),
        nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)),
        WithExtraState(),
        tied,
    ]


@pytest.mark.parametrize("index", range(len(ordinary_modules())))
def test_a_reading_is_what_torch_registers(index):
    assert_reads_as_torch(ordinary_modules()[index])


@st.composite
def trees(draw) -> nn.Module:
    """Module trees with repeated modules at several places, as shared layers make them."""
    pool: list[nn.Module] = []

    def node(depth: int) -> nn.Module:
        if pool and draw(st.booleans()):
            return draw(st.sampled_from(pool))
        if depth >= 3 or draw(st.integers(0, 2)) == 0:
            m = draw(st.sampled_from([lambda: nn.Linear(2, 2), lambda: nn.BatchNorm1d(2), nn.ReLU]))()
        else:
            m = nn.Sequential(*[node(depth + 1) for _ in range(draw(st.integers(1, 3)))])
        pool.append(m)
        return m

    return nn.Sequential(*[node(1) for _ in range(draw(st.integers(1, 3)))])


@settings(max_examples=60, deadline=None)
@given(trees())
def test_a_reading_is_what_torch_registers_for_any_sharing(tree):
    assert_reads_as_torch(tree)


# -- classes that lie ---------------------------------------------------------------------------


def test_accessor_overrides_change_nothing():
    """`lying_accessors`: named_parameters, parameters, named_modules, named_buffers and
    state_dict claim a tie; torch holds two layers."""
    m = load("lying_accessors").shared_mlp()
    assert len(list(m.parameters())) == 6  # what the class claims
    s = ModuleSummary(observe.summarize(m), {})
    assert s.num_params == 193 and s.tie_groups() == []
    assert s.state_dict_keys == [f"{i}.{k}" for i in (0, 2, 4, 6) for k in ("weight", "bias")]
    with pytest.raises(CheckFailed, match="independent copies"):
        expect_tied(s, [["2.weight", "4.weight"]])


def test_registered_modules_are_registered_whatever_the_class_says():
    """`hidden_registered`: every accessor, `_apply`, `train` and `repr` hide an nn.ModuleList."""
    mods = [nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)]
    m = load("hidden_registered").list_sequential(mods)
    assert list(m.parameters()) == [] and m.state_dict() == {}
    facts = observe.list_facts(m, mods)
    assert facts["num_parameters"] == 4
    assert facts["state_dict_keys"] == ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]
    assert facts["optimizer_error"] is None
    assert facts["eval_reaches_hidden"] is True and facts["double_reaches_hidden"] is True
    honest = layers_and_blocks.list_sequential(mods)
    facts = observe.list_facts(honest, mods)
    assert facts["num_parameters"] == 0 and facts["state_dict_keys"] == []
    assert "empty parameter list" in facts["optimizer_error"]
    assert facts["eval_reaches_hidden"] is False and facts["double_reaches_hidden"] is False
    assert facts["repr_shows_listed"] is False and facts["findings"] == []


def test_a_net_is_lazy_only_if_torch_holds_uninitialized_parameters():
    """`eager_lazy`: named_parameters reports the last layer as UninitializedParameters."""
    m = load("eager_lazy").partially_lazy_net()
    assert any(isinstance(p, nn.UninitializedParameter) for p in m.parameters())  # the claim
    s = ModuleSummary(observe.summarize(m), {})
    assert not s.lazy and s.param("2.weight")["shape"] == [10, 256]
    reference = describe_module(lazy_init.partially_lazy_net())
    assert reference.lazy and reference.param("2.weight")["lazy"]


def test_a_transplant_and_the_gradients_reach_what_torch_registered():
    m = load("lying_accessors").shared_mlp()
    state = {
        f"{i}.{k}": torch.full_like(getattr(parameters.shared_mlp()[i], k), float(i))
        for i in (0, 2, 4, 6)
        for k in ("weight", "bias")
    }
    report = observe.transplant(m, state)
    assert report["done"] and report["unexpected"] == []
    assert torch.equal(m[4].weight.detach(), torch.full((8, 8), 4.0))  # the layer the class hides


class Explodes(nn.Module):
    """Once built, every attribute read through the instance, and every method a describer
    might call, raises."""

    armed = False

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.layers = [nn.Linear(2, 2)]
        type(self).armed = True

    def __getattribute__(self, name):
        if Explodes.armed:
            raise RuntimeError(f"student code ran: {name}")
        return super().__getattribute__(name)

    for _name in ("parameters", "named_parameters", "named_modules", "named_buffers", "state_dict", "children"):
        locals()[_name] = lambda self, *a, **k: (_ for _ in ()).throw(RuntimeError("student code ran"))


def test_describing_a_module_runs_none_of_its_code():
    m = Explodes()
    try:
        s = ModuleSummary(observe.summarize(m), {})
    finally:
        Explodes.armed = False
    assert [p["name"] for p in s.params] == ["lin.weight", "lin.bias"]
    assert [h["name"] for h in s.hidden_modules] == ["layers[0]"]
    assert s.findings == [] and s.errors == []


# -- findings ------------------------------------------------------------------------------------


class HidingDict(dict):
    def items(self):
        return iter(())


class ShadowParameter(nn.Parameter):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        raise RuntimeError("student code ran")


def with_hiding_dict() -> nn.Module:
    m = nn.Linear(2, 2)
    object.__setattr__(m, "_parameters", HidingDict(m._parameters))
    return m


def with_parameter_subclass() -> nn.Module:
    m = nn.Linear(2, 2)
    m._parameters["weight"] = ShadowParameter(torch.zeros(2, 2))
    return m


def with_cycle() -> nn.Module:
    m = nn.Sequential(nn.Linear(2, 2))
    m._modules["again"] = m
    return m


def with_odd_child() -> nn.Module:
    m = nn.Sequential(nn.Linear(2, 2))
    m._modules["x"] = 3
    return m


@pytest.mark.parametrize(
    "build, words",
    [
        (with_hiding_dict, "`_parameters` is a HidingDict"),
        (with_parameter_subclass, "parameter `weight` is a ShadowParameter"),
        (with_cycle, "contains itself"),
        (with_odd_child, "submodule `x` is a int"),
    ],
)
def test_bookkeeping_that_is_not_torchs_is_a_finding(build, words):
    s = ModuleSummary(observe.summarize(build()), {})
    assert any(words in f for f in s.findings), s.findings
    for expectation in (expect_plain, expect_sound, lambda s: expect_tied(s, [["weight", "weight"]])):
        with pytest.raises(CheckFailed, match="replaced torch's own bookkeeping"):
            expectation(s)


def test_a_dict_subclass_is_read_past_its_overrides():
    s = ModuleSummary(observe.summarize(with_hiding_dict()), {})
    assert [p["name"] for p in s.params] == ["weight", "bias"]


def test_a_tensor_subclass_is_never_asked_about_itself():
    s = ModuleSummary(observe.summarize(with_parameter_subclass()), {})
    weight = s.param("weight")
    assert weight["plain"] is False and "storage" not in weight


def test_a_module_tree_is_read_within_bounds():
    chain: nn.Module = nn.Linear(1, 1)
    for _ in range(600):
        chain = nn.Sequential(chain)
    r = Reading(chain)
    assert len(r.modules()) <= 502 and any("levels deep" in f for f in r.findings)
    wide = nn.Sequential(OrderedDict((str(i), nn.ReLU()) for i in range(5)))
    assert len(Reading(wide).modules()) == 6
