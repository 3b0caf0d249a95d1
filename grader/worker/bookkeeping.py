"""torch's own bookkeeping of a module tree, read past what its classes say about themselves.

A module class may override ``parameters``, ``named_parameters``, ``named_modules``,
``state_dict``, ``_apply`` or ``train`` and answer whatever it likes. What torch itself registers
is in each module's instance dictionary: ``_parameters``, ``_buffers``, ``_modules`` and
``_non_persistent_buffers_set``. ``Reading`` reads those dictionaries directly (through
``nn.Module``'s own ``__dict__`` descriptor, which a subclass cannot override, and with
``dict``'s own methods, which a ``dict`` subclass cannot override) and walks them the way
``nn.Module``'s methods do, so its names, order and duplicates are ``named_modules``',
``named_parameters``' and ``state_dict``'s. It calls no method of the module or of its
parameters: reading never runs student code.

Torch keeps these as plain ``dict``s of plain ``nn.Parameter``s and tensors. Anything else there
(a ``dict`` subclass, a ``Parameter`` subclass, a module tree with a cycle) is a *finding*,
reported in words with the reading: a module that replaced torch's bookkeeping is not described
as if it had not.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

# Bound once, at import (before any student code runs): these are the names the reading uses, so
# rebinding ``torch.nn.Parameter`` or ``torch.Tensor`` later changes nothing here.
_INSTANCE_DICT = nn.Module.__dict__["__dict__"]
_MODULE = nn.Module
_PARAMETER_TYPES = (nn.Parameter, UninitializedParameter)
_BUFFER_TYPES = (torch.Tensor, nn.Parameter, UninitializedBuffer)
_DICT_TYPES = (dict, OrderedDict)
_dict_items, _dict_get, _set_contains = dict.items, dict.get, set.__contains__
_get_extra_state = nn.Module.get_extra_state

# A tree that large (or that deep) is not a network a check builds: the reading stops there.
MAX_ENTRIES = 100_000
MAX_DEPTH = 500
MAX_FINDINGS = 10


_type_name = type.__dict__["__name__"].__get__


def type_name(obj: object) -> str:
    """The name of ``obj``'s class as it was defined (a metaclass property cannot rename it)."""
    return _type_name(type(obj))


def instance_dict(obj: nn.Module) -> dict:
    """``obj``'s instance dictionary as the interpreter holds it (``vars`` would ask the class)."""
    return _INSTANCE_DICT.__get__(obj, type(obj))


def is_module(obj: object) -> bool:
    """Whether ``obj`` really is an ``nn.Module`` (by its type, which it cannot fake)."""
    return issubclass(type(obj), _MODULE)


def _label(prefix: str) -> str:
    return f"`{prefix[:120]}`" if prefix else "the module"


class _Own:
    """One module's own entries (``None`` values dropped, as torch drops them)."""

    __slots__ = ("params", "buffers", "children", "non_persistent", "extra_state")

    def __init__(self, params: list, buffers: list, children: list, non_persistent: set, extra_state: bool):
        self.params, self.buffers, self.children = params, buffers, children
        self.non_persistent, self.extra_state = non_persistent, extra_state


class Reading:
    """What torch registered in ``root`` and below. ``findings`` says, in words, where that
    bookkeeping is not torch's plain kind (empty for any module built the ordinary way)."""

    def __init__(self, root: nn.Module):
        self.root = root
        self.findings: list[str] = []
        self._own: dict[int, _Own] = {}
        self._walks: dict[bool, list[tuple[str, nn.Module]]] = {}

    def note(self, text: str) -> None:
        """Add a finding (the first few, each once)."""
        if len(self.findings) < MAX_FINDINGS and text not in self.findings:
            self.findings.append(text)

    def own(self, m: nn.Module, prefix: str = "") -> _Own:
        """``m``'s own parameters, buffers and children, from its instance dictionary."""
        cached = self._own.get(id(m))
        if cached is not None:
            return cached
        d = instance_dict(m)
        where = _label(prefix)

        def table(key: str) -> list:
            value: Any = _dict_get(d, key)
            if type(value) not in _DICT_TYPES:
                self.note(f"{where}'s `{key}` is a {type_name(value)}, not torch's dict")
                if not isinstance(value, dict):
                    return []
            out = []
            for k, v in list(_dict_items(value)):
                if type(k) is not str:
                    self.note(f"{where}'s `{key}` has a key of type {type_name(k)}, not str")
                    continue
                if v is not None:
                    out.append((k, v))
            return out

        params = table("_parameters")
        for k, v in params:
            if type(v) not in _PARAMETER_TYPES:
                self.note(f"{where}'s parameter `{k[:120]}` is a {type_name(v)}, not an nn.Parameter")
        buffers = table("_buffers")
        for k, v in buffers:
            if type(v) not in _BUFFER_TYPES:
                self.note(f"{where}'s buffer `{k[:120]}` is a {type_name(v)}, not a plain tensor")
        children = []
        for k, v in table("_modules"):
            if is_module(v):
                children.append((k, v))
            else:
                self.note(f"{where}'s submodule `{k[:120]}` is a {type_name(v)}, not an nn.Module")
        npb = _dict_get(d, "_non_persistent_buffers_set")
        if type(npb) is not set:
            self.note(f"{where}'s `_non_persistent_buffers_set` is a {type_name(npb)}, not torch's set")
            npb = set()
        non_persistent = {k for k, _ in buffers if _set_contains(npb, k)}
        extra_state = _class_attribute(type(m), "get_extra_state") is not _get_extra_state
        own = self._own[id(m)] = _Own(params, buffers, children, non_persistent, extra_state)
        return own

    def modules(self, remove_duplicate: bool = True) -> list[tuple[str, nn.Module]]:
        """``named_modules(remove_duplicate=...)`` of the root, as ``nn.Module`` computes it."""
        if remove_duplicate in self._walks:
            return self._walks[remove_duplicate]
        out: list[tuple[str, nn.Module]] = []
        seen: set[int] = set()
        stack: list[tuple[str, nn.Module, tuple]] = [("", self.root, ())]
        while stack:
            prefix, m, above = stack.pop()
            if remove_duplicate:
                if id(m) in seen:
                    continue
                seen.add(id(m))
            out.append((prefix, m))
            if len(out) >= MAX_ENTRIES:
                self.note(f"the module tree has more than {MAX_ENTRIES} entries; only those were read")
                break
            children = self.own(m, prefix).children
            if children and len(above) >= MAX_DEPTH:
                self.note(f"the module tree is more than {MAX_DEPTH} levels deep; only those were read")
                continue
            path = (*above, id(m))
            for name, child in reversed(children):
                if id(child) in path:
                    self.note(f"{_label(prefix)} contains itself (through `{name[:120]}`): the module tree has a cycle")
                    continue
                stack.append((f"{prefix}.{name}" if prefix else name, child, path))
        self._walks[remove_duplicate] = out
        return out

    def _members(self, kind: str, remove_duplicate: bool) -> Iterator[tuple[str, nn.Module, str, torch.Tensor]]:
        seen: set[int] = set()
        for prefix, m in self.modules(remove_duplicate):
            for name, value in getattr(self.own(m, prefix), kind):
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield (f"{prefix}.{name}" if prefix else name), m, name, value

    def parameters(self, remove_duplicate: bool = True) -> list[tuple[str, torch.Tensor]]:
        """``named_parameters(remove_duplicate=...)``, from torch's bookkeeping."""
        return [(full, p) for full, _, _, p in self._members("params", remove_duplicate)]

    def buffers(self, remove_duplicate: bool = True) -> list[tuple[str, torch.Tensor, bool]]:
        """``named_buffers(remove_duplicate=...)`` with each buffer's persistence."""
        return [
            (full, b, name not in self.own(m).non_persistent)
            for full, m, name, b in self._members("buffers", remove_duplicate)
        ]

    def state_dict_keys(self) -> list[str]:
        """The keys ``nn.Module.state_dict`` gives this tree: each module's parameters, then its
        persistent buffers, then ``_extra_state`` if its class keeps one, then its children."""
        keys = []
        for prefix, m in self.modules(remove_duplicate=False):
            own = self.own(m, prefix)
            dot = f"{prefix}." if prefix else ""
            keys += [dot + k for k, _ in own.params]
            keys += [dot + k for k, _ in own.buffers if k not in own.non_persistent]
            if own.extra_state:
                keys.append(dot + "_extra_state")
        return keys


def _class_attribute(cls: type, name: str) -> object:
    """``name`` as the class's own MRO defines it (no descriptor, no ``__getattr__`` runs)."""
    for klass in type.__dict__["__mro__"].__get__(cls):
        found = type.__dict__["__dict__"].__get__(klass).get(name, _MISSING)
        if found is not _MISSING:
            return found
    return None


_MISSING = object()
