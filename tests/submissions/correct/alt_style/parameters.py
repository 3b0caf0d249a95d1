"""5.2 Parameter management, correct but written unlike the reference: shapes as `p.shape` (a
torch.Size), isinstance gates, in-place tensor methods under no_grad, a hand-written Xavier bound,
a sampled mixture for my_init, OrderedDict containers, a manual SGD loop, arithmetic parameter
counts."""

import math
from collections import OrderedDict

import torch
from torch import nn


def param_shapes(net):
    return {name: p.shape for name, p in net.named_parameters()}  # torch.Size, as the book prints it


def block1():
    return nn.Sequential(
        OrderedDict([("0", nn.Linear(4, 8)), ("1", nn.ReLU()), ("2", nn.Linear(8, 4)), ("3", nn.ReLU())])
    )


def block2():
    return nn.Sequential(OrderedDict((f"block {i}", block1()) for i in range(4)))


def rgnet():
    net = nn.Sequential()
    net.append(block2())
    net.append(nn.Linear(4, 1))
    return net


def init_normal(module):
    if isinstance(module, nn.Linear):
        with torch.no_grad():
            module.weight.normal_(0.0, 0.01)
            module.bias.zero_()


def init_constant(module):
    if isinstance(module, nn.Linear):
        with torch.no_grad():
            module.weight.fill_(1.0)
            module.bias.fill_(0.0)


def init_xavier(module):
    if isinstance(module, nn.Linear):
        fan_out, fan_in = module.weight.shape
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        with torch.no_grad():
            module.weight.uniform_(-bound, bound)


def init_42(module):
    if isinstance(module, nn.Linear):
        module.weight.data.fill_(42)


def my_init(module):
    if isinstance(module, nn.Linear):
        w = module.weight
        with torch.no_grad():
            magnitude = torch.empty_like(w).uniform_(5, 10)
            component = torch.rand_like(w)  # < 1/4: negative, > 3/4: positive, else 0
            sign = (component > 0.75).to(w.dtype) - (component < 0.25).to(w.dtype)
            w.copy_(magnitude * sign)


def shared_mlp():
    shared = nn.Linear(8, 8)
    layers = [nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 1)]
    return nn.Sequential(OrderedDict((str(i), layer) for i, layer in enumerate(layers)))


def train_shared_mlp(net, X, y, steps, lr):
    losses = []
    params = list(net.parameters())  # each shared Parameter once
    for _ in range(steps):
        loss = ((net(X) - y) ** 2).mean()
        losses.append(loss.item())
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(lr * g)
    return losses


def tied_untied_param_counts():
    first, shared, last = 4 * 8 + 8, 8 * 8 + 8, 8 * 1 + 1
    return (first + shared + last, first + 2 * shared + last)
