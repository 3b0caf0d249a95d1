import torch
from torch import nn


def init_xavier(module):
    if type(module) == nn.Linear:
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


def init_42(module):
    if type(module) == nn.Linear:
        nn.init.constant_(module.weight, 42)
        nn.init.zeros_(module.bias)


def my_init(module):
    if type(module) == nn.Linear:
        nn.init.uniform_(module.weight, -10, 10)
        module.weight.data *= module.weight.data.abs() >= 5
        nn.init.zeros_(module.bias)
