import torch
from torch import nn


class MySequential(nn.Module):
    def __init__(self, modules):
        super().__init__()
        for idx, module in enumerate(modules):
            self.add_module(str(idx), module)

    def forward(self, X):
        for module in self.children():
            X = module(X)
        return X


def my_sequential(modules):
    return MySequential(modules)
