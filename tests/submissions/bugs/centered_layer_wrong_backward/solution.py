import torch
from torch import nn


class Center(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X):
        return X - X.mean()

    @staticmethod
    def backward(ctx, grad):
        return grad  # misses the -mean(grad) term


class CenteredLayer(nn.Module):
    def forward(self, X):
        return Center.apply(X)


def centered_layer():
    return CenteredLayer()
