"""What the worker reports about a module: structure, ties, stray tensors, values.

Every fact is read from torch's own bookkeeping of the module (``bookkeeping.Reading``), never
from what the module's class says about itself: a class that overrides ``named_parameters``,
``state_dict``, ``_apply`` or ``train`` cannot change what is reported. Reading runs no student
code (no method of the module, no property of a tensor subclass), so nothing the submission
wrote runs while a description is built. Where torch's bookkeeping is not its plain kind, the
description's ``findings`` say so.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.parameter import is_lazy

from .bookkeeping import Reading, instance_dict, is_module, type_name
from .wire import Encoder

# Read through torch's base tensor type, bound before any student code runs: a property that a
# Tensor subclass (or a patched ``torch.Tensor``) defines is never consulted.
_TENSOR = torch.Tensor
_BASE = torch._C.TensorBase.__dict__
_shape, _dtype, _device = _BASE["shape"].__get__, _BASE["dtype"].__get__, _BASE["device"].__get__
_requires_grad, _is_leaf, _grad = _BASE["requires_grad"].__get__, _BASE["is_leaf"].__get__, _BASE["grad"].__get__
_untyped_storage, _storage_ptr = _BASE["untyped_storage"], torch._C.StorageBase.__dict__["data_ptr"]
_PLAIN = (torch.Tensor, nn.Parameter, nn.parameter.UninitializedParameter, nn.parameter.UninitializedBuffer)
_dict_items = dict.items


def _try(fn, default=None):
    try:
        return fn(), None
    except Exception as e:  # student objects may raise anything
        return default, f"{type_name(e)}: {e}"[:500]


def is_plain(t: Any) -> bool:
    """A tensor of one of torch's own classes, whose attributes are torch's."""
    return type(t) in _PLAIN


def grad_of(t: torch.Tensor) -> torch.Tensor | None:
    """``t.grad``, through torch's base type."""
    return _grad(t)


def _tensor_info(t: torch.Tensor) -> dict:
    if not is_plain(t):
        # A tensor subclass answers attribute reads with its own code: none is read. The
        # reading's findings name it, and no check passes on such a description.
        return {"lazy": False, "plain": False, "shape": [], "dtype": "?", "device": "?"}
    if is_lazy(t):
        return {"lazy": True}
    return {
        "lazy": False,
        "shape": [int(s) for s in _shape(t)],
        "dtype": str(_dtype(t)).removeprefix("torch."),
        "device": str(_device(t)),
    }


def _storage_key(t: torch.Tensor) -> tuple:
    return (str(_device(t)), _storage_ptr(_untyped_storage(t)))


def plain_tensor_attrs(m: nn.Module, reading: Reading | None = None) -> list[tuple[str, torch.Tensor]]:
    """Tensors kept as plain attributes (not Parameters, not buffers) anywhere in ``m``."""
    reading = reading or Reading(m)
    out = []
    for prefix, sub in reading.modules(remove_duplicate=True):
        for attr, value in list(_dict_items(instance_dict(sub))):
            if type(attr) is not str or attr.startswith("_") or not isinstance(value, _TENSOR):
                continue
            if type(value) is not torch.Tensor:
                if type(value) not in _PLAIN:
                    reading.note(
                        f"tensor attribute `{(prefix + '.' if prefix else '') + attr[:120]}` is a {type_name(value)}, not a plain tensor"
                    )
                continue
            out.append((f"{prefix}.{attr}" if prefix else attr, value))
    return out


# nn.Module's own bookkeeping (``_modules``, ``_parameters``, hook dicts…), never a student's list.
_MODULE_INTERNALS = frozenset(vars(nn.Module()))


def _key_text(key: Any) -> str:
    return repr(key) if type(key) in (str, int) else f"<{type_name(key)}>"


def hidden_modules(m: nn.Module, reading: Reading | None = None) -> list[tuple[str, nn.Module]]:
    """Modules held in plain lists/tuples/dicts (``self.layers`` or ``self._layers`` alike) and
    registered nowhere in ``m``, so torch does not see them. A plain list that merely aliases
    registered modules (a convenience) is not reported."""
    reading = reading or Reading(m)
    out = []
    registered = {id(s) for _, s in reading.modules(remove_duplicate=False)}
    for prefix, sub in reading.modules(remove_duplicate=True):
        for attr, value in list(_dict_items(instance_dict(sub))):
            if attr in _MODULE_INTERNALS or type(attr) is not str:
                continue
            items: list = []
            kind = type(value)
            if issubclass(kind, list):
                items = list(enumerate(list.__iter__(value)))
            elif issubclass(kind, tuple):
                items = list(enumerate(tuple.__iter__(value)))
            elif issubclass(kind, dict):
                items = list(_dict_items(value))
            for key, v in items:
                if is_module(v) and id(v) not in registered:
                    out.append((f"{prefix + '.' if prefix else ''}{attr}[{_key_text(key)}]", v))
    return out


def given_modules(args: dict) -> list[tuple[str, nn.Module]]:
    """The modules a request handed to a hook, labelled by argument: ``net1``, ``modules.2``,
    ``make_block.0`` (the first instance a factory made). The trusted side labels its own copies
    the same way, so gradients can be compared whatever names the submission registers them under."""
    out = []
    for name, value in args.items():
        made = getattr(value, "made", None) if not isinstance(value, nn.Module) else None
        if isinstance(value, nn.Module):
            out.append((str(name), value))
        elif isinstance(value, (list, tuple)) and all(isinstance(v, nn.Module) for v in value):
            out.extend((f"{name}.{i}", v) for i, v in enumerate(value))
        elif isinstance(made, list):
            out.extend((f"{name}.{i}", v) for i, v in enumerate(made) if isinstance(v, nn.Module))
    return out


def named_parameters(m: nn.Module, remove_duplicate: bool = True) -> list[tuple[str, torch.Tensor]]:
    """``m.named_parameters(remove_duplicate=...)`` as torch registered them (not as ``m``'s class
    may answer)."""
    return Reading(m).parameters(remove_duplicate)


def given_parameters(args: dict) -> list[tuple[str, torch.Tensor]]:
    """Each parameter of the given modules once (first label wins), e.g. ``net2.0.weight``."""
    out, seen = [], set()
    for label, module in given_modules(args):
        for name, p in named_parameters(module):
            if id(p) not in seen:
                seen.add(id(p))
                out.append((f"{label}.{name}", p))
    return out


def summarize(m: Any, enc: Encoder | None = None, values: bool = False) -> dict:
    """Structure of a module, from torch's bookkeeping; with ``values`` the parameter and buffer
    tensors too (each tensor sent once). ``errors`` stays empty: reading cannot raise."""
    if not is_module(m):
        return {"is_module": False, "type": type_name(m)}
    reading = Reading(m)
    out: dict[str, Any] = {"is_module": True, "type": type_name(m), "errors": []}
    ids: dict[int, int] = {}
    storages: dict[tuple, int] = {}
    sent: dict[int, dict] = {}

    def storage_of(t: torch.Tensor):
        return storages.setdefault(_storage_key(t), len(storages))

    def value_of(t: torch.Tensor) -> dict | None:
        if enc is None or not values:
            return None
        if id(t) not in sent:
            sent[id(t)] = enc.tensor(t)
        return sent[id(t)]

    params = []
    for name, p in reading.parameters(remove_duplicate=False):
        first = id(p) not in ids
        plain = is_plain(p)
        entry = {
            "name": name,
            "id": ids.setdefault(id(p), len(ids)),
            "is_parameter": plain and isinstance(p, nn.Parameter),
            "requires_grad": bool(_requires_grad(p)) if plain else False,
            "is_leaf": bool(_is_leaf(p)) if plain else True,
            **_tensor_info(p),
        }
        if plain and not entry["lazy"]:
            entry["storage"] = storage_of(p)
            if first and values and enc is not None:
                entry["value"] = value_of(p)
        params.append(entry)
    out["params"] = params

    buffers = []
    for name, b, persistent in reading.buffers(remove_duplicate=False):
        entry = {"name": name, "persistent": persistent, **_tensor_info(b)}
        if is_plain(b) and not entry["lazy"]:
            entry["storage"] = storage_of(b)
            if values and enc is not None:
                entry["value"] = value_of(b)
        buffers.append(entry)
    out["buffers"] = buffers

    mod_ids: dict[int, int] = {}
    out["modules"] = [
        {"name": n, "type": type_name(s), "id": mod_ids.setdefault(id(s), len(mod_ids))}
        for n, s in reading.modules(remove_duplicate=False)
    ]

    attrs = plain_tensor_attrs(m, reading)
    out["tensor_attrs"] = [{"name": n, **_tensor_info(t), "requires_grad": bool(_requires_grad(t))} for n, t in attrs]
    if values and enc is not None:
        for entry, (_, t) in zip(out["tensor_attrs"], attrs):
            entry["value"] = value_of(t)
    out["hidden_modules"] = [{"name": n, "type": type_name(s)} for n, s in hidden_modules(m, reading)]
    out["state_dict_keys"] = reading.state_dict_keys()
    out["findings"] = list(reading.findings)
    out["lazy"] = any(p.get("lazy") for p in params) or any(b.get("lazy") for b in buffers)
    out["num_params"] = None
    if not out["lazy"]:
        seen: set[int] = set()
        total = 0
        for entry in params:
            if entry["id"] not in seen:
                seen.add(entry["id"])
                total += int(torch.Size(entry["shape"]).numel())
        out["num_params"] = total
    return out


def transplant(m: nn.Module, state: dict[str, torch.Tensor]) -> dict:
    """Copy the given values into ``m`` by name, in place, so ties and identities survive.

    Names may be parameters, buffers or plain tensor attributes (``rand_weight`` kept as an
    attribute still receives the reference's values, so only its device behaviour differs).
    """
    reading = Reading(m)
    targets: dict[str, torch.Tensor] = {}
    for name, p in reading.parameters(remove_duplicate=False):
        targets[name] = p
    for name, b, _ in reading.buffers(remove_duplicate=False):
        targets[name] = b
    registered = set(targets)
    for name, t in plain_tensor_attrs(m, reading):
        targets.setdefault(name, t)
    missing = sorted(n for n in state if n not in targets)
    unexpected = sorted(n for n in registered if n not in state)
    shapes = []
    for n, v in state.items():
        target = targets.get(n)
        if target is not None and is_plain(target) and not is_lazy(target) and tuple(_shape(target)) != tuple(v.shape):
            shapes.append({"name": n, "expected": list(v.shape), "found": list(_shape(target))})
    report = {"missing": missing, "unexpected": unexpected, "shapes": shapes, "done": False}
    if missing or shapes:
        return report
    with torch.no_grad():
        for n, v in state.items():
            targets[n].copy_(v)
    report["done"] = True
    return report


def stray_tensors(m: nn.Module, device: torch.device) -> list[dict]:
    """Plain tensor attributes that did not follow ``m.to(device)``."""
    out = []
    for name, t in plain_tensor_attrs(m):
        if _device(t) != device:
            out.append({"name": name, "device": str(_device(t))})
    return out


def bring_along(m: nn.Module, device: torch.device) -> None:
    """Move to ``device`` what ``m.to(device)`` leaves behind: plain tensor attributes and modules
    in plain containers. Whether they are registered does not depend on the device, so it is
    judged once, device-free (the structure checks, from ``plain_tensor_attrs`` and
    ``hidden_modules``); a device cell then judges what the module computes there."""
    for name, t in plain_tensor_attrs(m):
        if t.device != device:
            owner_name, _, attr = name.rpartition(".")
            owner = m.get_submodule(owner_name) if owner_name else m
            object.__setattr__(owner, attr, t.to(device))
    for _, hidden in hidden_modules(m):
        hidden.to(device)


def list_facts(m: nn.Module, given: list[nn.Module] | None = None) -> dict:
    """Consequences of keeping submodules out of torch's sight (exercise 5.1.1), as torch's
    bookkeeping of ``m`` has them: the parameters and ``state_dict`` keys torch registered,
    whether an optimizer can be built on those parameters, and whether ``.eval()`` and
    ``.double()`` (which reach exactly the registered submodules) reach the listed modules. Only
    ``repr`` is the module's own answer.

    ``given``: the modules the grader handed to the hook (the ones ``m`` chains); without it,
    the modules found in plain containers. ``*_reaches_hidden`` and ``repr_shows_listed`` are
    about those modules, wherever the submission keeps them."""
    reading = Reading(m)
    facts: dict[str, Any] = {}
    params = [p for _, p in reading.parameters()]
    facts["num_parameters"] = len(params)
    facts["state_dict_keys"] = reading.state_dict_keys()
    _, err = _try(lambda: torch.optim.SGD(params, lr=0.1))
    facts["optimizer_error"] = err
    hidden = [s for _, s in hidden_modules(m, reading)]
    listed = list(given) if given else hidden
    registered = {id(s) for _, s in reading.modules(remove_duplicate=False)}
    facts["hidden_modules"] = len(hidden)
    text, _ = _try(lambda: repr(m), "")
    facts["repr"] = (text if isinstance(text, str) else "")[:2000]
    facts["hidden_reprs"] = [type_name(s) for s in hidden]
    facts["repr_shows_listed"] = any(repr(s) in facts["repr"] for s in listed) if listed else None
    reached = all(id(s) in registered for s in listed)
    facts["eval_reaches_hidden"] = reached if listed else None
    has_params = any(named_parameters(s) for s in listed)
    facts["double_reaches_hidden"] = reached if has_params else None
    facts["findings"] = list(reading.findings)
    return facts
