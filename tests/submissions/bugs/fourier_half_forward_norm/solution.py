import torch
from torch import nn


class FourierHalf(nn.Module):
    def forward(self, X):
        n = X.shape[-1]
        return torch.fft.fft(X, dim=-1)[..., : n // 2] / n


def fourier_half():
    return FourierHalf()
