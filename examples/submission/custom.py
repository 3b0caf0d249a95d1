"""5.4 Custom layers."""

import torch
from torch import nn
from torch.nn import functional as F


class CenteredLayer(nn.Module):
    def forward(self, X):
        return X - X.mean(dim=-1, keepdim=True)  # mistake: the mean of each row


def centered_layer():
    return CenteredLayer()


class MyLinear(nn.Module):
    def __init__(self, in_units, units):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units))

    def forward(self, X):
        linear = torch.matmul(X, self.weight.data) + self.bias.data  # mistake: .data
        return F.relu(linear)


def my_linear(in_units, units):
    return MyLinear(in_units, units)


class TensorReduction(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_features, in_features, out_features))

    def forward(self, X):
        return torch.einsum("bi,ijk,bj->bk", X, self.weight, X)


def tensor_reduction(in_features, out_features):
    return TensorReduction(in_features, out_features)


class FourierHalf(nn.Module):
    def forward(self, X):
        return torch.fft.rfft(X)  # mistake: n // 2 + 1 coefficients


def fourier_half():
    return FourierHalf()
