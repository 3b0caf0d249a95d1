"""The worker's guard on its own probe code: a seal taken before any student code runs, checked
after each of the submission's modules is imported and before every answer.

Student code runs in the worker's interpreter, so it can reach the probe code (a stack frame's
globals, a function's ``__globals__``, the garbage collector) and replace what it calls. Before the
submission is imported, ``take`` records:

- every name in the namespace of each probe module (this package, less the start-up code that
  has finished running by then) and the object it holds; for each function there, its code,
  defaults and closure cells; for each class defined there, its own attributes (and their
  functions'); for each dict, list or set there (``OPERATIONS``), its items;
- each builtin and library attribute the probe code looks up by a dotted name
  (``torch.no_grad``, ``os.path.join``: read from its bytecode, once, in the template), and each
  attribute it names of torch's tensor classes (``Tensor.detach``), as attribute lookup would
  find it;
- which trace, profile and garbage-collector callbacks, torch function modes and dispatch modes
  are installed (none).

``broken`` compares all of it by identity (no student code runs) and names what changed. It makes
tampering detectable, not impossible: a submission that rewrites memory (``ctypes``) or the
local variables of the loop that calls the check can still get past it (docs/confinement.md).
"""

from __future__ import annotations

import builtins
import dis
import gc
import json.encoder
import os
import socket
import sys
import types
from collections.abc import Iterable
from typing import NoReturn

import torch

from .wire import HEADER

# The start-up code: it has done its work before the submission is imported, and names things
# (``sys.stdout``, ``os.environ``) that the submission may rebind for its own reasons.
NOT_SEALED = ("template", "confine", "startup", "precision")
# Attributes the probe code may name but never uses once serving, and that a submission may
# rebind for its own reasons (``sys.path = [...]``).
FREE = {(sys, "path"), (sys, "stdout"), (sys, "stderr"), (sys, "stdin"), (sys, "argv")}
# Tables the probe code fills while the submission is imported (a notebook's compiled cells ->
# their places, for messages) or while a seal is taken (the dotted names read from the probe
# code): sealed as bindings, not item by item.
GROWING = ("loader.CELL_FILES", "seal._CHAINS")
# Builtins a submission may rebind without touching the probe code.
FREE_BUILTINS = ("print", "input", "help", "_", "exit", "quit", "copyright", "credits", "license")
# Classes whose instances the probe code reads (parameters, buffers, storages): every attribute
# it names, and those that take over every operation, as attribute lookup finds them.
TENSOR_CLASSES = (
    torch.Tensor,
    torch.nn.Parameter,
    torch.nn.parameter.UninitializedParameter,
    torch.nn.parameter.UninitializedBuffer,
    torch.UntypedStorage,
)
TAKEOVERS = ("__torch_function__", "__torch_dispatch__", "__getattribute__", "__getattr__", "__setattr__")

MAX_REPORTED = 8
_MISSING = object()
_dict_get, _mro, _class_dict = dict.get, type.__dict__["__mro__"].__get__, type.__dict__["__dict__"].__get__


def _hooks() -> tuple:
    """What is installed that runs code in the middle of the probe code's own."""
    out: list[object] = [sys.gettrace(), sys.getprofile(), tuple(gc.callbacks)]
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is not None:
        out.append(tuple(monitoring.get_tool(i) for i in range(6)))
    out.append(torch._C._len_torch_function_stack())
    out.append(torch._C._len_torch_dispatch_stack())
    return tuple(out)


def _same(a: object, b: object) -> bool:
    """Identity, through tuples; equal ints (counts) are the same. Nothing else is compared by
    ``==``, which a submission's object could answer."""
    if type(a) is tuple and type(b) is tuple:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a is b or (type(a) is int and type(b) is int and a == b)


def probe_modules() -> list[types.ModuleType]:
    """The modules of this package that serve requests (loaded in ``sys.modules`` now)."""
    package = __name__.rpartition(".")[0]
    return [
        module
        for name, module in sorted(sys.modules.items())
        if name.startswith(package + ".") and name.rpartition(".")[2] not in NOT_SEALED and module is not None
    ]


def _functions_of(value: object) -> list[types.FunctionType]:
    """The plain functions behind a namespace or class entry (methods, static and class
    methods, property accessors)."""
    if isinstance(value, types.FunctionType):
        return [value]
    if isinstance(value, (staticmethod, classmethod)):
        return _functions_of(value.__func__)
    if isinstance(value, property):
        return [f for f in (value.fget, value.fset, value.fdel) if isinstance(f, types.FunctionType)]
    return []


def _names(code: types.CodeType, into: set[str]) -> None:
    into.update(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _names(const, into)


# Code object -> the dotted names it looks up: the same in every worker, so the template
# computes it once (``prepare``) and its forks inherit it.
_CHAINS: dict[int, frozenset] = {}


def prepare() -> None:
    """Read the probe code's dotted names now (in the template, before it forks)."""
    take()


def _chains(code: types.CodeType) -> frozenset[tuple[str, ...]]:
    """The dotted names the code looks up from its globals or builtins, as written:
    ``torch.optim.SGD`` is ``("torch", "optim", "SGD")``. Read once per code object."""
    known = _CHAINS.get(id(code))
    if known is None:
        found: set[tuple[str, ...]] = set()
        _chains_of(code, found)
        known = _CHAINS[id(code)] = frozenset(found)
    return known


def _chains_of(code: types.CodeType, into: set[tuple[str, ...]]) -> None:
    chain: list[str] = []
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            if chain:
                into.add(tuple(chain))
            chain = [str(ins.argval)]
        elif ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and chain:
            chain.append(str(ins.argval))
        elif chain:
            into.add(tuple(chain))
            chain = []
    if chain:
        into.add(tuple(chain))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _chains_of(const, into)


class _Taker:
    def __init__(self) -> None:
        self.records: list[tuple] = []
        self.names: set[str] = set()  # every name the code mentions (attributes of tensors among them)
        self.chains: set[tuple[int, tuple[str, ...]]] = set()  # (id of globals, dotted name)
        self.globals: dict[int, dict] = {}
        self.done: set[int] = set()

    def item(self, label: str, mapping: dict, key: object) -> None:
        self.records.append(("item", label, mapping, key, mapping[key]))

    def function(self, label: str, fn: types.FunctionType) -> None:
        if id(fn) in self.done:
            return
        self.done.add(id(fn))
        kwdefaults = fn.__kwdefaults__
        self.records.append(("function", label, fn, fn.__code__, fn.__defaults__, kwdefaults))
        if kwdefaults:
            for key in kwdefaults:
                self.item(f"{label} (default of {key})", kwdefaults, key)
        for i, cell in enumerate(fn.__closure__ or ()):
            try:
                self.records.append(("cell", f"{label} (closure {i})", cell, cell.cell_contents))
            except ValueError:  # an empty cell: a name the function binds later
                pass
        _names(fn.__code__, self.names)
        found = _chains(fn.__code__)
        self.globals[id(fn.__globals__)] = fn.__globals__
        self.chains.update((id(fn.__globals__), chain) for chain in found)

    def container(self, label: str, value: object) -> None:
        if label in GROWING:
            return  # read by ``take`` only, before any student code runs; or filled while importing
        if type(value) is dict:
            self.records.append(("keys", label, value, frozenset(value)))
            for key in list(value):
                self.item(f"{label}[{key!r}]", value, key)
                for fn in _functions_of(value[key]):
                    self.function(f"{label}[{key!r}]", fn)
        elif type(value) is list:
            self.records.append(("list", label, value, tuple(value)))
        elif type(value) is set:
            self.records.append(("set", label, value, frozenset(value)))

    def klass(self, label: str, cls: type) -> None:
        own = _class_dict(cls)
        self.records.append(("keys", label, own, frozenset(own)))
        for key, value in list(own.items()):
            self.records.append(("attr", f"{label}.{key}", cls, key, value))
            for fn in _functions_of(value):
                self.function(f"{label}.{key}", fn)

    def module(self, module: types.ModuleType) -> None:
        short = module.__name__.rpartition(".")[2]
        ns = vars(module)
        self.records.append(("namespace", short, ns, frozenset(ns)))
        for key, value in list(ns.items()):
            label = f"{short}.{key}"
            self.item(label, ns, key)
            owned = getattr(value, "__module__", None) == module.__name__
            if isinstance(value, type) and owned:
                self.klass(value.__name__, value)
            elif owned:
                for fn in _functions_of(value):
                    self.function(label, fn)
            if not key.startswith("__"):
                self.container(label, value)

    def used(self, modules: Iterable[types.ModuleType]) -> None:
        """What the probe code looks up outside its own modules: each builtin it names, each
        attribute of a library module it reaches by a dotted name (``torch.optim.SGD``,
        ``os.path.join``), and each attribute it names of torch's tensor classes."""
        ours = {id(m) for m in modules}
        recorded: set[tuple[int, str]] = set()
        for globals_id, chain in sorted(self.chains, key=lambda c: c[1]):
            namespace = self.globals[globals_id]
            root = chain[0]
            if root not in namespace:
                if root in vars(builtins) and root not in FREE_BUILTINS and (id(builtins), root) not in recorded:
                    recorded.add((id(builtins), root))
                    self.item(f"builtins.{root}", vars(builtins), root)
                continue
            current = namespace[root]
            for name in chain[1:]:
                if not isinstance(current, types.ModuleType) or id(current) in ours:
                    break  # a class or an object (tensor classes below), or sealed whole already
                ns = vars(current)
                if name not in ns or (current, name) in FREE:
                    break
                if (id(current), name) not in recorded:
                    recorded.add((id(current), name))
                    self.item(f"{current.__name__}.{name}", ns, name)
                current = ns[name]
        # Attribute lookup on a tensor class finds a name in the first class along its MRO whose
        # own dict has it: sealed as that MRO and, for each name it finds, the entry (absent ones
        # too) of every class's dict up to the one that has it, so that the check compares dict
        # entries and never walks an MRO.
        sealed: set[tuple[int, str]] = set()
        for cls in TENSOR_CLASSES:
            mro = _mro(cls)
            self.records.append(("mro", f"{cls.__module__}.{cls.__qualname__}.__mro__", cls, mro))
            for name in sorted(self.names | set(TAKEOVERS) | {"__class__"}):
                path = []
                for klass in mro:
                    value = _class_dict(klass).get(name, _MISSING)
                    path.append((klass, value))
                    if value is not _MISSING:
                        break
                else:
                    continue  # no tensor attribute of that name: the probe code names something else
                for klass, value in path:
                    if (id(klass), name) not in sealed:
                        sealed.add((id(klass), name))
                        label = f"{klass.__module__}.{klass.__qualname__}.{name}"
                        self.records.append(("attr", label, klass, name, value))


def take(modules: list[types.ModuleType] | None = None) -> tuple:
    """The seal of ``modules`` (default: ``probe_modules()``), as an immutable record."""
    modules = probe_modules() if modules is None else modules
    t = _Taker()
    for module in modules:
        t.module(module)
    t.used(modules)
    t.records.append(("hooks", "a trace, profile or gc callback, or a torch function or dispatch mode", _hooks()))
    return tuple(t.records)


def broken(
    records: tuple,
    _get=dict.get,
    _proxy_get=types.MappingProxyType.get,
    _class_dict=_class_dict,
    _frozenset=frozenset,
    _tuple=tuple,
    _zip=zip,
    _len=len,
    _type=type,
    _missing=_MISSING,
    _mro=_mro,
    _hooks=_hooks,
    _same=_same,
    _limit=MAX_REPORTED,
) -> list[str]:
    """What changed since ``records`` were taken (empty when nothing did), by name.

    Everything it uses is bound as a default argument when this module loads (before any
    student code runs), so replacing a name in this module's namespace cannot change the check;
    the caller keeps this function's code and defaults and compares them before each call
    (``serve.serve``). The record whose check calls a Python function (``hooks``) is compared
    only once every identity compared equal, so that a replaced function never runs inside the
    check."""
    out: list[str] = []
    later = []
    for record in records:
        kind, label = record[0], record[1]
        if kind == "item":
            changed = _get(record[2], record[3], _missing) is not record[4]
        elif kind == "function":
            fn = record[2]
            changed = (
                fn.__code__ is not record[3] or fn.__defaults__ is not record[4] or fn.__kwdefaults__ is not record[5]
            )
        elif kind == "cell":
            try:
                changed = record[2].cell_contents is not record[3]
            except ValueError:
                changed = True
        elif kind == "attr":
            changed = _proxy_get(_class_dict(record[2]), record[3], _missing) is not record[4]
        elif kind == "mro":
            changed = _mro(record[2]) is not record[3]
        elif kind == "keys" or kind == "set":
            changed = _frozenset(record[2]) != record[3]
        elif kind == "namespace":  # new names there may shadow builtins; dunders are the interpreter's
            changed = False
            for key in _frozenset(record[2]) - record[3]:
                changed = changed or _type(key) is not str or not key.startswith("__")
        elif kind == "list":
            now = _tuple(record[2])
            changed = _len(now) != _len(record[3])
            for a, b in _zip(now, record[3]):
                changed = changed or a is not b
        else:
            later.append(record)
            continue
        if changed and label not in out:
            out.append(label)
            if _len(out) >= _limit:
                return out
    if out:
        return out
    for record in later:
        kind, label = record[0], record[1]
        if kind == "hooks":
            changed = not _same(_hooks(), record[2])
        else:
            changed = True
        if changed and label not in out:
            out.append(label)
    return out


def tell(
    sock: object,
    fields: dict,
    _write=socket.SocketType.sendall,  # the C socket's own method
    _pack=HEADER.pack,
    _quote=json.encoder.encode_basestring_ascii,
    _int=int.__repr__,
    _join=", ".join,
    _type=type,
    _len=len,
    _exit=os._exit,
) -> NoReturn:
    """Send ``fields`` (str keys; str, int, bool, None or a list of str values) as one frame of the
    wire format, then end this process. For a worker whose probe code was tampered with: nothing
    it uses is looked up once this module has loaded (the caller compares this function's code
    and defaults as it does ``broken``'s), so a replaced ``wire.send`` cannot turn the report into
    an answer."""
    parts = []
    for key, value in fields.items():
        kind = _type(value)
        if kind is str:
            text = _quote(value)
        elif kind is bool:
            text = "true" if value else "false"
        elif kind is int:
            text = _int(value)
        elif kind is list:
            text = "[" + _join([_quote(v) for v in value if _type(v) is str]) + "]"
        else:
            text = "null"
        parts.append(_quote(key) + ": " + text)
    data = ("{" + _join(parts) + "}").encode()
    try:
        _write(sock, _pack(_len(data), 0) + data)
    finally:
        _exit(70)
    raise AssertionError("unreachable")  # for type checkers: ``os._exit`` never returns
