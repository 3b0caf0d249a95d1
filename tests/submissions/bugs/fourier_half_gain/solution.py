import torch
from torch import nn


class FourierHalf(nn.Module):
    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(()))

    def forward(self, X):
        return self.gain * torch.fft.fft(X, dim=-1)[..., : X.shape[-1] // 2]


def fourier_half():
    return FourierHalf()
