import torch
from torch import nn


def init_xavier(module):
    if type(module) == nn.Linear:
        nn.init.xavier_normal_(module.weight)
