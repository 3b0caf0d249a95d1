from torch import nn

from lib.shapes import WIDTH


def block1():
    return nn.Sequential(nn.Linear(4, WIDTH), nn.ReLU(), nn.Linear(WIDTH, 4), nn.ReLU())
