import torch
from torch import nn


def init_normal(module):
    if type(module) == nn.Linear:
        nn.init.normal_(module.weight, mean=0, std=0.01 ** 2)
        nn.init.zeros_(module.bias)
