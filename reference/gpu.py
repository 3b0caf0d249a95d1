"""5.6 GPUs (reference)."""

import time

import torch
from safetensors.torch import load_file


def try_gpu(i):
    if torch.cuda.device_count() >= i + 1:
        return torch.device(f"cuda:{i}")
    return torch.device("cpu")


def try_all_gpus():
    devices = [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())]
    return devices if devices else [torch.device("cpu")]


def load_params_to(path, device):
    return load_file(path, device=str(device))


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_matmul(n, device):
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b  # warm-up (kernel selection, allocator)
    _sync(device)
    start = time.perf_counter()
    a @ b
    _sync(device)
    return time.perf_counter() - start


def frobenius_log(a, b, on_device):
    if on_device:
        norms = torch.stack([torch.linalg.matrix_norm(a[i] @ b[i]) for i in range(a.shape[0])])
        return norms.cpu()
    return torch.tensor([torch.linalg.matrix_norm(a[i] @ b[i]).item() for i in range(a.shape[0])], dtype=a.dtype)


def two_gpu_matmul(a, b):
    d0, d1 = torch.device("cuda:0"), torch.device("cuda:1")
    a0, b0, a1, b1 = a.to(d0), b.to(d0), a.to(d1), b.to(d1)
    for d in (d0, d1):
        torch.cuda.synchronize(d)
    start = time.perf_counter()
    a0 @ b0
    a1 @ b1
    torch.cuda.synchronize(d0)
    torch.cuda.synchronize(d1)
    both = time.perf_counter() - start
    start = time.perf_counter()
    a0 @ b0
    a0 @ b0
    torch.cuda.synchronize(d0)
    one = time.perf_counter() - start
    return both, one
