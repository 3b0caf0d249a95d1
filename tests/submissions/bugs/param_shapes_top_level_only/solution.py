import torch
from torch import nn


def param_shapes(net):
    # Walks the top-level layers only: a nested block's parameters are never reached.
    shapes = {}
    for name, layer in net.named_children():
        for pname, p in layer.named_parameters(recurse=False):
            shapes[f"{name}.{pname}"] = p.shape
    return shapes
