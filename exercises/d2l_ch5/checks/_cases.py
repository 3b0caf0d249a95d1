"""Module cases for the checks of 5.1 and 5.2: what the grader builds and hands to a hook, what
the reference computes from the same values, and known mistakes whose outputs earn a hint.

Everything here runs in the trusted process and depends only on the run's seed, so a case is
built once per run (the check modules' ``case_fixture``) and one worker request per hook and device answers every check
that shares it (the request cache answers identical requests once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from grader.kit import (
    LIST_HINT,
    Arch,
    ArchList,
    Factory,
    ModuleCase,
    ModuleObservation,
    TensorOut,
    arch,
    derive_seed,
    expect_gradients,
    expect_module,
    expect_outputs,
    expect_sound,
    expect_structure,
    fail,
    mismatch,
    module_case,
    seeded,
    short,
)

TANH = {"type": "Tanh"}
CHILDREN_HINT = (
    "`self.children()` (and `named_children()`) yields a module that appears twice only once: "
    "iterate over `self._modules.values()` to apply it at every position"
)
SHARED_INSTANCE_HINT = "`[block] * n` repeats one object n times: call `make_block()` n times, one fresh instance each"
ORDER_HINT = "chain the instances in the order `make_block` made them"
PARALLEL_ORDER_HINT = "concatenate `net1`'s output first, then `net2`'s"


@dataclass
class Built:
    """A reference case plus what a check needs besides it."""

    case: ModuleCase
    known: list[tuple[list[torch.Tensor], str]] = field(default_factory=list)  # (outputs of a known mistake, its hint)
    n: int | None = None  # replicate: how many instances
    block_params: int | None = None  # replicate: parameters of one instance
    structure: str = "structure"  # the name of the check that judges names and shapes

    def hint(self, obs: ModuleObservation) -> str | None:
        """The hint of the known mistake whose outputs the submission reproduced, if any."""
        for outputs, hint in self.known:
            if (
                obs.runs
                and len(obs.runs) == len(outputs)
                and all(
                    isinstance(r.y, TensorOut) and mismatch(r.y.value, o) is None for r, o in zip(obs.runs, outputs)
                )
            ):
                return hint
        return None


# -- inputs and values -----------------------------------------------------------------------


def batches(seed: int, features: int) -> tuple[list[list[torch.Tensor]], list[torch.Tensor]]:
    """Inputs of three batch sizes (1, 2–16, 17–64) and a warm-up batch, all from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    sizes = [1, int(torch.randint(2, 17, (1,), generator=g)), int(torch.randint(17, 65, (1,), generator=g))]
    inputs = [[torch.randn(b, features, generator=g)] for b in sizes]
    return inputs, [torch.randn(2, features, generator=g)]


def states_of(specs: list[dict], seed: int) -> list[dict[str, torch.Tensor] | None]:
    """Values for each described module (None for a repeat), drawn under ``seed``."""
    with seeded(seed):
        mods = arch.build_list(specs)
    return [
        None if "ref" in spec else {k: v.detach().clone() for k, v in m.state_dict().items()} or None
        for spec, m in zip(specs, mods)
    ]


def rebuild(specs: list[dict], states: list[dict | None]) -> list[nn.Module]:
    mods = arch.build_list(specs)
    for m, st in zip(mods, states):
        if st:
            arch.load_state(m, st)
    return mods


def run_chain(mods: list[nn.Module], inputs: list[list[torch.Tensor]], device: str) -> list[torch.Tensor]:
    outs = []
    with torch.no_grad():
        for (x,) in inputs:
            x = x.to(device)
            for m in mods:
                x = m(x)
            outs.append(x.cpu())
    return outs


# -- cases, per hook -------------------------------------------------------------------------

# Hooks whose parameter names are the contract's: (hook, input features).
CONTRACT_MODULES = {
    "mlp": 20,
    "nest_mlp": 20,
    "fixed_hidden_mlp": 20,
    "chimera": 20,
    "block1": 4,
    "block2": 4,
    "rgnet": 4,
    "shared_mlp": 4,
}

# Parts of a module that another hook builds and judges: the book's chimera ends with a
# FixedHiddenMLP, whose constant `fixed_hidden_mlp/structure` judges.
PARTS = {"chimera": {"2.": "fixed_hidden_mlp"}}

DISTINCT_CHAIN = [arch.linear(20, 32), arch.relu(), arch.linear(32, 16), TANH, arch.linear(16, 8)]
# One Linear at positions 2 and 4, with different activations around it, so order matters.
REPEATED_CHAIN = [
    arch.linear(12, 16),
    arch.relu(),
    {"id": "shared", **arch.linear(16, 16)},
    TANH,
    {"ref": "shared"},
    arch.relu(),
    arch.linear(16, 4),
]
LIST_CHAIN = [arch.linear(20, 32), arch.relu(), arch.linear(32, 10)]
PARALLEL_NETS = (
    arch.seq(arch.linear(12, 16), arch.relu(), arch.linear(16, 6)),
    arch.seq(arch.linear(12, 5), TANH),
)
REPLICA = arch.seq(arch.linear(6, 6), TANH)


def contract_case(ref: Any, hook: str, seed: int, device: str) -> Built:
    s = derive_seed(seed, "case", hook)
    inputs, warmup = batches(s, CONTRACT_MODULES[hook])
    # The warm-up forward materializes lazy layers (the 1.0 book's style) before the transplant.
    return Built(
        module_case(hook, getattr(ref, hook), inputs, seed=s, device=device, warmup=warmup, parts=PARTS.get(hook))
    )


def chain_case(
    ref: Any,
    hook: str,
    specs: list[dict],
    features: int,
    seed: int,
    device: str,
    *,
    transplant: bool = True,
    grads: bool = True,
) -> Built:
    s = derive_seed(seed, "case", hook, len(specs))
    inputs, _ = batches(s, features)
    states = states_of(specs, s + 1)
    held: dict[str, list[nn.Module]] = {}

    def build() -> nn.Module:
        held["mods"] = rebuild(specs, states)
        return getattr(ref, hook)(modules=held["mods"])

    case = module_case(
        hook,
        build,
        inputs,
        seed=s,
        device=device,
        args={"modules": ArchList(specs, states)},
        transplant=transplant,
        grads=grads,
    )
    built = Built(case)
    unique = list({id(m): m for m in held["mods"]}.values())
    if len(unique) < len(held["mods"]):
        built.known.append((run_chain(unique, inputs, device), CHILDREN_HINT))
    return built


def parallel_case(ref: Any, seed: int, device: str) -> Built:
    s = derive_seed(seed, "case", "parallel")
    inputs, _ = batches(s, 12)
    st1, st2 = (states_of([spec], s + i + 1)[0] for i, spec in enumerate(PARALLEL_NETS))
    held: dict[str, nn.Module] = {}

    def build() -> nn.Module:
        held["net1"], held["net2"] = rebuild(list(PARALLEL_NETS), [st1, st2])
        return ref.parallel(net1=held["net1"], net2=held["net2"])

    case = module_case(
        "parallel",
        build,
        inputs,
        seed=s,
        device=device,
        args={"net1": Arch(PARALLEL_NETS[0], st1), "net2": Arch(PARALLEL_NETS[1], st2)},
        transplant=False,
        given=lambda: dict(held),
    )
    with torch.no_grad():
        swapped = [torch.cat((held["net2"](x.to(device)), held["net1"](x.to(device))), dim=-1).cpu() for (x,) in inputs]
    return Built(case, known=[(swapped, PARALLEL_ORDER_HINT)])


def replicate_case(ref: Any, seed: int, device: str) -> Built:
    s = derive_seed(seed, "case", "replicate")
    inputs, _ = batches(s, 6)
    n = 3 + s % 3
    states = [st for st in states_of([REPLICA] * n, s + 1) if st is not None]
    held: dict[str, arch.Factory] = {}

    def build() -> nn.Module:
        held["make_block"] = arch.Factory(REPLICA, states)  # the reference's make_block
        return ref.replicate(make_block=held["make_block"], n=n)

    case = module_case(
        "replicate",
        build,
        inputs,
        seed=s,
        device=device,
        args={"make_block": Factory(REPLICA, states), "n": n},
        transplant=False,
        given=lambda: dict(held),
    )
    made = held["make_block"].made
    known = [
        (run_chain([made[0]] * n, inputs, device), SHARED_INSTANCE_HINT),
        (run_chain(made[::-1], inputs, device), ORDER_HINT),
    ]
    one = sum(p.numel() for p in made[0].parameters())
    return Built(case, known=known, n=n, block_params=one)


def build_case(ref: Any, key: str, seed: int, device: str) -> Built:
    """``key``: a hook name, or ``my_sequential:repeated``."""
    if key in CONTRACT_MODULES:
        return contract_case(ref, key, seed, device)
    if key == "my_sequential":
        return chain_case(ref, key, DISTINCT_CHAIN, 20, seed, device)
    if key == "my_sequential:repeated":
        built = chain_case(ref, "my_sequential", REPEATED_CHAIN, 12, seed, device)
        built.structure = "repeated_structure"
        return built
    if key == "list_sequential":
        return chain_case(ref, key, LIST_CHAIN, 20, seed, "cpu", transplant=False, grads=False)
    if key == "parallel":
        return parallel_case(ref, seed, device)
    if key == "replicate":
        return replicate_case(ref, seed, device)
    raise KeyError(key)


# -- check bodies ----------------------------------------------------------------------------


def expect_transplanted(obs: ModuleObservation, hook: str, structure: str = "structure") -> None:
    """Outputs and gradients are compared with the contract's parameters transplanted by name.
    When the module's names or shapes do not take them, say so in one line and leave the details
    (which names, which shapes) to the check that judges them, ``structure``: one finding,
    spelled out once."""
    t = obs.transplant
    if obs.not_module is None and t is not None and not t.get("done"):
        hidden = bool(t.get("missing")) and obs.after is not None and bool(obs.after.hidden_modules)
        fail(
            f"not compared: the module's parameter names or shapes differ from the contract's "
            f"(`{hook}/{structure}` names them)",
            LIST_HINT if hidden else None,
        )


def check_outputs(built: Built, sub: Any, tolerance: Callable) -> None:
    obs = built.case.observe(sub)
    expect_transplanted(obs, built.case.hook, built.structure)
    expect_outputs(obs, built.case, tolerance, built.hint(obs))


def check_gradients(built: Built, sub: Any, tolerance: Callable, hint: str | None = None) -> None:
    obs = built.case.observe(sub)
    expect_transplanted(obs, built.case.hook, built.structure)
    expect_gradients(obs, built.case, tolerance, built.hint(obs) or hint)


def check_structure(built: Built, sub: Any) -> None:
    obs = built.case.observe(sub)
    if built.case.state is not None:
        expect_structure(obs, built.case)
    else:
        expect_registered(obs, built)


def expect_registered(obs: ModuleObservation, built: Built) -> None:
    """For hooks that name their submodules freely: every module handed over (or made by the
    factory) is registered, in the order made; the parameter count is the contract's."""
    case = built.case
    expect_module(obs, case)
    after = expect_sound(obs.after)
    if built.n is not None:
        report = obs.factories[0] if obs.factories else {}
        calls = int(report.get("calls", 0))
        # First appearances: an instance may sit in two containers (an alias), which is fine.
        order = list(dict.fromkeys(int(i) for i in report.get("order", [])))
        if set(order) != set(range(calls)):
            fail(
                f"{calls - len(order)} of the {calls} instances `make_block` made are not registered submodules",
                LIST_HINT,
            )
        if order != sorted(order):
            fail("the instances are registered in a different order from the one `make_block` made them in", ORDER_HINT)
        expected = f"{built.n} × {built.block_params}"
        hint = SHARED_INSTANCE_HINT if after.num_params == built.block_params else None
    else:
        expected, hint = "the sum of `net1`'s and `net2`'s", None
    if after.num_params != case.num_params:
        fail(f"the module has {after.num_params} parameters, expected {case.num_params} ({expected})", hint)


def expect_independent(obs: ModuleObservation, built: Built) -> None:
    """n × one block's parameters, each its own Parameter on its own memory."""
    expect_module(obs, built.case)
    after = obs.after
    if after is None:
        fail("the module could not be described")
    # Unregistered instances are the structure check's finding; here only sharing counts.
    if after.num_params < built.case.num_params and not after.hidden_modules:
        hint = SHARED_INSTANCE_HINT if after.num_params == built.block_params else None
        fail(
            f"the module has {after.num_params} distinct parameters, expected {built.n} × {built.block_params}: some are shared",
            hint,
        )
    by_storage: dict[Any, dict[Any, str]] = {}
    for p in after.params:
        if p.get("storage") is not None:
            by_storage.setdefault(p["storage"], {}).setdefault(p.get("id"), str(p.get("name")))
    for ids in by_storage.values():
        if len(ids) > 1:
            a, b = list(ids.values())[:2]
            fail(f"`{a}` and `{b}` are different Parameters on one memory: the instances are not independent")


__all__ = [
    "Built",
    "CONTRACT_MODULES",
    "batches",
    "build_case",
    "check_gradients",
    "check_outputs",
    "check_structure",
    "expect_independent",
    "expect_registered",
    "expect_transplanted",
    "short",
]
