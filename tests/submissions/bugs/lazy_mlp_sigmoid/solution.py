from torch import nn


def lazy_mlp():
    return nn.Sequential(nn.LazyLinear(256), nn.Sigmoid(), nn.LazyLinear(10))
