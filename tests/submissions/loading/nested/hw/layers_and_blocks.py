"""5.1 Layers and blocks (reference)."""

import torch
from torch import nn
from torch.nn import functional as F


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(20, 256)
        self.out = nn.Linear(256, 10)

    def forward(self, X):
        return self.out(F.relu(self.hidden(X)))


def mlp():
    return MLP()


class MySequential(nn.Module):
    def __init__(self, modules):
        super().__init__()
        for idx, module in enumerate(modules):
            self.add_module(str(idx), module)

    def forward(self, X):
        # _modules keeps every position, even when one module object appears twice
        # (children() would yield it once).
        for module in self._modules.values():
            X = module(X)
        return X


def my_sequential(modules):
    return MySequential(modules)


class FixedHiddenMLP(nn.Module):
    def __init__(self):
        super().__init__()
        # A buffer: not trained, but saved and moved with the module (the book's plain
        # attribute stays behind on .to(device)).
        self.register_buffer("rand_weight", torch.rand(20, 20))
        self.linear = nn.Linear(20, 20)

    def forward(self, X):
        X = self.linear(X)
        X = F.relu(X @ self.rand_weight + 1)
        X = self.linear(X)
        while X.abs().sum() > 1:
            X /= 2
        return X.sum()


def fixed_hidden_mlp():
    return FixedHiddenMLP()


class NestMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.linear = nn.Linear(32, 16)

    def forward(self, X):
        return self.linear(self.net(X))


def nest_mlp():
    return NestMLP()


def chimera():
    return nn.Sequential(NestMLP(), nn.Linear(16, 20), FixedHiddenMLP())


class ListSequential(nn.Module):
    """Exercise 5.1.1: the modules live in a plain list, so torch never sees them."""

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
    return {
        "parameters_not_registered",
        "state_dict_empty",
        "optimizer_empty",
        "device_not_propagated",
        "train_eval_not_propagated",
        "repr_empty",
    }


class Parallel(nn.Module):
    def __init__(self, net1, net2):
        super().__init__()
        self.net1, self.net2 = net1, net2

    def forward(self, X):
        return torch.cat((self.net1(X), self.net2(X)), dim=-1)


def parallel(net1, net2):
    return Parallel(net1, net2)


def replicate(make_block, n):
    return nn.Sequential(*[make_block() for _ in range(n)])
