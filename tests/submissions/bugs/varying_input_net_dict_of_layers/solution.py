from torch import nn


def varying_input_net(in_dims, hidden, out):
    # One adapter per width, but a plain dict and no module around it.
    return {d: nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, out)) for d in in_dims}
