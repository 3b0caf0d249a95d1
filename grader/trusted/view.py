"""Requests a check can make of the submission, and what comes back.

``SubmissionView`` builds the worker requests (``call``, ``module``, ``facts``, ``apply``,
files) and decodes the answers into plain Python values and the observation classes below. All
decoding is strict: anything malformed is a ``BadAnswer`` and fails the check.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from ..worker.wire import ChannelGarbage, Encoder, Opaque, decode
from .submission import BadAnswer, SubmissionClient

# -- arguments that the worker builds on its side ---------------------------------------------


@dataclass
class Arch:
    """A module the worker builds from a ``grader.worker.arch`` description, with these values."""

    spec: dict
    state: dict[str, torch.Tensor] | None = None

    def encode(self, enc: Encoder) -> dict:
        out: dict[str, Any] = {"$arch": self.spec}
        if self.state:
            out["state"] = enc.encode(dict(self.state))
        return out


@dataclass
class ArchList:
    """A list of modules sharing one id table (``{"ref": id}`` repeats an object)."""

    specs: list[dict]
    states: list[dict[str, torch.Tensor] | None] = field(default_factory=list)

    def encode(self, enc: Encoder) -> dict:
        return {"$archlist": self.specs, "states": [enc.encode(s) if s else None for s in self.states]}


@dataclass
class Factory:
    """A zero-argument callable building described modules; the i-th call gets ``states[i]``."""

    spec: dict
    states: list[dict[str, torch.Tensor]] = field(default_factory=list)

    def encode(self, enc: Encoder) -> dict:
        return {"$factory": self.spec, "states": [enc.encode(s) for s in self.states]}


@dataclass
class Scratch:
    """A file name inside the worker's private scratch directory, passed as an absolute path."""

    name: str

    def encode(self, enc: Encoder) -> dict:
        return {"$path": self.name}


@dataclass
class Handle:
    """An object the worker kept from an earlier request."""

    number: int

    def encode(self, enc: Encoder) -> dict:
        return {"$handle": self.number}


def _encoder() -> Encoder:
    return Encoder(
        prefix="in",
        fallback=lambda v, e: v.encode(e) if hasattr(v, "encode") and not isinstance(v, (str, bytes)) else None,
    )


# -- what comes back ---------------------------------------------------------------------------


class ModuleSummary:
    """The worker's description of a module (see ``grader.worker.observe.summarize``)."""

    def __init__(self, data: dict, tensors: dict[str, torch.Tensor]):
        if not isinstance(data, dict):
            raise BadAnswer("module description is not an object")
        self.data = data
        self.is_module = bool(data.get("is_module"))
        self.type = str(data.get("type", "?"))
        # Copies: the answer may be cached and decoded again by another check.
        self.params: list[dict] = [dict(x) for x in _list_of_dicts(data.get("params", []))]
        self.buffers: list[dict] = [dict(x) for x in _list_of_dicts(data.get("buffers", []))]
        self.modules: list[dict] = _list_of_dicts(data.get("modules", []))
        self.tensor_attrs: list[dict] = [dict(x) for x in _list_of_dicts(data.get("tensor_attrs", []))]
        self.hidden_modules: list[dict] = _list_of_dicts(data.get("hidden_modules", []))
        keys = data.get("state_dict_keys")
        self.state_dict_keys: list[str] | None = [str(k) for k in keys] if isinstance(keys, list) else None
        self.errors = [str(e) for e in data.get("errors", []) if isinstance(e, str)]
        # Where torch's bookkeeping of the module is not its plain kind (``worker.bookkeeping``).
        self.findings = [str(e) for e in data.get("findings", []) if isinstance(e, str)]
        self.lazy = bool(data.get("lazy"))
        n = data.get("num_params")
        self.num_params: int | None = int(n) if isinstance(n, int) and not isinstance(n, bool) else None
        self.values: dict[str, torch.Tensor] = {}
        for entry in self.params + self.buffers + self.tensor_attrs:
            v = entry.get("value")
            if v is not None:
                entry["value"] = t = _tensor(v, tensors)
                self.values[str(entry.get("name"))] = t

    def unique_params(self) -> list[dict]:
        seen, out = set(), []
        for p in self.params:
            if p.get("id") not in seen:
                seen.add(p.get("id"))
                out.append(p)
        return out

    def shapes(self) -> dict[str, tuple[int, ...] | None]:
        """Unique parameters (first name of each) to shape (None while lazy)."""
        return {
            str(p["name"]): (tuple(int(s) for s in p["shape"]) if not p.get("lazy") else None)
            for p in self.unique_params()
        }

    def param(self, name: str) -> dict | None:
        return next((p for p in self.params if p.get("name") == name), None)

    def tie_groups(self, key: str = "id") -> list[list[str]]:
        """Names grouped by Parameter identity (``key="id"``) or by storage (``"storage"``)."""
        groups: dict[Any, list[str]] = {}
        for p in self.params:
            if p.get(key) is not None:
                groups.setdefault(p[key], []).append(str(p["name"]))
        return [g for g in groups.values() if len(g) > 1]

    def module_ids(self) -> dict[str, int]:
        return {str(m["name"]): m.get("id") for m in self.modules}


def _list_of_dicts(x: Any) -> list[dict]:
    if not isinstance(x, list) or not all(isinstance(i, dict) for i in x):
        raise BadAnswer("malformed module description")
    return x


def _tensor(obj: Any, tensors: dict) -> torch.Tensor:
    try:
        value = decode(obj, tensors)
    except ChannelGarbage as e:
        raise BadAnswer(str(e)) from None
    if type(value) is not torch.Tensor:
        raise BadAnswer("expected a tensor")
    return value


def _value(obj: Any, tensors: dict) -> Any:
    def special(tag: str, o: dict) -> Any:
        if tag == "$module":
            return ModuleSummary(o["$module"], tensors)
        raise ChannelGarbage(f"unknown tag {tag}")

    try:
        return decode(obj, tensors, special)
    except ChannelGarbage as e:
        raise BadAnswer(f"malformed answer: {e}") from None


@dataclass
class TensorOut:
    """A tensor the submission produced, with what the worker saw of it."""

    value: torch.Tensor
    device: str
    requires_grad: bool
    grad_fn: bool
    type: str


def _tensor_out(obj: Any, tensors: dict) -> TensorOut | Any:
    """A tensor with its metadata, or (for anything else) the decoded value."""
    if isinstance(obj, dict) and "$tensor" in obj:
        return TensorOut(
            _tensor(obj, tensors),
            str(obj.get("device", "cpu")),
            bool(obj.get("requires_grad")),
            bool(obj.get("grad_fn")),
            str(obj.get("type", "Tensor")),
        )
    return _value(obj, tensors)


def decode_value(obj: Any, tensors: dict) -> Any:
    """A value from an operation's answer: a tensor as ``TensorOut`` (its device and autograd
    metadata kept) at the top level, plain tensors inside containers, modules as ``ModuleSummary``.
    Anything malformed is a ``BadAnswer``."""
    return _tensor_out(obj, tensors)


@dataclass
class Run:
    """One input's run of an observed module: the output ``y`` (a ``TensorOut`` for a tensor),
    the inputs' gradients ``dx``, the parameters' ``grads`` by name, the forward's ``error``
    (the worker's description) or the backward's ``backward_error`` (text)."""

    y: Any = None
    dx: list = field(default_factory=list)
    grads: dict[str, torch.Tensor | None] = field(default_factory=dict)
    error: dict | None = None
    backward_error: str | None = None
    # Gradients of the modules handed to the hook, labelled by argument (``net1.0.weight``,
    # ``make_block.2.bias``); only for requests made with ``given=True``.
    given: dict[str, torch.Tensor | None] = field(default_factory=dict)


@dataclass
class ModuleObservation:
    """What one ``module`` request saw: structure before/after, transplant report, runs."""

    hook: str
    not_module: dict | None = None
    before: ModuleSummary | None = None
    after: ModuleSummary | None = None
    transplant: dict | None = None
    warmup_error: dict | None = None
    device_error: dict | None = None
    stray: list[dict] = field(default_factory=list)
    # Tensors the module keeps as plain attributes (not Parameters, not buffers), as the hook
    # built it: they do not follow ``.to(device)`` (the worker moves them along for the runs).
    plain_tensors: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    factories: list[dict] = field(default_factory=list)
    handle: int | None = None


# The lane of the second worker: the checks marked ``optimizer``, and ``SubmissionView.second``.
SECOND = "second"


class SubmissionView:
    """What checks use as the ``sub`` fixture."""

    def __init__(self, client: SubmissionClient, worker=None, owned: bool = True):
        # ``owned``: ``close`` ends the worker (a ``fresh`` one; not the shared second worker).
        self.client, self._worker, self._owned = client, worker, owned

    @property
    def discovery(self):
        return self.client.load()

    def implements(self, hook: str) -> bool:
        return self.discovery.status(hook) is None

    def require(self, hook: str) -> None:
        """Raise ``HookUnavailable`` unless ``hook`` can be called."""
        self.client.availability(hook)

    def _send(self, op: dict, enc: Encoder, timeout: float | None = None, cache: bool = True):
        """Requests are cached (same request, same outcome) unless they touch worker state."""
        return self.client.request(
            op, enc.blob(), timeout=timeout, worker=self._worker, cache=cache and self._worker is None
        )

    def call(
        self,
        hook: str,
        *,
        inspect: tuple[str, ...] = (),
        keep: bool = False,
        timeout: float | None = None,
        cache: bool = True,
        **args: Any,
    ) -> CallResult:
        """Call ``hook(**args)`` in the worker; the result comes back as plain values
        (tensors as ``TensorOut``, modules as ``ModuleSummary``)."""
        enc = _encoder()
        op = {
            "op": "call",
            "hook": hook,
            "inspect": list(inspect),
            "keep": keep,
            "args": {k: enc.encode(v) for k, v in args.items()},
        }
        ans = self._send(op, enc, timeout=timeout, cache=cache and not keep)
        body, tensors = ans.body, ans.tensors
        inspected = {}
        raw = body.get("inspect") if isinstance(body.get("inspect"), dict) else {}
        for name, v in raw.items():
            inspected[name] = (
                [ModuleSummary(x, tensors) for x in v] if isinstance(v, list) else ModuleSummary(v, tensors)
            )
        return CallResult(
            value=_tensor_out(body.get("value"), tensors),
            inspected=inspected,
            factories=_list_of_dicts(body.get("factories", [])),
            handle=body.get("handle"),
        )

    def module(
        self,
        hook: str,
        *,
        args: dict | None = None,
        state: dict[str, torch.Tensor] | None = None,
        inputs: list[list[torch.Tensor]] = (),
        grad_outputs: list[torch.Tensor | None] = (),
        device: str = "cpu",
        dtype: str | None = None,
        grads: bool = True,
        before: bool = False,
        warmup: list[torch.Tensor] = (),
        keep: bool = False,
        eval: bool = False,
        timeout: float | None = None,
        given: bool = False,
        values: bool = False,
    ) -> ModuleObservation:
        """Build a module through ``hook``, run the ``warmup`` inputs through it (without
        gradients, in training mode: lazy layers take their shapes), transplant ``state`` by
        name, move it to ``device``, switch it to evaluation mode when ``eval``, then run each
        input (with a backward of the matching grad output when ``grads``). With ``given``, each
        run also reports the gradients of the modules passed in ``args``; with ``values``, the
        description ``after`` the runs carries the values of the module's parameters and
        buffers (``after.values``: running statistics, counters)."""
        enc = _encoder()
        op: dict[str, Any] = {
            "op": "module",
            "hook": hook,
            "device": device,
            "dtype": dtype,
            "grads": grads,
            "before": before,
            "keep": keep,
            "eval": eval,
            "args": {k: enc.encode(v) for k, v in (args or {}).items()},
            "runs": [
                {
                    "inputs": [enc.encode(t) for t in x],
                    "grad_output": enc.encode(grad_outputs[i])
                    if i < len(grad_outputs) and grad_outputs[i] is not None
                    else None,
                }
                for i, x in enumerate(inputs)
            ],
            "warmup": [enc.encode(t) for t in warmup],
        }
        if state is not None:
            op["state"] = enc.encode(dict(state))
        if given:  # only then, so other requests (and their cache keys) stay as they were
            op["given"] = True
        if values:  # likewise
            op["values"] = True
        ans = self._send(op, enc, timeout=timeout, cache=not keep)
        b, t = ans.body, ans.tensors
        obs = ModuleObservation(hook=hook)
        if isinstance(b.get("not_module"), dict):
            obs.not_module = {
                "type": str(b["not_module"].get("type")),
                "value": _value(b["not_module"].get("value"), t),
            }
            return obs
        if b.get("before") is not None:
            obs.before = ModuleSummary(b["before"], t)
        if b.get("after") is not None:
            obs.after = ModuleSummary(b["after"], t)
        obs.transplant = b.get("transplant") if isinstance(b.get("transplant"), dict) else None
        obs.warmup_error = b.get("warmup_error") if isinstance(b.get("warmup_error"), dict) else None
        obs.device_error = b.get("device_error") if isinstance(b.get("device_error"), dict) else None
        obs.stray = _list_of_dicts(b.get("stray", []))
        plain = b.get("plain_tensors", [])
        if not isinstance(plain, list) or not all(isinstance(n, str) for n in plain):
            raise BadAnswer("malformed list of plain tensor attributes")
        obs.plain_tensors = plain
        obs.factories = _list_of_dicts(b.get("factories", []))
        obs.handle = b.get("handle") if isinstance(b.get("handle"), int) else None
        for r in _list_of_dicts(b.get("runs", [])):
            run = Run(error=r.get("error") if isinstance(r.get("error"), dict) else None)
            if "y" in r:
                run.y = _tensor_out(r["y"], t)
            run.backward_error = str(r["backward_error"]) if r.get("backward_error") else None
            run.dx = [(_tensor(x, t) if x is not None else None) for x in (r.get("dx") or [])]
            grads = r.get("grads") or {}
            if not isinstance(grads, dict):
                raise BadAnswer("malformed gradients")
            run.grads = {str(k): (_tensor(v, t) if v is not None else None) for k, v in grads.items()}
            given_grads = r.get("given_grads") or {}
            if not isinstance(given_grads, dict):
                raise BadAnswer("malformed gradients")
            run.given = {str(k): (_tensor(v, t) if v is not None else None) for k, v in given_grads.items()}
            obs.runs.append(run)
        return obs

    def operation(
        self,
        op: str,
        hook: str,
        *,
        args: dict | None = None,
        timeout: float | None = None,
        data: dict | None = None,
        **fields: Any,
    ) -> tuple[dict, dict]:
        """Send an operation defined in ``grader/worker/ops_*.py``: ``args`` are encoded like a
        hook's arguments, ``fields`` (plain JSON) ride along, and so does ``data`` (values the
        operation uses besides the hook's arguments, encoded like them: tensors, bytes). Returns
        the answer's body and tensors (``decode_value`` decodes a value in it; a module
        description decodes with ``ModuleSummary``). Cached like ``call``."""
        enc = _encoder()
        req = {"op": op, "hook": hook, "args": {k: enc.encode(v) for k, v in (args or {}).items()}, **fields}
        if data is not None:  # only then, so other requests (and their cache keys) stay as they were
            req["data"] = {k: enc.encode(v) for k, v in data.items()}
        ans = self._send(req, enc, timeout=timeout)
        return ans.body, ans.tensors

    def facts(self, hook: str, **args: Any) -> dict:
        enc = _encoder()
        ans = self._send({"op": "facts", "hook": hook, "args": {k: enc.encode(v) for k, v in args.items()}}, enc)
        facts = ans.body.get("facts")
        if not isinstance(facts, dict):
            raise BadAnswer(f"`{hook}` did not return a module")
        return facts

    def apply(
        self,
        handle: int,
        inputs: list[torch.Tensor],
        params: dict[str, torch.Tensor] | None,
        grad_output: torch.Tensor | None,
        hook: str,
    ) -> tuple[torch.Tensor, list]:
        enc = _encoder()
        op = {
            "op": "apply",
            "hook": hook,
            "handle": handle,
            "inputs": [enc.encode(x) for x in inputs],
            "params": enc.encode(dict(params or {})),
            "grad_output": enc.encode(grad_output) if grad_output is not None else None,
        }
        ans = self._send(op, enc, cache=False)
        y = _value(ans.body.get("y"), ans.tensors)
        grads = [(_tensor(g, ans.tensors) if g is not None else None) for g in (ans.body.get("grads") or [])]
        return y, grads

    def read_file(self, name: str) -> bytes | None:
        ans = self._send({"op": "file_read", "name": name}, _encoder(), cache=False)
        if not ans.body.get("exists"):
            return None
        if ans.body.get("too_large"):
            raise BadAnswer(f"the file is too large ({ans.body['too_large']} bytes)")
        data = _value(ans.body.get("data"), ans.tensors)
        if not isinstance(data, bytes):
            raise BadAnswer("file contents did not arrive as bytes")
        return data

    def write_file(self, name: str, data: bytes) -> None:
        enc = _encoder()
        self._send({"op": "file_write", "name": name, "data": enc.encode(data)}, enc, cache=False)

    @contextlib.contextmanager
    def lane(self, name: str | None) -> Iterator[None]:
        """Route this view's requests to lane ``name``'s worker (None: the main worker)."""
        before, self.client.lane = self.client.lane, name
        try:
            yield
        finally:
            self.client.lane = before

    def second(self) -> SubmissionView:
        """A view on the submission's second worker, where the checks that run in the main
        worker never make a request: for "reloads in another process" checks (only a file
        carries what the submission saved). One per submission, forked on first use (after the
        template's late imports) and again if it dies; the checks marked ``optimizer`` run in it
        after every other check. Its requests are never cached; ``close`` leaves it running."""
        return SubmissionView(self.client, self.client.lane_worker(SECOND), owned=False)

    def fresh(self) -> SubmissionView:
        """A view on a brand-new worker process (that nothing has run in), ended by ``close``.
        Costs a worker per call: ``second`` serves "another process" checks for less."""
        return SubmissionView(self.client, self.client.fresh_worker())

    def close(self) -> None:
        if self._worker is not None and self._owned:
            self._worker.close()


@dataclass
class CallResult:
    """What ``sub.call`` brings back: the hook's decoded ``value``, descriptions of the arguments
    asked for (``inspected``), the reports of the factories passed as arguments (``factories``:
    their calls and the order of what they made), and the ``handle`` of the value when the call asked the worker to keep it."""

    value: Any
    inspected: dict[str, Any]
    factories: list[dict]
    handle: int | None


__all__ = [
    "Arch",
    "ArchList",
    "Factory",
    "Scratch",
    "Handle",
    "ModuleSummary",
    "ModuleObservation",
    "Run",
    "TensorOut",
    "SubmissionView",
    "SECOND",
    "CallResult",
    "Opaque",
    "decode_value",
]
