"""5.1 Layers and blocks, correct but written unlike the reference: functional calls, 1.0-book
lazy layers, register_module, ModuleList, a tuple kept under an underscore name, a frozenset."""

from collections import OrderedDict
from functools import reduce

import torch
import torch.nn.functional as F
from torch import nn


class Perceptron(nn.Module):
    def __init__(self):
        super().__init__()
        # The 1.0 book's lazy layers: shapes are fixed by the first forward.
        self.hidden = nn.LazyLinear(256)
        self.out = nn.LazyLinear(10)

    def forward(self, X):
        return self.out(self.hidden(X).clamp_min(0))


def mlp():
    return Perceptron()


class Chain(nn.Module):
    def __init__(self, modules):
        super().__init__()
        for i, m in enumerate(modules):
            self.register_module(str(i), m)
        self.length = len(modules)

    def forward(self, X):
        for i in range(self.length):
            X = getattr(self, str(i))(X)
        return X


def my_sequential(modules):
    return Chain(modules)


class FixedHidden(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(20, 20)
        self.register_buffer("rand_weight", torch.rand(20, 20), persistent=False)

    def forward(self, X):
        X = F.linear(X, self.linear.weight, self.linear.bias)
        X = torch.relu(torch.mm(X, self.rand_weight) + 1)
        X = F.linear(X, self.linear.weight, self.linear.bias)
        while X.abs().sum() > 1:
            X = X / 2
        return X.sum()


def fixed_hidden_mlp():
    return FixedHidden()


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            OrderedDict([("0", nn.Linear(20, 64)), ("1", nn.ReLU()), ("2", nn.Linear(64, 32)), ("3", nn.ReLU())])
        )
        self.linear = nn.Linear(32, 16)
        self.layers = [self.net, self.linear]  # a convenience alias; both are registered above

    def forward(self, X):
        return reduce(lambda x, layer: layer(x), self.layers, X)


def nest_mlp():
    return Nested()


def chimera():
    net = nn.Sequential()
    net.add_module("0", nest_mlp())
    net.add_module("1", nn.Linear(16, 20))
    net.add_module("2", fixed_hidden_mlp())
    return net


class TupleChain(nn.Module):
    def __init__(self, modules):
        super().__init__()
        self._chain = tuple(modules)  # torch does not look inside tuples either

    def forward(self, X):
        return reduce(lambda x, m: m(x), self._chain, X)


def list_sequential(modules):
    return TupleChain(modules)


def list_storage_problems():
    return frozenset(
        ["parameters_not_registered", "state_dict_empty", "optimizer_empty", "train_eval_not_propagated",
         "device_not_propagated", "repr_empty"]
    )


class Branches(nn.Module):
    def __init__(self, net1, net2):
        super().__init__()
        self.branches = nn.ModuleList([net1, net2])

    def forward(self, X):
        return torch.cat([branch(X) for branch in self.branches], dim=1)


def parallel(net1, net2):
    return Branches(net1, net2)


class Stack(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, X):
        for block in self.blocks:
            X = block(X)
        return X


def replicate(make_block, n):
    blocks = []
    while len(blocks) < n:
        blocks.append(make_block())
    return Stack(blocks)
