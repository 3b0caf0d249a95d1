"""Standard torch modules described in JSON, built identically on both sides of the boundary.

Checks often hand a submission a network the grader chose (``param_shapes(net)``,
``my_sequential(modules)``, ``save_params(net, path)``…). The trusted side describes it here,
builds its own copy to compute what to expect, and sends the description plus the parameter
values; the worker builds the same modules from standard torch classes only. No course code is
needed inside the worker for that.

    {"type": "Linear", "in": 20, "out": 256}          {"type": "ReLU"}
    {"type": "LazyLinear", "out": 10}                   {"type": "BatchNorm1d", "n": 8}
    {"type": "Sequential", "children": [...]}           children named "0", "1", …
    {"type": "Sequential", "named": [["block 0", {...}], ...]}
    {"type": "Container", "named": [...], "buffers": [["rand_weight", [20, 20]]]}
    {"id": "shared", "type": "Linear", ...} … {"ref": "shared"}   the same object again

``tie`` makes Parameters of different modules one object after the build. ``train_mse`` and
``resume_sgd`` are the checkpoint check's training, which both sides run too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's global CPU generator seeded (modules initialize from it),
    leaving the outer state untouched. The trusted side builds the reference's modules under it
    (``grader.kit.seeded``) and the worker the submission's, so both draw the same numbers. Not
    ``torch.manual_seed``: where CUDA is not initialized that also queues a seed for every
    accelerator type, with a stack trace each (~1 ms a call)."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


_SIMPLE = {
    "ReLU": nn.ReLU,
    "Tanh": nn.Tanh,
    "Sigmoid": nn.Sigmoid,
    "Identity": nn.Identity,
    "Flatten": nn.Flatten,
}


class Container(nn.Module):
    """A plain module with named children (applied in order) and optional buffers."""

    def forward(self, x):
        for m in self._modules.values():
            if m is not None:  # a child set to None is no module (``named_children`` skips it too)
                x = m(x)
        return x


def build(spec: dict, _ids: dict[str, nn.Module] | None = None) -> nn.Module:
    ids = {} if _ids is None else _ids
    if "ref" in spec:
        return ids[spec["ref"]]
    kind = spec["type"]
    if kind == "Linear":
        m: nn.Module = nn.Linear(int(spec["in"]), int(spec["out"]), bias=bool(spec.get("bias", True)))
    elif kind == "LazyLinear":
        m = nn.LazyLinear(int(spec["out"]), bias=bool(spec.get("bias", True)))
    elif kind == "BatchNorm1d":
        m = nn.BatchNorm1d(int(spec["n"]))
    elif kind == "LayerNorm":
        m = nn.LayerNorm(int(spec["n"]))
    elif kind in _SIMPLE:
        m = _SIMPLE[kind]()
    elif kind in ("Sequential", "Container"):
        m = nn.Sequential() if kind == "Sequential" else Container()
        if "children" in spec:
            named = [(str(i), c) for i, c in enumerate(spec["children"])]
        else:
            named = [(str(n), c) for n, c in spec.get("named", [])]
        for name, child in named:
            m.add_module(name, build(child, ids))
        for name, shape in spec.get("buffers", []):
            m.register_buffer(str(name), torch.zeros([int(s) for s in shape]))
    else:
        raise ValueError(f"unknown module type {kind!r}")
    if "id" in spec:
        ids[spec["id"]] = m
    return m


def build_list(specs: list[dict]) -> list[nn.Module]:
    """Several modules sharing one id table, so ``{"ref": ...}`` can repeat an object."""
    ids: dict[str, nn.Module] = {}
    return [build(s, ids) for s in specs]


def load_state(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy values in place by name (ties survive: both aliases hold the same values)."""
    with torch.no_grad():
        own: dict[str, torch.Tensor] = dict(module.named_parameters(remove_duplicate=False))
        own.update(module.named_buffers(remove_duplicate=False))
        for name, value in state.items():
            own[name].copy_(value)


def tie(module: nn.Module, pairs: list) -> None:
    """``[["2.weight", "0.weight"]]``: make ``2.weight`` the very Parameter object ``0.weight``
    (a tie between Parameters of different modules, like an embedding shared with a head)."""
    for dst, src in pairs:
        owner, _, leaf = str(dst).rpartition(".")
        setattr(module.get_submodule(owner), leaf, module.get_parameter(str(src)))


def linear(i: int, o: int, **kw: Any) -> dict:
    return {"type": "Linear", "in": i, "out": o, **kw}


def relu() -> dict:
    return {"type": "ReLU"}


def seq(*children: dict, **kw: Any) -> dict:
    return {"type": "Sequential", "children": list(children), **kw}


def named_seq(named: list[tuple[str, dict]], **kw: Any) -> dict:
    return {"type": "Sequential", "named": [[n, c] for n, c in named], **kw}


class Factory:
    """``make_block`` for ``replicate``: builds a described module, the i-th call with the i-th
    state, keeping what it made (the worker's for the submission, the checks' for the reference)."""

    def __init__(self, spec: dict, states: list[dict[str, torch.Tensor]]):
        self.spec, self.states = spec, states
        self.made: list[nn.Module] = []

    def __call__(self) -> nn.Module:
        m = build(self.spec)
        if len(self.made) < len(self.states):
            load_state(m, self.states[len(self.made)])
        self.made.append(m)
        return m


# -- training both sides run (the checkpoint check) ----------------------------------------------


def train_mse(net: nn.Module, optimizer: Any, X: torch.Tensor, y: torch.Tensor, steps: int) -> None:
    """Full-batch steps on the MSE loss: the checkpoint check's training, run by the worker and,
    for the expected values, by the trusted side."""
    loss = nn.MSELoss()
    for _ in range(steps):
        optimizer.zero_grad()
        loss(net(X), y).backward()
        optimizer.step()


def resume_sgd(net: nn.Module, req: dict, kind: Any = None) -> Any:
    """The checkpoint check's optimizer, with the request's hyperparameters. The trusted side runs
    this very function with ``kind=kit.FunctionalSGD`` (the same values, without the import of
    torch._dynamo that a torch.optim optimizer makes)."""
    return (kind or torch.optim.SGD)(net.parameters(), lr=float(req["lr"]), momentum=float(req["momentum"]))
