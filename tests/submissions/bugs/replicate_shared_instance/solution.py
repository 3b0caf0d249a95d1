import torch
from torch import nn


def replicate(make_block, n):
    return nn.Sequential(*[make_block()] * n)
