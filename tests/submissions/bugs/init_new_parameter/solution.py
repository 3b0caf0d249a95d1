import torch
from torch import nn


def init_normal(module):
    if type(module) == nn.Linear:
        module.weight = nn.Parameter(torch.randn_like(module.weight) * 0.01)
        module.bias = nn.Parameter(torch.zeros_like(module.bias))


def init_constant(module):
    if type(module) == nn.Linear:
        module.weight = nn.Parameter(torch.ones_like(module.weight))
        module.bias = nn.Parameter(torch.zeros_like(module.bias))


def init_xavier(module):
    if type(module) == nn.Linear:
        w = torch.empty_like(module.weight)
        nn.init.xavier_uniform_(w)
        module.weight = nn.Parameter(w)


def init_42(module):
    if type(module) == nn.Linear:
        module.weight = nn.Parameter(torch.full_like(module.weight, 42.0))


def my_init(module):
    if type(module) == nn.Linear:
        w = torch.empty_like(module.weight).uniform_(-10, 10)
        module.weight = nn.Parameter(w * (w.abs() >= 5))
