import torch
from safetensors.torch import load_file


def load_params_to(path, device):
    return {k: v.to(device=device, dtype=torch.float32) for k, v in load_file(path).items()}
