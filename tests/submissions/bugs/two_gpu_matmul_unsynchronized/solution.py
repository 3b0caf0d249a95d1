import time

import torch


def two_gpu_matmul(a, b):
    a0, b0 = a.to("cuda:0"), b.to("cuda:0")
    a1, b1 = a.to("cuda:1"), b.to("cuda:1")
    a0 @ b0
    a1 @ b1
    start = time.perf_counter()
    a0 @ b0
    a1 @ b1
    both = time.perf_counter() - start
    start = time.perf_counter()
    a0 @ b0
    a0 @ b0
    one = time.perf_counter() - start
    return both, one
