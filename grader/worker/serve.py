"""The worker's main loop: import the submission, then answer probe requests until told to stop.

Requests name an operation (``call``, ``module``, ``apply``, ``facts``, ``file_read``,
``file_write``) and carry inputs; answers carry observations. A request never contains anything
that lets the worker tell a right answer from a wrong one.

Every answer names the request it answers (the request's ``id``), and stays within the request's
``limit`` (bytes of JSON and blob): an answer that would not is replaced by a ``too_large`` one.
Files are read back up to the request's ``max_file`` bytes.
"""

from __future__ import annotations

import copyreg
import mmap
import os
import sys
import types
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from . import arch, loader, notebook, observe, seal
from .bookkeeping import Reading, is_module
from .wire import HEADER, ChannelClosed, Encoder, decode, frame, recv, send, unpack_tensors

MAX_FILE = 256 << 20
MAX_REPORTED_NAMES = 1000  # top-level functions of a module named in the ready report

# Operations defined outside this module (``ops_*.py`` in this package, loaded below):
# ``@operation("name")`` on ``fn(session, req, tensors, enc) -> dict``.
OPERATIONS: dict[str, Callable] = {}


def operation(name: str) -> Callable[[Callable], Callable]:
    def register(fn: Callable) -> Callable:
        OPERATIONS[name] = fn
        return fn

    return register


class HookMissing(Exception):
    pass


class BadRequest(Exception):
    pass


# The shim's source: run in the shim's own namespace, so that nothing in it (a function's
# ``__globals__``) leads back to this module.
SHIM = """
def hookimpl(function=None, **opts):
    def mark(fn):
        fn.grader_impl = dict(opts)
        return fn

    return mark(function) if function is not None else mark
"""


def install_shim() -> None:
    """``import grader`` inside the worker gives only the ``hookimpl`` marker."""
    shim = types.ModuleType("grader", "The grader's marker for hook implementations.")
    exec(compile(SHIM, "<grader>", "exec"), vars(shim))
    for name in [n for n in sys.modules if n == "grader" or n.startswith("grader.")]:
        del sys.modules[name]
    sys.modules["grader"] = shim


def forget_probe_modules() -> None:
    """Take this package's modules out of ``sys.modules``, before the submission is imported:
    its code cannot reach the probe code by name (``sys.modules["_grader_worker.observe"]``). They
    stay loaded (the probe code holds them). A module the grader built with ``arch.Container``
    then pickles (``torch.save(net, path)``) as the ``nn.Sequential`` it behaves as, its own
    module having no importable name any more."""
    package = __name__.rpartition(".")[0]
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]
    copyreg.pickle(arch.Container, _as_sequential)


def _as_sequential(m: nn.Module) -> tuple:
    # typeshed leaves out copyreg._reconstructor (what pickle's default reduce names).
    return copyreg._reconstructor, (nn.Sequential, object, None), dict(vars(m))  # type: ignore[attr-defined]


class Session:
    """What the worker keeps between requests. Slots: no instance attribute can shadow one of
    its methods (the seal guards the class)."""

    __slots__ = ("root", "scratch", "impls", "handles", "factories", "max_file")

    def __init__(self, root: str, scratch: str, impls: dict[str, Callable]):
        self.root, self.scratch, self.impls = root, scratch, impls
        self.handles: dict[int, Any] = {}
        self.factories: list[arch.Factory] = []
        self.max_file = MAX_FILE  # the running request's cap on files read back

    # -- decoding arguments ---------------------------------------------------------------

    def _special(self, tensors: dict):
        def special(tag: str, obj: dict) -> Any:
            if tag == "$arch":
                m = arch.build(obj["$arch"])
                state = decode(obj.get("state"), tensors, special) if obj.get("state") else None
                if state:
                    arch.load_state(m, state)
                return m
            if tag == "$archlist":
                mods = arch.build_list(obj["$archlist"])
                for m, st in zip(mods, obj.get("states") or []):
                    if st:
                        arch.load_state(m, decode(st, tensors, special))
                return mods
            if tag == "$factory":
                states = [decode(s, tensors, special) for s in obj.get("states", [])]
                f = arch.Factory(obj["$factory"], states)
                self.factories.append(f)
                return f
            if tag == "$path":
                return self.path(obj["$path"])
            if tag == "$handle":
                return self.handles[int(obj["$handle"])]
            raise BadRequest(f"unknown tag {tag}")

        return special

    def path(self, name: Any) -> str:
        name = str(name)
        if not name or "/" in name or name in (".", ".."):
            raise BadRequest(f"bad scratch name {name!r}")
        return os.path.join(self.scratch, name)

    def args(self, req: dict, tensors: dict) -> dict:
        special = self._special(tensors)
        return {k: decode(v, tensors, special) for k, v in (req.get("args") or {}).items()}

    def hook(self, name: str) -> Callable:
        fn = self.impls.get(name)
        if fn is None:
            raise HookMissing(name)
        return fn

    # -- operations -----------------------------------------------------------------------

    def op_call(self, req: dict, tensors: dict, enc: Encoder) -> dict:
        self.factories = []
        args = self.args(req, tensors)
        value = self.hook(req["hook"])(**args)
        out: dict[str, Any] = {"value": enc.encode(value)}
        if req.get("keep"):
            out["handle"] = self.keep(value)
        inspected: dict[str, dict | list[dict]] = {}
        for name in req.get("inspect") or []:
            v = args.get(name)
            if isinstance(v, list):
                inspected[name] = [observe.summarize(x, enc, values=True) for x in v]
            else:
                summary = observe.summarize(v, enc, values=True)
                if isinstance(value, nn.Module) and isinstance(v, nn.Module):
                    summary["is_result"] = v is value
                inspected[name] = summary
        out["inspect"] = inspected
        out["factories"] = [self._factory_report(f, value) for f in self.factories]
        return out

    def _factory_report(self, f: arch.Factory, result: Any) -> dict:
        made = {id(m): i for i, m in enumerate(f.made)}
        order = []
        if is_module(result):
            for _, sub in Reading(result).modules(remove_duplicate=False):
                if id(sub) in made:
                    order.append(made[id(sub)])
        return {"calls": len(f.made), "order": order}

    def keep(self, value: Any) -> int:
        h = len(self.handles) + 1
        self.handles[h] = value
        return h

    def op_module(self, req: dict, tensors: dict, enc: Encoder) -> dict:
        """Build a module through a hook, optionally transplant values, move it, run it."""
        self.factories = []
        args = self.args(req, tensors)
        m = self.hook(req["hook"])(**args)
        out: dict[str, Any] = {}
        if not is_module(m):
            out["not_module"] = {"type": observe.type_name(m), "value": enc.encode(m)}
            return out
        # Always, whatever ``before`` asks: the module as the hook returned it, before the grader
        # runs anything of it (``.to()`` runs the class's ``_apply``, a forward its ``forward``).
        # Its ``tensor_attrs``: constant tensors kept as plain attributes, as the hook built the
        # module (a forward may stash more), judged device-free by the structure checks.
        out["before"] = observe.summarize(m)
        special = self._special(tensors)
        # The warm-up forward gives lazy layers their shapes before the transplant; an eager
        # module needs none (a wrong layer size then shows in the transplant, by name and shape).
        for x in (req.get("warmup") or []) if out["before"]["lazy"] else []:
            try:
                with torch.no_grad():
                    m(decode(x, tensors, special))
            except BaseException as e:
                out["warmup_error"] = loader.describe_exception(e, self.root)
                out["after"] = observe.summarize(m)
                return out
        state = decode(req["state"], tensors, special) if req.get("state") else None
        if state is not None:
            out["transplant"] = observe.transplant(m, state)
            if not out["transplant"]["done"]:
                out["after"] = observe.summarize(m)
                return out
        device = torch.device(req.get("device") or "cpu")
        dtype = req.get("dtype")
        try:
            m = m.to(device) if dtype is None else m.to(device=device, dtype=getattr(torch, dtype))
        except BaseException as e:
            out["device_error"] = loader.describe_exception(e, self.root)
            return out
        out["stray"] = observe.stray_tensors(m, device)
        try:
            observe.bring_along(m, device)
        except BaseException as e:
            out["device_error"] = loader.describe_exception(e, self.root)
            return out
        if req.get("eval"):
            m.eval()
        # ``given``: also report the gradients of the modules handed to the hook, by argument
        # (for hooks whose parameter names are the submission's choice: parallel, replicate).
        given = observe.given_parameters(args) if req.get("given") else []
        runs = []
        for run in req.get("runs") or []:
            runs.append(self._run(m, run, device, bool(req.get("grads")), tensors, special, enc, given))
        out["runs"] = runs
        # ``values``: with the parameters' and buffers' values after the runs (running statistics).
        out["after"] = observe.summarize(m, enc, values=bool(req.get("values")))
        out["factories"] = [self._factory_report(f, m) for f in self.factories]
        if req.get("keep"):
            out["handle"] = self.keep(m)
        return out

    def _run(self, m, run, device, grads, tensors, special, enc, given=()) -> dict:
        inputs = [decode(x, tensors, special).to(device) for x in run["inputs"]]
        if grads:
            inputs = [x.requires_grad_(True) if x.is_floating_point() or x.is_complex() else x for x in inputs]
        registered = observe.named_parameters(m, remove_duplicate=False)
        for _, p in registered:
            p.grad = None
        for _, p in given:
            p.grad = None
        res: dict[str, Any] = {}
        try:
            y = m(*inputs)
        except BaseException as e:
            res["error"] = loader.describe_exception(e, self.root)
            return res
        res["y"] = enc.encode(y)
        if not grads:
            return res
        g = run.get("grad_output")
        if not isinstance(y, torch.Tensor) or y.grad_fn is None:
            res["backward_error"] = "the output has no grad_fn, so nothing can flow back through it"
        else:
            try:
                y.backward(decode(g, tensors, special).to(device) if g is not None else None)
            except BaseException as e:
                res["backward_error"] = loader.describe_exception(e, self.root)["message"]
        res["dx"] = [enc.encode(x.grad) if x.grad is not None else None for x in inputs]
        # Every name of every registered Parameter (a tied one under each of its names), each
        # gradient sent once: the trusted side compares the gradient reaching each position.
        sent: dict[int, Any] = {}
        grads = {}
        for name, p in registered:
            g = observe.grad_of(p) if observe.is_plain(p) else None
            if g is not None and id(g) not in sent:
                sent[id(g)] = enc.encode(g)
            grads[name] = None if g is None else sent[id(g)]
        res["grads"] = grads
        if given:
            res["given_grads"] = {label: (enc.encode(p.grad) if p.grad is not None else None) for label, p in given}
        return res

    def op_apply(self, req: dict, tensors: dict, enc: Encoder) -> dict:
        """Functional forward (and vector-Jacobian product) of a kept module, for gradcheck."""
        m = self.handles[int(req["handle"])]
        special = self._special(tensors)
        dtype = getattr(torch, req.get("dtype") or "float64")
        if getattr(m, "_grader_dtype", None) != dtype:
            m.to(dtype)
            m._grader_dtype = dtype
        inputs = [decode(x, tensors, special).requires_grad_(True) for x in req["inputs"]]
        params = {
            k: v.requires_grad_(True) for k, v in decode(req.get("params") or {"$dict": []}, tensors, special).items()
        }
        y = torch.func.functional_call(m, params, tuple(inputs)) if params else m(*inputs)
        out: dict[str, Any] = {"y": enc.encode(y)}
        if req.get("grad_output") is not None:
            g = decode(req["grad_output"], tensors, special)
            wrt = inputs + list(params.values())
            grads = (
                torch.autograd.grad(y, wrt, grad_outputs=g, allow_unused=True)
                if y.grad_fn is not None
                else [None] * len(wrt)
            )
            out["grads"] = [enc.encode(t) if t is not None else None for t in grads]
        return out

    def op_facts(self, req: dict, tensors: dict, enc: Encoder) -> dict:
        args = self.args(req, tensors)
        m = self.hook(req["hook"])(**args)
        if not is_module(m):
            return {"not_module": {"type": observe.type_name(m)}}
        return {"facts": observe.list_facts(m, [s for _, s in observe.given_modules(args)])}

    def op_file_read(self, req: dict, tensors: dict, enc: Encoder) -> dict:
        path = self.path(req["name"])
        if not os.path.isfile(path):
            return {"exists": False}
        size = os.path.getsize(path)
        if size > self.max_file:
            return {"exists": True, "too_large": size}
        with open(path, "rb") as f:
            return {"exists": True, "data": enc.encode(f.read())}

    def op_file_write(self, req: dict, tensors: dict, enc: Encoder) -> dict:
        data = decode(req["data"], tensors)
        with open(self.path(req["name"]), "wb") as f:
            f.write(data)
        return {}

    def dispatch(self, req: dict, blob: bytes) -> tuple[dict, bytes]:
        max_file = req.get("max_file")
        self.max_file = min(max_file, MAX_FILE) if isinstance(max_file, int) and max_file >= 0 else MAX_FILE
        enc = Encoder(fallback=lambda v, e: {"$module": observe.summarize(v)} if is_module(v) else None)
        op = getattr(self, f"op_{req.get('op')}", None)
        if op is None and req.get("op") in OPERATIONS:
            fn = OPERATIONS[req["op"]]
            op = lambda r, t, e: fn(self, r, t, e)  # noqa: E731
        try:
            if op is None:
                raise BadRequest(f"unknown operation {req.get('op')!r}")
            tensors = unpack_tensors(blob)
            answer = {"ok": True, **op(req, tensors, enc)}
        except HookMissing as e:
            answer = {"ok": False, "kind": "missing", "hook": str(e)}
        except NotImplementedError as e:
            answer = {"ok": False, "kind": "not_implemented", "error": loader.describe_exception(e, self.root)}
        except BadRequest as e:
            answer = {"ok": False, "kind": "bad_request", "message": str(e)}
        except BaseException as e:  # the submission raised (SystemExit included)
            answer = {"ok": False, "kind": "raised", "error": loader.describe_exception(e, self.root)}
        try:
            return answer, enc.blob()
        except BaseException as e:  # e.g. a tensor safetensors cannot hold
            return {"ok": False, "kind": "unsendable", "message": f"{type(e).__name__}: {e}"[:500]}, b""


def serve(sock, root: str, scratch: str, hooks: dict[str, Any], skip: list[str]) -> None:
    """Import the submission (reporting each module), then serve requests until the channel
    closes. ``hooks``: what ``loader.find_hooks`` needs to find each hook. The probe code is
    sealed first (``seal``) and checked after each module's import and before each answer: a
    module that changed it is reported (``tampered``) and this worker ends, as it does after an
    answer it finds tampered with."""
    install_shim()
    # Taken before any of the submission's code runs, and kept in this frame's local variables
    # only: the check and the report are the functions loaded now (their code and defaults
    # compared before each use), whatever the submission rebinds later.
    # (No nested function here: its code could be replaced through this frame.)
    records, check, tell, end = seal.take(), seal.broken, seal.tell, os._exit
    sealed = (check.__code__, check.__defaults__, tell.__code__, tell.__defaults__)
    forget_probe_modules()
    root = os.path.abspath(root)
    sys.path.insert(0, root)
    os.makedirs(scratch, exist_ok=True)
    os.chdir(scratch)
    modules: dict[str, types.ModuleType] = {}
    module_report: dict[str, dict] = {}
    for name, path in loader.top_level_modules(root):
        if name in skip:
            continue
        send(sock, {"event": "import", "module": name})
        # Built before the import: a module that takes the memory leaves none to build it with.
        hoarded, had_room = frame({"event": "hoarded", "module": name}), has_headroom()
        info: dict[str, Any] = {"file": os.path.relpath(path, root)}
        module: types.ModuleType | None
        if notebook.is_form(path):
            # A notebook's cells: each one announced, so a hang is blamed on the cell running.
            module, cells = notebook.run(name, path, root, lambda label: send(sock, {"event": "cell", "cell": label}))
            error, warning = None, None
            info.update(file=cells.pop("file"), cells=cells)
        else:
            module, error, warning = loader.import_one(name, path, root)
        now = (check.__code__, check.__defaults__, tell.__code__, tell.__defaults__)
        if now[0] is not sealed[0] or now[1] is not sealed[1] or now[2] is not sealed[2] or now[3] is not sealed[3]:
            end(70)  # the seal itself was replaced: not even its report could be believed
        changed = check(records)
        if changed:
            # It replaced part of the probe code: nothing this worker reports could be believed.
            tell(sock, {"event": "tampered", "module": name, "what": changed})
        if had_room and not has_headroom():
            # It kept (nearly) all of the memory limit, so whatever allocates next would fail,
            # in any hook: the trusted side skips this module, as one that ended the import,
            # and starts over without it.
            sock.sendall(hoarded)
            return
        module_report[name] = {**info, "error": error, "warning": warning}
        if module is not None:
            modules[name] = module
        send(sock, {"event": "imported", "module": name, "ok": error is None})
    files = {name: str(info["file"]) for name, info in module_report.items()}
    impls, report = loader.find_hooks(modules, hooks, root, files)
    report["functions"] = {m: names[:MAX_REPORTED_NAMES] for m, names in report.get("functions", {}).items()}
    send(sock, {"event": "ready", "modules": module_report, **report})
    session = Session(root, scratch, impls)
    # A worker without headroom even so (limits too tight for any import) would be no better
    # fresh: it stays.
    roomy = has_headroom()
    while True:
        try:
            req, blob = recv(sock)
        except ChannelClosed:
            return
        answer, out = session.dispatch(req, blob)
        now = (check.__code__, check.__defaults__, tell.__code__, tell.__defaults__)
        if now[0] is not sealed[0] or now[1] is not sealed[1] or now[2] is not sealed[2] or now[3] is not sealed[3]:
            end(70)
        changed = check(records)
        if changed:
            # The answer was built by replaced probe code: it is not sent, and this worker ends.
            rid = req.get("id")
            tell(sock, {"ok": False, "kind": "tampered", "what": changed, "id": rid if type(rid) is int else None})
        if roomy and not has_headroom():
            answer["retire"] = True
        send_answer(sock, req, answer, out)


def send_answer(sock, req: dict, answer: dict, blob: bytes) -> None:
    """Send ``answer`` to ``req``, naming it (its ``id``); an answer larger than the request's
    ``limit`` becomes ``{"ok": false, "kind": "too_large"}`` (the trusted side would refuse it
    from its header, and end this worker)."""
    answer["id"] = req.get("id")
    data = frame(answer, len(blob))
    limit = req.get("limit")
    size = len(data) - HEADER.size + len(blob)
    if isinstance(limit, int) and size > limit:
        small = {"ok": False, "kind": "too_large", "size": size, "limit": limit, "id": answer["id"]}
        if answer.get("retire"):
            small["retire"] = True
        data, blob = frame(small), b""
    sock.sendall(data)
    if blob:
        sock.sendall(blob)


HEADROOM = 64 << 20


def has_headroom() -> bool:
    """Whether this worker could still map ``HEADROOM`` bytes under its memory limit. A hook that
    hoarded memory up to the limit (and kept it) leaves a worker in which the next request's
    smallest allocation fails, even one that cannot raise (safetensors aborts the process): the
    answer then says "retire" and the trusted side grades the rest in a fresh worker. A module
    whose import took the memory is skipped instead (a fresh worker would only take it again).
    Address space only: nothing is touched. Private and writable, as the heap is, so that it
    counts against RLIMIT_DATA too (the limit with CUDA; a shared mapping would not)."""
    try:
        mmap.mmap(-1, HEADROOM, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS).close()
    except (OSError, ValueError):
        return False
    return True


def _load_operation_modules() -> None:
    """Import every ``ops_*`` module of this package now, before the template forks."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules([os.path.dirname(__file__)]):
        if info.name.startswith("ops_"):
            importlib.import_module(f"{__package__}.{info.name}")


_load_operation_modules()
