import torch
from torch import nn


def mismatched_net():
    net = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(128, 10))
    net(torch.rand(2, 20))  # show the error
    return net
