"""Requests a check can make of the submission, and what comes back.

``SubmissionView`` builds the worker requests (``call``, ``module``, ``facts``, ``apply``,
files) and decodes the answers into plain Python values and the observation classes below. All
decoding is strict: anything malformed is a ``BadAnswer`` and fails the check, and nothing else
can be raised by what a worker sends. What an answer states (names, ids, counts, flags, shapes)
is the submission's word: each is checked for type, length and number here, and names and
messages are sanitized (``grader.sanitize``), before any check uses them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import sanitize
from ..worker.wire import ChannelGarbage, Encoder, Opaque, decode
from .discovery import error_facts
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


MAX_ENTRIES = 20_000  # entries in one list of an answer (parameters, modules, names)
MAX_DIMS = 64
MAX_ID = 1 << 62
MAX_COUNT = 100_000  # counts a check may loop over (a factory's calls)


def _checked_name(x: Any) -> str:
    if not isinstance(x, str):
        raise BadAnswer("malformed answer: a name is not a string")
    return sanitize.name(x)


def _checked_int(x: Any, most: int = MAX_ID) -> int:
    if not isinstance(x, int) or isinstance(x, bool) or not 0 <= x <= most:
        raise BadAnswer("malformed answer: a count or id is not a small non-negative integer")
    return x


def _checked_bool(x: Any) -> bool:
    if not isinstance(x, bool):
        raise BadAnswer("malformed answer: a flag is not true or false")
    return x


def _checked_shape(x: Any) -> list[int]:
    if not isinstance(x, list) or len(x) > MAX_DIMS:
        raise BadAnswer("malformed answer: a shape is not a short list")
    return [_checked_int(d) for d in x]


# How each known field of an entry in a description is checked (None passes: "not known").
FIELD_CHECKS: dict[str, Any] = {
    **dict.fromkeys(("name", "type", "dtype", "device"), _checked_name),
    **dict.fromkeys(("id", "storage"), _checked_int),
    "calls": lambda x: _checked_int(x, MAX_COUNT),
    **dict.fromkeys(
        ("is_parameter", "requires_grad", "is_leaf", "lazy", "persistent", "is_result", "is_module", "done"),
        _checked_bool,
    ),
    **dict.fromkeys(("shape", "expected", "found"), _checked_shape),
    **dict.fromkeys(("missing", "unexpected"), lambda x: checked_names(x)),
    "order": lambda x: [_checked_int(i, MAX_COUNT) for i in _checked_list(x)],
}


def _checked_list(x: Any) -> list:
    if not isinstance(x, list) or len(x) > MAX_ENTRIES:
        raise BadAnswer("malformed answer: a list is not a list, or too long")
    return x


def checked_names(x: Any) -> list[str]:
    """A list of names from an answer, each checked to be a string and sanitized (``BadAnswer``
    otherwise)."""
    return [_checked_name(n) for n in _checked_list(x)]


def checked_entry(entry: Any) -> dict:
    """A copy of one entry of a description (a parameter, buffer, module, stray tensor,
    transplant report...) with each known field (``FIELD_CHECKS``) checked and sanitized; other
    fields are kept as they came, for their readers to check."""
    if not isinstance(entry, dict):
        raise BadAnswer("malformed answer: an entry of a description is not an object")
    out = {}
    for key, value in entry.items():
        check = FIELD_CHECKS.get(key)
        out[key] = check(value) if check is not None and value is not None else value
    if "shapes" in out:
        out["shapes"] = [checked_entry(e) for e in _checked_list(out["shapes"])]
    return out


def _checked_entries(x: Any) -> list[dict]:
    return [checked_entry(e) for e in _checked_list(x)]


class ModuleSummary:
    """The worker's description of a module (see ``grader.worker.observe.summarize``)."""

    def __init__(self, data: dict, tensors: dict[str, torch.Tensor]):
        if not isinstance(data, dict):
            raise BadAnswer("module description is not an object")
        self.data = data
        self.is_module = bool(data.get("is_module"))
        self.type = sanitize.name(data.get("type", "?"))
        # Checked copies (``checked_entry``): the answer may be cached and decoded again by
        # another check.
        self.params: list[dict] = _checked_entries(data.get("params", []))
        self.buffers: list[dict] = _checked_entries(data.get("buffers", []))
        self.modules: list[dict] = _checked_entries(data.get("modules", []))
        self.tensor_attrs: list[dict] = _checked_entries(data.get("tensor_attrs", []))
        self.hidden_modules: list[dict] = _checked_entries(data.get("hidden_modules", []))
        keys = data.get("state_dict_keys")
        self.state_dict_keys: list[str] | None = checked_names(keys) if isinstance(keys, list) else None
        errors = data.get("errors", [])
        self.errors = [sanitize.text(e, 500) for e in _checked_list(errors) if isinstance(e, str)][:20]
        # Where torch's bookkeeping of the module is not its plain kind (``worker.bookkeeping``).
        findings = data.get("findings", [])
        self.findings = [sanitize.text(e, 500) for e in _checked_list(findings) if isinstance(e, str)][:20]
        self.lazy = bool(data.get("lazy"))
        n = data.get("num_params")
        self.num_params: int | None = _checked_int(n) if n is not None else None
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
            str(p.get("name")): (tuple(p.get("shape") or ()) if not p.get("lazy") else None)
            for p in self.unique_params()
        }

    def param(self, name: str) -> dict | None:
        return next((p for p in self.params if p.get("name") == name), None)

    def tie_groups(self, key: str = "id") -> list[list[str]]:
        """Names grouped by Parameter identity (``key="id"``) or by storage (``"storage"``)."""
        groups: dict[Any, list[str]] = {}
        for p in self.params:
            if p.get(key) is not None:
                groups.setdefault(p[key], []).append(str(p.get("name")))
        return [g for g in groups.values() if len(g) > 1]

    def module_ids(self) -> dict[str, int | None]:
        return {str(m.get("name")): m.get("id") for m in self.modules}


def _handle(x: Any) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) and 0 < x <= MAX_ID else None


def _named_tensors(x: Any, tensors: dict) -> dict[str, torch.Tensor | None]:
    """Tensors (or None) by name, e.g. gradients by parameter name: names sanitized."""
    if not isinstance(x, dict) or len(x) > MAX_ENTRIES:
        raise BadAnswer("malformed gradients")
    return {sanitize.name(k): (_tensor(v, tensors) if v is not None else None) for k, v in x.items()}


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
            sanitize.name(obj.get("device", "cpu")),
            obj.get("requires_grad") is True,
            obj.get("grad_fn") is True,
            sanitize.name(obj.get("type", "Tensor")),
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
    runs: list[Run] = field(default_factory=list)
    factories: list[dict] = field(default_factory=list)
    handle: int | None = None

    @property
    def plain_tensors(self) -> list[str]:
        """Tensors the module keeps as plain attributes (not Parameters, not buffers), as the
        hook built it: they do not follow ``.to(device)`` (the worker moves them along for the
        runs)."""
        entries = self.before.tensor_attrs if self.before is not None else []
        return [e["name"] for e in entries if isinstance(e.get("name"), str)]


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
            if name not in inspect:
                continue  # only what was asked
            inspected[name] = (
                [ModuleSummary(x, tensors) for x in _checked_list(v)]
                if isinstance(v, list)
                else ModuleSummary(v, tensors)
            )
        return CallResult(
            value=_tensor_out(body.get("value"), tensors),
            inspected=inspected,
            factories=_checked_entries(body.get("factories", [])),
            handle=_handle(body.get("handle")),
        )

    def module(
        self,
        hook: str,
        *,
        args: dict | None = None,
        state: dict[str, torch.Tensor] | None = None,
        inputs: Sequence[Sequence[torch.Tensor]] = (),
        grad_outputs: Sequence[torch.Tensor | None] = (),
        device: str = "cpu",
        dtype: str | None = None,
        grads: bool = True,
        before: bool = False,
        warmup: Sequence[torch.Tensor] = (),
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
                "type": sanitize.name(b["not_module"].get("type")),
                "value": _value(b["not_module"].get("value"), t),
            }
            return obs
        if b.get("before") is not None:
            obs.before = ModuleSummary(b["before"], t)
        if b.get("after") is not None:
            obs.after = ModuleSummary(b["after"], t)
        obs.transplant = checked_entry(b["transplant"]) if isinstance(b.get("transplant"), dict) else None
        obs.warmup_error = error_facts(b.get("warmup_error")) if isinstance(b.get("warmup_error"), dict) else None
        obs.device_error = error_facts(b.get("device_error")) if isinstance(b.get("device_error"), dict) else None
        obs.stray = _checked_entries(b.get("stray", []))
        obs.factories = _checked_entries(b.get("factories", []))
        obs.handle = _handle(b.get("handle"))
        for r in _checked_entries(b.get("runs", [])):
            run = Run(error=error_facts(r.get("error")) if isinstance(r.get("error"), dict) else None)
            if "y" in r:
                run.y = _tensor_out(r["y"], t)
            run.backward_error = sanitize.text(r["backward_error"], 1000) if r.get("backward_error") else None
            run.dx = [(_tensor(x, t) if x is not None else None) for x in _checked_list(r.get("dx") or [])]
            run.grads = _named_tensors(r.get("grads") or {}, t)
            run.given = _named_tensors(r.get("given_grads") or {}, t)
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
        grads = [
            (_tensor(g, ans.tensors) if g is not None else None) for g in _checked_list(ans.body.get("grads") or [])
        ]
        return y, grads

    def read_file(self, name: str) -> bytes | None:
        ans = self._send({"op": "file_read", "name": name}, _encoder(), cache=False)
        if not ans.body.get("exists"):
            return None
        if ans.body.get("too_large"):
            raise BadAnswer(f"the file is too large ({sanitize.name(ans.body['too_large'])} bytes)")
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
