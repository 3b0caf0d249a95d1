"""Worker operations for 5.6 GPUs.

``gpu_calls``
    The CUDA device count as this process sees it (the truth ``try_gpu`` is graded against),
    then each listed call of a device helper, each with its own result or error.
``placed_calls``
    Tensors moved to the cell's device in the worker (they cross the boundary on the CPU), a
    safetensors file written there from that device, then calls of one hook, each timed with
    the device synchronized before and after; the device of every tensor returned is reported.
``time_matmul_probe``
    ``time_matmul`` against the call's own duration and the grader's own synchronized
    measurement in the same process.
``two_gpu_probe``
    ``two_gpu_matmul`` against the grader's own measurement on the same two devices.

Nothing here touches CUDA at import: this module is imported in the worker template, which
must fork with CUDA uninitialized.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from . import ops_files  # used at call time: importing ops_files loads serve, which loads this module
from .serve import HookMissing, operation
from .wire import Encoder


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def devices_in(value: Any, prefix: str = "") -> dict[str, str]:
    """The device of every tensor in a (nested) result, by key path."""
    if isinstance(value, torch.Tensor):
        return {prefix or "": str(value.device)}
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(devices_in(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            out.update(devices_in(v, f"{prefix}.{i}" if prefix else str(i)))
    return out


@operation("gpu_calls")
def gpu_calls(session: Any, req: dict, tensors: dict, enc: Encoder) -> dict:
    count = torch.cuda.device_count()  # before any student code runs in this request
    results = []
    for call in req.get("calls") or []:
        try:
            value = session.hook(call["hook"])(**(call.get("args") or {}))
            results.append({"value": enc.encode(value)})
        except HookMissing:
            results.append({"missing": True})
        except BaseException as e:
            results.append(ops_files.failed(session, call["hook"], e)["failed"])
    return {"count": count, "results": results}


@operation("placed_calls")
def placed_calls(session: Any, req: dict, tensors: dict, enc: Encoder) -> dict:
    data = ops_files.data_of(session, req, tensors)
    device = torch.device(req.get("device") or "cpu")
    if data.get("file"):
        from safetensors.torch import save_file

        name, content = data["file"]
        save_file({k: v.to(device).contiguous() for k, v in content.items()}, session.path(name))
    fn = session.hook(req["hook"])
    results = []
    for call in data.get("calls") or []:
        args = dict(call)
        for name, value in args.items():
            if isinstance(value, torch.Tensor):
                args[name] = value.to(device)
        sync(device)
        start = time.perf_counter()
        try:
            value = fn(**args)
            sync(device)
        except BaseException as e:
            results.append(ops_files.failed(session, req["hook"], e)["failed"])
            continue
        seconds = time.perf_counter() - start
        results.append({"value": enc.encode(value), "devices": devices_in(value), "seconds": seconds})
    return {"results": results}


def own_matmul_seconds(n: int, device: torch.device, reps: int = 5) -> float:
    """The median of ``reps`` synchronized timings of one ``n × n`` float32 matmul, after a warm-up."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device)
    b = torch.randn(n, n, generator=gen).to(device)
    for _ in range(2):
        a @ b
    times = []
    for _ in range(reps):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@operation("time_matmul_probe")
def time_matmul_probe(session: Any, req: dict, tensors: dict, enc: Encoder) -> dict:
    n, device = int(req["n"]), torch.device(req["device"])
    fn = session.hook("time_matmul")
    sync(device)
    start = time.perf_counter()
    value = fn(n=n, device=device)
    sync(device)
    wall = time.perf_counter() - start
    own = own_matmul_seconds(n, device) if req.get("measure") else None
    return {"value": enc.encode(value), "wall": wall, "own": own}


@operation("two_gpu_probe")
def two_gpu_probe(session: Any, req: dict, tensors: dict, enc: Encoder) -> dict:
    n = int(req["n"])
    gen = torch.Generator().manual_seed(int(req.get("seed") or 0))
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    d0, d1 = torch.device("cuda:0"), torch.device("cuda:1")
    start = time.perf_counter()
    value = session.hook("two_gpu_matmul")(a=a, b=b)
    sync(d0)
    sync(d1)
    wall = time.perf_counter() - start
    # The grader's own measurement: both launched before either device is synchronized.
    pairs = [(a.to(d).contiguous(), b.to(d).contiguous()) for d in (d0, d1)]
    for x, w in pairs:
        x @ w
    both, one = [], []
    for _ in range(3):
        sync(d0)
        sync(d1)
        start = time.perf_counter()
        for x, w in pairs:
            x @ w
        sync(d0)
        sync(d1)
        both.append(time.perf_counter() - start)
        x, w = pairs[0]
        start = time.perf_counter()
        x @ w
        x @ w
        sync(d0)
        one.append(time.perf_counter() - start)
    return {
        "value": enc.encode(value),
        "wall": wall,
        "own_both": statistics.median(both),
        "own_one": statistics.median(one),
    }
