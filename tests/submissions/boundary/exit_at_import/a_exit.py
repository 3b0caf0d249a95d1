"""Ends the worker while being imported; its hook is an error, the other module is graded."""

import os

from torch import nn


def mlp():
    return nn.Linear(20, 10)


os._exit(0)
