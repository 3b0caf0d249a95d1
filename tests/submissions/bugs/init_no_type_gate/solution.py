import torch
from torch import nn


def init_normal(module):
    if hasattr(module, "weight"):
        nn.init.normal_(module.weight, mean=0, std=0.01)
        nn.init.zeros_(module.bias)


def init_constant(module):
    if hasattr(module, "weight"):
        nn.init.constant_(module.weight, 1)
        nn.init.zeros_(module.bias)


def init_xavier(module):
    if hasattr(module, "weight"):
        nn.init.xavier_uniform_(module.weight)


def init_42(module):
    if hasattr(module, "weight"):
        nn.init.constant_(module.weight, 42)


def my_init(module):
    if hasattr(module, "weight"):
        nn.init.uniform_(module.weight, -10, 10)
        module.weight.data *= module.weight.data.abs() >= 5
