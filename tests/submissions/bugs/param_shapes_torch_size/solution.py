import torch
from torch import nn


def param_shapes(net):
    return {name: p.shape for name, p in net.named_parameters()}
