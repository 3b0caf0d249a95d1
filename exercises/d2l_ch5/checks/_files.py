"""What the 5.5 File I/O checks hand to a submission, and what they expect back.

Nets are described with ``grader.worker.arch`` so the worker builds them from standard torch
classes; the trusted side builds the same net from the same description and the run's seed.
Files a submission writes come back as bytes (at most ``read_cap`` of them) and are parsed here
with safetensors only (never unpickled), refused from their header when they hold more tensors or
bytes than the exercise could need (``file_caps``); files the grader writes are made here with
``safetensors.torch.save_model``.
"""

from __future__ import annotations

import copy
import os
import tempfile
from dataclasses import dataclass, field

import safetensors.torch
import torch
from torch import nn

from grader.kit import (
    Arch,
    Scratch,
    SubmissionRaised,
    UnreadableFile,
    arch,
    decode_value,
    derive_seed,
    exception_text,
    fail,
    mismatch,
    read_safetensors,
    seeded,
    short,
)

PICKLE_HINT = "write it with safetensors (`safetensors.torch.save_file` or `save_model`); `torch.save` writes a pickle"
SAVE_MODEL_HINT = (
    "`safetensors.torch.save_file` refuses tensors that share memory (tied weights); "
    "`safetensors.torch.save_model(net, path)` keeps one name per tie"
)
LOAD_MODEL_HINT = (
    "files written with `save_model` hold one name per tie: load them in place with "
    "`safetensors.torch.load_model(net, path)`, which copies into the net's own Parameters"
)
LOAD_HINT = (
    "copy every tensor of the file into the net in place, buffers included: "
    "`safetensors.torch.load_model(net, path)` (or `net.load_state_dict(load_file(path), strict=False)`)"
)
TORCH_LOAD_HINT = (
    "the file is safetensors, not a pickle: read it with `safetensors.torch.load_model(net, path)` "
    "(`torch.load` reads only what `torch.save` wrote)"
)

TANH = {"type": "Tanh"}


@dataclass(frozen=True)
class NetSpec:
    spec: dict
    width: int  # input features
    ties: tuple = ()  # Parameter-level ties, ``(dst, src)``: see ``arch.tie``
    train_batches: int = 0  # forwards in train mode before saving (BatchNorm running statistics)


NETS = {
    # The book's MLP, its layers under the names the book gives them.
    "mlp": NetSpec(
        {
            "type": "Container",
            "named": [["hidden", arch.linear(20, 256)], ["act", arch.relu()], ["out", arch.linear(256, 10)]],
        },
        20,
    ),
    # The shared-layer net of 5.2: one Linear object at positions 2 and 4.
    "shared": NetSpec(
        arch.seq(
            arch.linear(4, 8),
            arch.relu(),
            {"id": "s", **arch.linear(8, 8)},
            arch.relu(),
            {"ref": "s"},
            arch.relu(),
            arch.linear(8, 1),
        ),
        4,
    ),
    # Two Linear modules sharing one weight Parameter (like an embedding tied to a head).
    "tied": NetSpec(arch.seq(arch.linear(8, 8), TANH, arch.linear(8, 8)), 8, ties=(("2.weight", "0.weight"),)),
    # A net with buffers: BatchNorm1d's running statistics and its batch counter (int64).
    "batchnorm": NetSpec(
        arch.seq(arch.linear(6, 8), {"type": "BatchNorm1d", "n": 8}, arch.relu(), arch.linear(8, 3)), 6, train_batches=3
    ),
}


@dataclass
class Prepared:
    """One net as the grader built it: its values (every ``state_dict`` name, aliases included),
    which names are one tensor, and inputs to run it on."""

    name: str
    net: nn.Module
    state: dict[str, torch.Tensor]
    param_ties: list[list[str]]  # names of one Parameter object
    aliases: list[list[str]]  # state_dict names of one tensor (Parameter ties and shared modules)
    inputs: list[torch.Tensor]
    outputs: dict[str, list[torch.Tensor]] = field(default_factory=dict)  # device -> eval outputs

    @property
    def spec(self) -> NetSpec:
        return NETS[self.name]

    def arch(self) -> Arch:
        return Arch(self.spec.spec, self.state)

    def ties(self) -> list:
        return [list(t) for t in self.spec.ties]

    def expected_outputs(self, device: str) -> list[torch.Tensor]:
        if device not in self.outputs:
            net = copy.deepcopy(self.net).to(device).eval()
            with torch.no_grad():
                self.outputs[device] = [net(x.to(device)).cpu() for x in self.inputs]
        return self.outputs[device]


def prepare(name: str, seed: int) -> Prepared:
    s = derive_seed(seed, "file-net", name)
    spec = NETS[name]
    with seeded(s):
        net = arch.build(spec.spec)
        arch.tie(net, spec.ties)
        g = torch.Generator().manual_seed(s)
        with torch.no_grad():
            net.train()
            for _ in range(spec.train_batches):
                net(torch.randn(16, spec.width, generator=g))
        net.eval()
        inputs = [torch.randn(b, spec.width, generator=g) for b in (1, 5, 12)]
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return Prepared(name, net, state, _groups(net.named_parameters(remove_duplicate=False)), _aliases(net), inputs)


def _groups(named) -> list[list[str]]:
    by_id: dict[int, list[str]] = {}
    for n, t in named:
        by_id.setdefault(id(t), []).append(n)
    return [g for g in by_id.values() if len(g) > 1]


def _aliases(net: nn.Module) -> list[list[str]]:
    by_storage: dict[int, list[str]] = {}
    for n, t in net.state_dict(keep_vars=True).items():
        by_storage.setdefault(t.untyped_storage().data_ptr(), []).append(n)
    return [g for g in by_storage.values() if len(g) > 1]


def save_model_bytes(net: nn.Module) -> bytes:
    """The file ``safetensors.torch.save_model`` writes (one name per tie, the rest in metadata)."""
    fd, path = tempfile.mkstemp(suffix=".safetensors")
    os.close(fd)
    try:
        safetensors.torch.save_model(net, path)
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


# -- files that come back from the worker ----------------------------------------------------


@dataclass(frozen=True)
class FileCaps:
    """What a file holding ``tensors`` could need, with room for a few mistakes worth naming
    (extra tensors, a wrong dtype): more is refused from the file's header."""

    max_tensors: int
    max_bytes: int

    @property
    def read_cap(self) -> int:
        """The most bytes of the file the worker sends back (data, header and metadata)."""
        return self.max_bytes + 512 * self.max_tensors + (1 << 20)


def file_caps(tensors: dict[str, torch.Tensor]) -> FileCaps:
    data = sum(t.numel() * 8 for t in tensors.values())  # as if every tensor were 8-byte elements
    return FileCaps(max_tensors=4 * len(tensors) + 64, max_bytes=4 * data + (1 << 20))


def file_bytes(body: dict, tensors: dict, call: str) -> bytes:
    """The file a hook wrote at the path it was given, or a failure saying what is there instead."""
    f = body.get("file")
    if not isinstance(f, dict):
        fail(f"{call} left nothing that could be read back")
    kind = f.get("kind")
    if kind == "missing":
        nearby = [str(n) for n in f.get("nearby") or []]
        also = f" (found {short(nearby)} instead: use the path exactly as given)" if nearby else ""
        fail(f"{call} wrote no file at `path`{also}")
    if kind == "directory":
        fail(f"{call} made a directory at `path`; the contract asks for one file there")
    if kind == "too_large":
        size = f.get("size") if isinstance(f.get("size"), int) else "?"
        fail(f"{call} wrote a file of {size} bytes, more than the grader reads for this exercise")
    data = decode_value(f.get("data"), tensors)
    if not isinstance(data, bytes):
        fail(f"{call}: the file could not be read back")
    if not data:
        fail(f"{call} wrote an empty file")
    return data


def parse_safetensors(data: bytes, call: str, caps: FileCaps) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (parsed from bytes: nothing is ever unpickled), refused
    from its header when it holds more than ``caps`` allow; the same bytes are parsed once."""
    try:
        return read_safetensors(data, max_tensors=caps.max_tensors, max_bytes=caps.max_bytes)
    except UnreadableFile as e:
        if e.refused:
            fail(f"the file {call} wrote is refused unread: {e}; it should hold only what it was asked to save")
        pickle = data[:2] == b"PK" or data[:1] == b"\x80"
        what = "a torch.save pickle" if pickle else "not valid safetensors"
        fail(f"the file {call} wrote is {what} ({e})", PICKLE_HINT)


def expect_same_tensors(got: object, want: dict[str, torch.Tensor], what: str) -> None:
    """Same names; each tensor with the same dtype, shape and exactly the same values."""
    if not isinstance(got, dict):
        fail(f"{what} is a {type(got).__name__}, expected a dict of tensors")
    missing = [k for k in want if k not in got]
    extra = [str(k) for k in got if k not in want]
    if missing or extra:
        parts = ([f"missing {short(missing)}"] if missing else []) + ([f"unexpected {short(extra)}"] if extra else [])
        fail(f"{what} has other names than the tensors given: " + "; ".join(parts))
    for k, expected in want.items():
        problem = mismatch(got[k], expected, 0.0, 0.0, what=f"`{k}` in {what}")
        if problem:
            fail(problem)


def expect_file_state(saved: dict[str, torch.Tensor], prep: Prepared, call: str) -> None:
    """The file holds every parameter and persistent buffer of the net by its ``state_dict``
    name (one name per group of tied names is enough), each with exactly its value."""
    unexpected = sorted(k for k in saved if k not in prep.state)
    if unexpected:
        fail(
            f"the file {call} wrote for the {prep.name} net holds names that are not the net's "
            f"`state_dict()` names: {short(unexpected)} (expected names like {short(list(prep.state), 3)})"
        )
    grouped = {n for g in prep.aliases for n in g}
    missing = [n for n in prep.state if n not in grouped and n not in saved]
    missing += [g[0] for g in prep.aliases if not any(n in saved for n in g)]
    if missing:
        buffers = {n for n, _ in prep.net.named_buffers()}
        kind = "buffer(s)" if all(n in buffers for n in missing) else "name(s)"
        fail(
            f"the file {call} wrote for the {prep.name} net lacks {kind} {short(missing)}: it must hold every "
            "parameter and persistent buffer (one name per tied group is enough)",
            "save the whole `state_dict()` (buffers included), e.g. with `safetensors.torch.save_model(net, path)`"
            if kind == "buffer(s)"
            else None,
        )
    for name, value in saved.items():
        problem = mismatch(
            value, prep.state[name], 0.0, 0.0, what=f"`{name}` in the file {call} wrote for the {prep.name} net"
        )
        if problem:
            fail(problem)


# -- load_params: a grader-built net after the hook ------------------------------------------


def load_request(sub, prep: Prepared, data: bytes, device: str, seed: int, name: str):
    """``load_params`` into a freshly built net (its own seeded init) on ``device``, in the
    submission's second worker, where ``save_params`` never ran (only the file carries the
    values): the file is written first, the net is run in eval mode and described afterwards."""
    try:
        return sub.second().operation(
            "file_call",
            "load_params",
            args={"net": Arch(prep.spec.spec), "path": Scratch(name)},
            data={"files": {name: data}, "inputs": prep.inputs},
            ties={"net": prep.ties()},
            device=device,
            run="net",
            inspect=["net"],
            seed=derive_seed(seed, "fresh-net", prep.name),
        )
    except SubmissionRaised as e:
        text = str(e)
        hint = None
        if "Missing key" in text or "Unexpected key" in text:
            hint = LOAD_MODEL_HINT
        elif any(w in text for w in ("UnpicklingError", "Weights only load failed", "invalid load key")):
            hint = TORCH_LOAD_HINT
        fail(text, hint)


def expect_loaded(answer, prep: Prepared, device: str, tolerance, source: str, ties: bool) -> None:
    """After ``load_params`` the net holds the file's values on its own device (ties kept: one
    Parameter object per tied group) and computes the saved net's outputs."""
    body, tensors = answer
    what = f"the {prep.name} net after `load_params` ({source})"
    summary = decode_value(body["inspect"]["net"], tensors) if isinstance(body.get("inspect"), dict) else None
    if summary is None:
        fail(f"{what} could not be described")
    for entry in summary.params + summary.buffers:
        found = str(entry.get("device"))
        if _norm(found) != _norm(device):
            fail(
                f"`{entry.get('name')}` of {what} is on {found}, but the net was on {device}",
                "load into the net's existing tensors (`load_model` or `load_state_dict` copy in place); "
                "`assign=True` or new Parameters replace them with the file's CPU tensors",
            )
    if ties:
        for group in prep.param_ties:
            ids = {(summary.param(n) or {}).get("id") for n in group}
            if len(ids) > 1:
                fail(
                    f"in {what}, {short(group)} are no longer one Parameter: loading replaced Parameters "
                    "instead of copying the file's values into them, so the tie is broken",
                    LOAD_MODEL_HINT,
                )
    values = summary.values
    for name, want in prep.state.items():
        if name not in values:
            continue  # an alias of a tensor already compared
        problem = mismatch(values[name], want, 0.0, 0.0, what=f"`{name}` of {what}")
        if problem:
            fail(problem, LOAD_HINT)
    if body.get("failed"):
        fail(f"the forward of {what} raised {exception_text(body['failed']['error'])}")
    outputs = [decode_value(o, tensors) for o in body.get("outputs") or []]
    for x, got, want in zip(prep.inputs, outputs, prep.expected_outputs(device)):
        value = getattr(got, "value", got)
        rtol, atol = tolerance(want.dtype, device)
        problem = mismatch(value, want, rtol, atol, what=f"the output of {what} for input of shape {tuple(x.shape)}")
        if problem:
            fail(problem, LOAD_HINT)


def _norm(device: str) -> str:
    return "cuda:0" if device == "cuda" else device
