from torch import nn


def mismatched_net():
    # The layers, but never wrapped in nn.Sequential.
    return [nn.Linear(20, 256), nn.ReLU(), nn.Linear(128, 10)]
