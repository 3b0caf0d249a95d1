import time

import torch


def time_matmul(n, device):
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    a @ b
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    return time.time()
