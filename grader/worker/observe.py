"""What the worker reports about a module: structure, ties, stray tensors, values.

All of it is computed by calling into student objects, so every step is guarded: a module whose
``named_parameters`` raises still gets a report, with the error in it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.parameter import is_lazy

from .wire import Encoder


def _try(fn, default=None):
    try:
        return fn(), None
    except Exception as e:  # student objects may raise anything
        return default, f"{type(e).__name__}: {e}"[:500]


def _tensor_info(t: torch.Tensor) -> dict:
    if is_lazy(t):
        return {"lazy": True}
    return {
        "lazy": False,
        "shape": [int(s) for s in t.shape],
        "dtype": str(t.dtype).removeprefix("torch."),
        "device": str(t.device),
    }


def plain_tensor_attrs(m: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """Tensors kept as plain attributes (not Parameters, not buffers) anywhere in ``m``."""
    out = []
    for prefix, sub in m.named_modules(remove_duplicate=True):
        for attr, value in vars(sub).items():
            if attr.startswith("_") or not isinstance(value, torch.Tensor) or isinstance(value, nn.Parameter):
                continue
            out.append((f"{prefix}.{attr}" if prefix else attr, value))
    return out


def plain_tensor_names(m: nn.Module) -> list[str]:
    """The names of ``plain_tensor_attrs`` (empty when the module cannot even be walked)."""
    names, _ = _try(lambda: [n for n, _ in plain_tensor_attrs(m)], [])
    return names


def has_lazy(m: nn.Module) -> bool:
    """Whether ``m`` has an uninitialized (lazy) parameter or buffer (True when it cannot tell)."""
    found, err = _try(lambda: any(is_lazy(t) for t in [*m.parameters(), *m.buffers()]), True)
    return bool(found) or err is not None


# nn.Module's own bookkeeping (``_modules``, ``_parameters``, hook dicts…), never a student's list.
_MODULE_INTERNALS = frozenset(vars(nn.Module()))


def hidden_modules(m: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules held in plain lists/tuples/dicts (``self.layers`` or ``self._layers`` alike) and
    registered nowhere in ``m``, so torch does not see them. A plain list that merely aliases
    registered modules (a convenience) is not reported."""
    out = []
    registered = {id(s) for _, s in m.named_modules(remove_duplicate=False)}
    for prefix, sub in m.named_modules(remove_duplicate=True):
        for attr, value in vars(sub).items():
            if attr in _MODULE_INTERNALS:
                continue
            items: list = []
            if isinstance(value, (list, tuple)):
                items = list(enumerate(value))
            elif isinstance(value, dict):
                items = list(value.items())
            for key, v in items:
                if isinstance(v, nn.Module) and id(v) not in registered:
                    out.append((f"{prefix + '.' if prefix else ''}{attr}[{key!r}]", v))
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


def given_parameters(args: dict) -> list[tuple[str, torch.Tensor]]:
    """Each parameter of the given modules once (first label wins), e.g. ``net2.0.weight``."""
    out, seen = [], set()
    for label, module in given_modules(args):
        for name, p in module.named_parameters():
            if id(p) not in seen:
                seen.add(id(p))
                out.append((f"{label}.{name}", p))
    return out


def summarize(m: Any, enc: Encoder | None = None, values: bool = False) -> dict:
    """Structure of a module; with ``values`` the parameter and buffer tensors too."""
    if not isinstance(m, nn.Module):
        return {"is_module": False, "type": type(m).__name__}
    out: dict[str, Any] = {"is_module": True, "type": type(m).__name__, "errors": []}
    ids: dict[int, int] = {}
    storages: dict[tuple, int] = {}

    def storage_of(t: torch.Tensor):
        key = (str(t.device), t.untyped_storage().data_ptr())
        return storages.setdefault(key, len(storages))

    named, err = _try(lambda: list(m.named_parameters(remove_duplicate=False)), [])
    if err:
        out["errors"].append(f"named_parameters() raised {err}")
    params = []
    for name, p in named:
        first = id(p) not in ids
        entry = {
            "name": name,
            "id": ids.setdefault(id(p), len(ids)),
            "is_parameter": isinstance(p, nn.Parameter),
            "requires_grad": bool(p.requires_grad),
            "is_leaf": bool(p.is_leaf),
            **_tensor_info(p),
        }
        if not entry["lazy"]:
            entry["storage"] = storage_of(p)
            if values and enc is not None and first:
                entry["value"] = enc.tensor(p)
        params.append(entry)
    out["params"] = params

    named_b, err = _try(lambda: list(m.named_buffers(remove_duplicate=False)), [])
    if err:
        out["errors"].append(f"named_buffers() raised {err}")
    buffers = []
    for name, b in named_b:
        owner_name, _, leaf = name.rpartition(".")
        owner, _ = _try(lambda owner_name=owner_name: m.get_submodule(owner_name))
        persistent = owner is not None and leaf not in getattr(owner, "_non_persistent_buffers_set", set())
        entry = {"name": name, "persistent": persistent, **_tensor_info(b)}
        if not entry["lazy"]:
            entry["storage"] = storage_of(b)
            if values and enc is not None:
                entry["value"] = enc.tensor(b)
        buffers.append(entry)
    out["buffers"] = buffers

    mods, err = _try(lambda: [(n, type(s).__name__, id(s)) for n, s in m.named_modules(remove_duplicate=False)], [])
    if err:
        out["errors"].append(f"named_modules() raised {err}")
    mod_ids: dict[int, int] = {}
    out["modules"] = [{"name": n, "type": t, "id": mod_ids.setdefault(i, len(mod_ids))} for n, t, i in mods]

    attrs, err = _try(lambda: plain_tensor_attrs(m), [])
    out["tensor_attrs"] = [{"name": n, **_tensor_info(t), "requires_grad": bool(t.requires_grad)} for n, t in attrs]
    if values and enc is not None:
        for entry, (_, t) in zip(out["tensor_attrs"], attrs):
            entry["value"] = enc.tensor(t)
    hidden, err = _try(lambda: hidden_modules(m), [])
    out["hidden_modules"] = [{"name": n, "type": type(s).__name__} for n, s in hidden]

    keys, err = _try(lambda: list(m.state_dict().keys()), None)
    out["state_dict_keys"] = keys
    if err:
        out["errors"].append(f"state_dict() raised {err}")
    out["lazy"] = any(p.get("lazy") for p in params) or any(b.get("lazy") for b in buffers)
    out["num_params"] = None
    if not out["lazy"]:
        seen: set[int] = set()
        total = 0
        for p in params:
            if p["id"] not in seen:
                seen.add(p["id"])
                total += int(torch.Size(p["shape"]).numel())
        out["num_params"] = total
    return out


def transplant(m: nn.Module, state: dict[str, torch.Tensor]) -> dict:
    """Copy the given values into ``m`` by name, in place, so ties and identities survive.

    Names may be parameters, buffers or plain tensor attributes (``rand_weight`` kept as an
    attribute still receives the reference's values, so only its device behaviour differs).
    """
    targets: dict[str, torch.Tensor] = {}
    for name, p in m.named_parameters(remove_duplicate=False):
        targets[name] = p
    for name, b in m.named_buffers(remove_duplicate=False):
        targets[name] = b
    registered = set(targets)
    for name, t in plain_tensor_attrs(m):
        targets.setdefault(name, t)
    missing = sorted(n for n in state if n not in targets)
    unexpected = sorted(n for n in registered if n not in state)
    shapes = []
    for n, v in state.items():
        t = targets.get(n)
        if t is not None and not is_lazy(t) and tuple(t.shape) != tuple(v.shape):
            shapes.append({"name": n, "expected": list(v.shape), "found": list(t.shape)})
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
        if t.device != device:
            out.append({"name": name, "device": str(t.device)})
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
    """Observable consequences of keeping submodules out of torch's sight (exercise 5.1.1).

    ``given``: the modules the grader handed to the hook (the ones ``m`` chains); without it,
    the modules found in plain containers. ``*_reaches_hidden`` and ``repr_shows_listed`` are
    about those modules, wherever the submission keeps them."""
    facts: dict[str, Any] = {}
    params, err = _try(lambda: list(m.parameters()), [])
    facts["num_parameters"] = len(params)
    keys, err = _try(lambda: list(m.state_dict().keys()), [])
    facts["state_dict_keys"] = keys
    _, err = _try(lambda: torch.optim.SGD(m.parameters(), lr=0.1))
    facts["optimizer_error"] = err
    hidden = [s for _, s in hidden_modules(m)]
    listed = list(given) if given else hidden
    facts["hidden_modules"] = len(hidden)
    text, _ = _try(lambda: repr(m), "")
    facts["repr"] = (text or "")[:2000]
    facts["hidden_reprs"] = [type(s).__name__ for s in hidden]
    facts["repr_shows_listed"] = any(repr(s) in (text or "") for s in listed) if listed else None
    for s in listed:  # start from training mode, so eval() is what decides the flags below
        s.train()
    _try(lambda: m.eval())
    facts["eval_reaches_hidden"] = all(not s.training for s in listed) if listed else None
    _try(lambda: m.double())
    hidden_params = [p for s in listed for p in s.parameters()]
    facts["double_reaches_hidden"] = all(p.dtype == torch.float64 for p in hidden_params) if hidden_params else None
    return facts
