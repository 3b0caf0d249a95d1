"""5.3 Deferred initialization."""

from torch import nn


def lazy_mlp():
    return nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))


def partially_lazy_net():
    return nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.LazyLinear(10))


def mismatched_net():
    return nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(128, 10))


def varying_input_net(in_dims, hidden, out):
    raise NotImplementedError
