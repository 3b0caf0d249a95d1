import torch
from torch import nn


class MyLinear(nn.Module):
    def __init__(self, in_units, units):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(units, in_units))
        self.bias = nn.Parameter(torch.randn(units))

    def forward(self, X):
        return torch.relu(X @ self.weight.T + self.bias)


def my_linear(in_units, units):
    return MyLinear(in_units, units)
