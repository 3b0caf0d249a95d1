"""5.4 Custom layers (reference)."""

import torch
from torch import nn
from torch.nn import functional as F


class CenteredLayer(nn.Module):
    def forward(self, X):
        return X - X.mean()


def centered_layer():
    return CenteredLayer()


class MyLinear(nn.Module):
    def __init__(self, in_units, units):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units))

    def forward(self, X):
        # The Parameters themselves, not .data: autograd must see them.
        return F.relu(X @ self.weight + self.bias)


def my_linear(in_units, units):
    return MyLinear(in_units, units)


class TensorReduction(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_features, in_features, out_features) / in_features)

    def forward(self, X):
        return torch.einsum("bi,bj,ijk->bk", X, X, self.weight)


def tensor_reduction(in_features, out_features):
    return TensorReduction(in_features, out_features)


class FourierHalf(nn.Module):
    def forward(self, X):
        return torch.fft.fft(X, dim=-1)[..., : X.shape[-1] // 2]


def fourier_half():
    return FourierHalf()
