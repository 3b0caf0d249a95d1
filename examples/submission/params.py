"""5.2 Parameter management."""

import torch
from torch import nn


def param_shapes(net):
    return {name: tuple(p.shape) for name, p in net.named_parameters()}


def block1():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU())


def block2():
    net = nn.Sequential()
    for i in range(4):
        net.add_module(f"block {i}", block1())
    return net


def rgnet():
    return nn.Sequential(block2(), nn.Linear(4, 1))


def init_normal(module):
    if type(module) == nn.Linear:
        nn.init.normal_(module.weight, mean=0, std=0.01)
        nn.init.zeros_(module.bias)


def init_constant(module):
    if type(module) == nn.Linear:
        nn.init.constant_(module.weight, 1)
        nn.init.zeros_(module.bias)


def init_xavier(module):
    if type(module) == nn.Linear:
        nn.init.xavier_uniform_(module.weight)


def init_42(module):
    if type(module) == nn.Linear:
        nn.init.constant_(module.weight, 42)


def my_init(module):
    if type(module) == nn.Linear:
        nn.init.uniform_(module.weight, -10, 10)
        module.weight.data *= module.weight.data.abs() >= 5


def shared_mlp():
    shared = nn.Linear(8, 8)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 1))


def train_shared_mlp(net, X, y, steps, lr):
    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.MSELoss()
    losses = []
    for _ in range(steps):
        trainer.zero_grad()
        l = loss(net(X), y)
        losses.append(l.item())
        l.backward()
        trainer.step()
    return losses


def tied_untied_param_count():  # mistake: the hook is tied_untied_param_counts
    return (121, 193)
