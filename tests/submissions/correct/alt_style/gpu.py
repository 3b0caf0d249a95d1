"""5.6 GPUs, correct but written unlike the reference: ``torch.device(type, index)``, tensors
placed by hand after ``safe_open``, CUDA events for timing, a batched product for the on-device
log, per-device synchronization in a loop."""

import time

import torch
from safetensors import safe_open


def try_gpu(i):
    return torch.device("cuda", i) if i < torch.cuda.device_count() else torch.device("cpu")


def try_all_gpus():
    return [torch.device("cuda", i) for i in range(torch.cuda.device_count())] or [torch.device("cpu")]


def load_params_to(path, device):
    with safe_open(path, framework="pt") as f:
        return {name: f.get_tensor(name).to(device) for name in f.keys()}


def time_matmul(n, device):
    device = torch.device(device)
    a, b = torch.rand(n, n, device=device), torch.rand(n, n, device=device)
    torch.matmul(a, b)  # warm-up
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        torch.matmul(a, b)
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000  # milliseconds to seconds
    begin = time.perf_counter()
    torch.matmul(a, b)
    return time.perf_counter() - begin


def frobenius_log(a, b, on_device):
    if on_device:
        return torch.linalg.matrix_norm(torch.bmm(a, b)).to("cpu")
    log = []
    for x, y in zip(a, b):
        log.append(float(torch.linalg.matrix_norm(x @ y)))  # one transfer per product
    return torch.tensor(log)


def two_gpu_matmul(a, b):
    devices = [torch.device("cuda", 0), torch.device("cuda", 1)]
    copies = [(a.to(d), b.to(d)) for d in devices]
    for x, y in copies:
        x @ y  # warm-up on each device
    for d in devices:
        torch.cuda.synchronize(d)
    begin = time.perf_counter()
    for x, y in copies:
        x @ y
    for d in devices:
        torch.cuda.synchronize(d)
    both = time.perf_counter() - begin
    x, y = copies[0]
    begin = time.perf_counter()
    for _ in range(2):
        x @ y
    torch.cuda.synchronize(devices[0])
    return both, time.perf_counter() - begin
