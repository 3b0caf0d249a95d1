import torch
from torch import nn


class TensorReduction(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_features, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, X):
        return torch.einsum("bi,bj,ijk->bk", X, X, self.weight) + self.bias


def tensor_reduction(in_features, out_features):
    return TensorReduction(in_features, out_features)
