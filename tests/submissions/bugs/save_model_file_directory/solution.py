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
import os

from safetensors.torch import load_model, save_model

FACTORIES = {"MLP": mlp, "FixedHiddenMLP": fixed_hidden_mlp}


def save_model_file(net, path):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump({"architecture": type(net).__name__}, f)
    save_model(net, os.path.join(path, "model.safetensors"))


def load_model_file(path):
    with open(os.path.join(path, "config.json")) as f:
        net = FACTORIES[json.load(f)["architecture"]]()
    load_model(net, os.path.join(path, "model.safetensors"))
    return net
