import torch
from torch import nn


def init_42(module):
    if type(module) == nn.Linear:
        module.weight.data += 42
