import torch
from torch import nn


def shared_mlp():
    shared = nn.Linear(8, 8)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.Tanh(), shared, nn.ReLU(), nn.Linear(8, 1))
