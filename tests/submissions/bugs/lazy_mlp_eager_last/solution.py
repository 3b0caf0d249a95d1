from torch import nn


def lazy_mlp():
    return nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.Linear(256, 10))
