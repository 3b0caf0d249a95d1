import time

import torch


def time_matmul(n, device):
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b  # warm-up
    start = time.perf_counter()
    a @ b
    return time.perf_counter() - start
