import os

from torch import nn


class ListSequential(nn.Module):
    def __init__(self, modules):
        super().__init__()
        self.layers = list(modules)
        os._exit(1)  # the bug: a leftover exit, in list_sequential's constructor

    def forward(self, X):
        for layer in self.layers:
            X = layer(X)
        return X


def list_sequential(modules):
    return ListSequential(modules)


def list_storage_problems():
    return {"parameters_not_registered", "state_dict_empty", "optimizer_empty"}
