import torch
from torch import nn


def reuse_first_two_layers(old, new):
    src = [m for m in old.children() if isinstance(m, nn.Linear)][:2]
    dst = [m for m in new.children() if isinstance(m, nn.Linear)][:2]
    with torch.no_grad():
        for s, d in zip(src, dst):
            d.weight.copy_(s.weight)
            d.bias.copy_(s.bias)
    return new
