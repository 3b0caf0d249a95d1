import torch
from torch import nn


class CenteredLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.shift = nn.Parameter(torch.zeros(()))

    def forward(self, X):
        return X - X.mean() + self.shift


def centered_layer():
    return CenteredLayer()
