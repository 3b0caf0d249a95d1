"""d2l-en chapter_builders-guide/lazy-init.md, the PyTorch tab's code cells in order."""

import torch
from torch import nn

net = nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))

net[0].weight

X = torch.rand(2, 20)
net(X)

net[0].weight.shape
