"""5.3 in another style: OrderedDict/add_module construction, ModuleList plus an index table."""

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F


def lazy_mlp():
    return nn.Sequential(OrderedDict([("0", nn.LazyLinear(256)), ("1", nn.ReLU()), ("2", nn.LazyLinear(10))]))


def partially_lazy_net():
    net = nn.Sequential()
    for layer in (nn.Linear(20, 256), nn.ReLU(), nn.LazyLinear(out_features=10)):
        net.append(layer)
    return net


def mismatched_net():
    net = nn.Sequential()
    net.add_module("0", nn.Linear(in_features=20, out_features=256))
    net.add_module("1", nn.ReLU())
    net.add_module("2", nn.Linear(in_features=128, out_features=10))
    return net


class Body(nn.Module):
    def __init__(self, hidden, out):
        super().__init__()
        self.proj = nn.Linear(hidden, out)

    def forward(self, H):
        return self.proj(F.relu(H))


class MultiWidth(nn.Module):
    def __init__(self, in_dims, hidden, out):
        super().__init__()
        self.index = {int(d): i for i, d in enumerate(in_dims)}
        self.stems = nn.ModuleList([nn.Linear(d, hidden) for d in in_dims])
        self.body = Body(hidden, out)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        i = self.index.get(X.shape[-1])
        if i is None:
            raise ValueError(f"inputs of width {X.shape[-1]} are not supported (widths: {sorted(self.index)})")
        return self.body(self.stems[i](X))


def varying_input_net(in_dims, hidden, out):
    return MultiWidth(in_dims, hidden, out)
