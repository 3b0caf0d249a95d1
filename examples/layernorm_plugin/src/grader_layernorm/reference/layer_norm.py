"""Layer normalization (reference): torch's own kernel is the ground truth."""

import torch
from torch import nn
from torch.nn import functional as F


class LayerNorm(nn.Module):
    def __init__(self, features, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))

    def forward(self, X):
        return F.layer_norm(X, self.weight.shape, self.weight, self.bias, self.eps)


def layer_norm(features, eps):
    return LayerNorm(features, eps)
