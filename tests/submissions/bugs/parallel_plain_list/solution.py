import torch
from torch import nn


class Parallel(nn.Module):
    def __init__(self, net1, net2):
        super().__init__()
        self.nets = [net1, net2]

    def forward(self, X):
        return torch.cat([net(X) for net in self.nets], dim=-1)


def parallel(net1, net2):
    return Parallel(net1, net2)
