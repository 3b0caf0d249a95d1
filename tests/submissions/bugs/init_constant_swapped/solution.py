import torch
from torch import nn


def init_constant(module):
    if type(module) == nn.Linear:
        nn.init.zeros_(module.weight)
        nn.init.constant_(module.bias, 1)
