"""Worker operations for 5.5 File I/O.

``file_call``
    Write the grader's files into the scratch directory, build the grader's modules (tied where
    told, moved with ``.to(device)`` as a user would), call the hook, then report what a check
    needs: a file read back (as bytes, never parsed here), a module's outputs, module
    descriptions with values.
``reuse_layers``
    ``reuse_first_two_layers(old, new)``: which of ``new``'s parameters share memory with
    ``old``'s, and whether ``new`` changes when ``old`` is changed afterwards.
``model_file_save``
    Build a module with one of the submission's own hooks (``mlp``…), run it, save it with
    ``save_model_file``; the file then travels to another worker (``SubmissionView.second``).
``checkpoint_save``
    Train k steps (SGD with momentum), ``save_checkpoint``; the file comes back as bytes.
``checkpoint_load``
    In another worker, where ``save_checkpoint`` never ran: write the file, restore a fresh net
    and optimizer with ``load_checkpoint``, train m more steps. Only the file carries the state.

Student code that raises in a step other than the request's own hook is reported with the step
(``{"failed": {"step": ..., "error": ...}}``), so the check can say which hook broke.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from . import arch, loader, observe
from .serve import operation
from .wire import Encoder, decode


def data_of(session: Any, req: dict, tensors: dict) -> dict:
    """The request's ``data`` (encoded like hook arguments)."""
    special = session._special(tensors)
    return {k: decode(v, tensors, special) for k, v in (req.get("data") or {}).items()}


def read_back(session: Any, name: str, enc: Encoder) -> dict:
    """A scratch file as bytes: ``{"kind": "file", "data": ...}`` or what is there instead."""
    path = session.path(name)
    if os.path.isdir(path):
        return {"kind": "directory", "entries": sorted(os.listdir(path))[:20]}
    if not os.path.isfile(path):
        return {"kind": "missing", "nearby": sorted(n for n in os.listdir(session.scratch) if n.startswith(name))[:10]}
    size = os.path.getsize(path)
    if size > session.max_file:  # the request's cap (at most MAX_FILE)
        return {"kind": "too_large", "size": size}
    with open(path, "rb") as f:
        return {"kind": "file", "data": enc.encode(f.read())}


def failed(session: Any, step: str, e: BaseException) -> dict:
    return {"failed": {"step": step, "error": loader.describe_exception(e, session.root)}}


def write_files(session: Any, data: dict) -> None:
    """Write the files a request brings (``data["files"]``: name -> bytes) into the scratch
    directory, for the hook to read."""
    for name, content in (data.get("files") or {}).items():
        with open(session.path(name), "wb") as f:
            f.write(content)


def seeded_build(session: Any, req: dict, tensors: dict) -> dict:
    """The hook's arguments; modules described without values get a seeded default init, so a
    "fresh" net is the same in every run."""
    with arch.seeded(int(req.get("seed") or 0)):
        return session.args(req, tensors)


@operation("file_call")
def file_call(session: Any, req: dict, tensors: dict, enc: Encoder) -> dict:
    data = data_of(session, req, tensors)
    write_files(session, data)
    args = seeded_build(session, req, tensors)
    device = torch.device(req.get("device") or "cpu")
    for name, pairs in (req.get("ties") or {}).items():
        arch.tie(args[name], pairs)
    for name, value in args.items():
        if isinstance(value, nn.Module):
            args[name] = value.to(device)
    value = session.hook(req["hook"])(**args)
    out: dict[str, Any] = {"value": enc.encode(value)}
    if req.get("read"):
        out["file"] = read_back(session, str(req["read"]), enc)
    # Described before the forward, so a forward that fails still leaves values and ties to report.
    out["inspect"] = {
        name: {"$module": observe.summarize(args[name], enc, values=True)} for name in req.get("inspect") or []
    }
    if req.get("run"):
        net = args[req["run"]]
        outputs = []
        try:
            net.eval()
            with torch.no_grad():
                for x in data.get("inputs") or []:
                    outputs.append(enc.encode(net(x.to(device))))
        except BaseException as e:
            return {**out, **failed(session, "forward", e)}
        out["outputs"] = outputs
    return out


def _storages(module: nn.Module) -> set:
    return {(str(p.device), p.untyped_storage().data_ptr()) for _, p in observe.named_parameters(module)}


@operation("reuse_layers")
def reuse_layers(session: Any, req: dict, tensors: dict, enc: Encoder) -> dict:
    args = session.args(req, tensors)
    old, new = args["old"], args["new"]
    value = session.hook(req["hook"])(**args)
    old_storages = _storages(old)
    shared = [
        n for n, p in observe.named_parameters(new) if (str(p.device), p.untyped_storage().data_ptr()) in old_storages
    ]
    summary = {"$module": observe.summarize(new, enc, values=True)}
    # Change every value of old afterwards: a copy does not notice, an alias (or a view) does.
    with torch.no_grad():
        for _, p in observe.named_parameters(old):
            p.add_(1.0)
    later = {n: p.detach().clone() for n, p in observe.named_parameters(new)}
    return {
        "returned_new": value is new,
        "returned_type": type(value).__name__,
        "new": summary,
        "shared": enc.encode(shared),
        "later": enc.encode(later),
    }


@operation("model_file_save")
def model_file_save(session: Any, req: dict, tensors: dict, enc: Encoder) -> dict:
    data = data_of(session, req, tensors)
    build = str(req["build"])
    try:
        with arch.seeded(int(req.get("seed") or 0)):
            net = session.hook(build)()
    except BaseException as e:
        return failed(session, f"{build}()", e)
    if not isinstance(net, nn.Module):
        return {"failed": {"step": f"{build}()", "returned": type(net).__name__}}
    outputs = []
    try:  # a forward first, as a user trains before saving (and lazy layers get their shapes)
        with torch.no_grad():
            for x in data.get("inputs") or []:
                outputs.append(enc.encode(net(x)))
    except BaseException as e:
        return failed(session, f"the forward of the module `{build}()` built", e)
    session.hook(req["hook"])(net=net, path=session.path(str(req["path"])))
    return {"outputs": outputs, "file": read_back(session, str(req["path"]), enc)}


@operation("checkpoint_save")
def checkpoint_save(session: Any, req: dict, tensors: dict, enc: Encoder) -> dict:
    data = data_of(session, req, tensors)
    net = arch.build(req["spec"])
    arch.load_state(net, data["state"])
    optimizer = arch.resume_sgd(net, req)
    arch.train_mse(net, optimizer, data["X"], data["y"], int(req["k"]))
    path = session.path(str(req["path"]))
    try:
        session.hook("save_checkpoint")(net=net, optimizer=optimizer, epoch=int(req["epoch"]), path=path)
    except BaseException as e:
        return failed(session, "save_checkpoint", e)
    return {"file": read_back(session, str(req["path"]), enc)}


@operation("checkpoint_load")
def checkpoint_load(session: Any, req: dict, tensors: dict, enc: Encoder) -> dict:
    data = data_of(session, req, tensors)
    write_files(session, data)
    with arch.seeded(int(req.get("seed") or 0)):
        fresh = arch.build(req["spec"])
    fresh_optimizer = arch.resume_sgd(fresh, req)
    try:
        epoch = session.hook("load_checkpoint")(
            path=session.path(str(req["path"])), net=fresh, optimizer=fresh_optimizer
        )
    except BaseException as e:
        return failed(session, "load_checkpoint", e)
    restored = {n: p.detach().clone() for n, p in fresh.named_parameters()}
    momentum = {}
    for n, p in fresh.named_parameters():
        buf = fresh_optimizer.state.get(p, {}).get("momentum_buffer")
        momentum[n] = buf.detach().clone() if isinstance(buf, torch.Tensor) else None
    out = {"epoch": enc.encode(epoch), "restored": enc.encode(restored), "momentum": enc.encode(momentum)}
    try:
        arch.train_mse(fresh, fresh_optimizer, data["X"], data["y"], int(req["m"]))
    except BaseException as e:
        return {**out, **failed(session, "training after load_checkpoint", e)}
    out["final"] = enc.encode({n: p.detach().clone() for n, p in fresh.named_parameters()})
    return out
