"""5.6 GPUs."""

import torch
from safetensors.torch import load_file


def try_gpu(i):
    if torch.cuda.device_count() >= i + 1:
        return torch.device(f"cuda:{i}")
    return torch.device("cpu")


def try_all_gpus():
    return [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())]  # mistake: [] without a GPU


def load_params_to(path, device):
    return load_file(path, device=str(device))


def time_matmul(n, device):
    raise NotImplementedError


def frobenius_log(a, b, on_device):
    raise NotImplementedError


def two_gpu_matmul(a, b):
    raise NotImplementedError
