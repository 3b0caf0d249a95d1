import os

import torch
from torch import nn
from torch.nn import functional as F


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(20, 256)
        self.out = nn.Linear(256, 10)

    def forward(self, X):
        # The bug: a leftover debugging exit ends the process in the forward.
        os._exit(3)


def mlp():
    return MLP()


class FixedHiddenMLP(nn.Module):
    def __init__(self):
        super().__init__()
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

import json

from safetensors import safe_open
from safetensors.torch import load_model, save_model

FACTORIES = {"MLP": mlp, "FixedHiddenMLP": fixed_hidden_mlp}


def save_model_file(net, path):
    if type(net).__name__ not in FACTORIES:
        raise ValueError(f"no architecture registered for {type(net).__name__}")
    save_model(net, path, metadata={"architecture": type(net).__name__})


def load_model_file(path):
    with safe_open(path, framework="pt") as f:
        kind = f.metadata()["architecture"]
    net = FACTORIES[kind]()
    load_model(net, path)
    return net
