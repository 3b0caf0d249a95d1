"""5.4 in another style: functional ops, F.bilinear for the reduction, rfft cut to n // 2."""

import torch
from torch import nn
from torch.nn import functional as F


class Centered(nn.Module):
    def forward(self, X):
        return X - X.sum() / X.numel()


def centered_layer():
    return Centered()


class Dense(nn.Module):
    def __init__(self, in_units, units):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_units, units))
        self.bias = nn.Parameter(torch.empty(units))
        nn.init.kaiming_uniform_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, X):
        return F.linear(X, self.weight.t(), self.bias).clamp_min(0)


def my_linear(in_units, units):
    return Dense(in_units, units)


class Quadratic(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(in_features, in_features, out_features))
        nn.init.normal_(self.weight, std=in_features**-1)

    def forward(self, X):
        # F.bilinear wants (out, in1, in2): y_k = x^T W[:, :, k] x.
        return F.bilinear(X, X, self.weight.permute(2, 0, 1))


def tensor_reduction(in_features, out_features):
    return Quadratic(in_features, out_features)


class LeadingHalf(nn.Module):
    def forward(self, X):
        n = X.size(-1)
        return torch.fft.rfft(X)[..., : n // 2]  # rfft has n // 2 + 1 coefficients


def fourier_half():
    return LeadingHalf()
