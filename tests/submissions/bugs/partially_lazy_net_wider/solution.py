from torch import nn


def partially_lazy_net():
    return nn.Sequential(nn.Linear(20, 128), nn.ReLU(), nn.LazyLinear(10))
