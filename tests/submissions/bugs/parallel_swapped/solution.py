import torch
from torch import nn


class Parallel(nn.Module):
    def __init__(self, net1, net2):
        super().__init__()
        self.net1, self.net2 = net1, net2

    def forward(self, X):
        return torch.cat((self.net2(X), self.net1(X)), dim=-1)


def parallel(net1, net2):
    return Parallel(net1, net2)
