import torch
from torch import nn


class ListSequential(nn.Module):
    def __init__(self, modules):
        super().__init__()
        self.layers = list(modules)

    def forward(self, X):
        for layer in self.layers:
            X = layer(X)
        return X


def list_sequential(modules):
    return ListSequential(modules)

def list_storage_problems():
    return {"optimizer_empty", "repr_empty"}
