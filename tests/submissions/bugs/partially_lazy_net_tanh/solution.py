from torch import nn


def partially_lazy_net():
    return nn.Sequential(nn.Linear(20, 256), nn.Tanh(), nn.LazyLinear(10))
