from safetensors.torch import save_model


def save_params(net, path):
    save_model(net, path)

import torch
from safetensors.torch import load_file


def load_params(net, path):
    params = dict(net.named_parameters())
    with torch.no_grad():
        for name, value in load_file(path).items():
            if name in params:
                params[name].copy_(value)
