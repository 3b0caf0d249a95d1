import torch
from torch import nn


def param_shapes(net):
    return {name: tuple(t.shape) for name, t in net.state_dict().items()}
