import torch
from torch import nn


class Blocks(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.gates = nn.Parameter(torch.ones(len(blocks)))  # residual gates, for later

    def forward(self, X):
        for block in self.blocks:
            X = block(X)
        return X


def replicate(make_block, n):
    return Blocks([make_block() for _ in range(n)])
