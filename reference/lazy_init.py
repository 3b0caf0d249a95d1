"""5.3 Deferred initialization (reference)."""

from torch import nn


def lazy_mlp():
    return nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))


def partially_lazy_net():
    return nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.LazyLinear(10))


def mismatched_net():
    return nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(128, 10))


class VaryingInputNet(nn.Module):
    """One adapter per input width, all feeding one shared body (exercise 5.3.3)."""

    def __init__(self, in_dims, hidden, out):
        super().__init__()
        self.adapters = nn.ModuleDict({str(d): nn.Linear(d, hidden) for d in in_dims})
        self.body = nn.Sequential(nn.ReLU(), nn.Linear(hidden, out))

    def forward(self, X):
        key = str(X.shape[-1])
        if key not in self.adapters:
            raise ValueError(f"no adapter for inputs of width {X.shape[-1]}")
        return self.body(self.adapters[key](X))


def varying_input_net(in_dims, hidden, out):
    return VaryingInputNet(in_dims, hidden, out)
