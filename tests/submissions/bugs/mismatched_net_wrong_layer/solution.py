from torch import nn


def mismatched_net():
    return nn.Sequential(nn.Linear(30, 256), nn.ReLU(), nn.Linear(256, 10))
