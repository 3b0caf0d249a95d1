import torch
from torch import nn


class Parallel(nn.Module):
    def __init__(self, net1, net2):
        super().__init__()
        self.net1, self.net2 = net1, net2
        self.fuse = nn.LazyLinear(8)  # for later

    def forward(self, X):
        return torch.cat((self.net1(X), self.net2(X)), dim=-1)


def parallel(net1, net2):
    return Parallel(net1, net2)
