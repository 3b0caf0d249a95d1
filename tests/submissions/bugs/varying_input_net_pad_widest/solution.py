from torch import nn
from torch.nn import functional as F


class VaryingInputNet(nn.Module):
    def __init__(self, in_dims, hidden, out):
        super().__init__()
        self.widest = max(in_dims)
        self.adapters = nn.ModuleDict({str(d): nn.Linear(d, hidden) for d in in_dims})
        self.body = nn.Sequential(nn.ReLU(), nn.Linear(hidden, out))

    def forward(self, X):
        if str(X.shape[-1]) not in self.adapters:
            raise ValueError(f"unknown width {X.shape[-1]}")
        X = F.pad(X, (0, self.widest - X.shape[-1]))
        return self.body(self.adapters[str(self.widest)](X))


def varying_input_net(in_dims, hidden, out):
    return VaryingInputNet(in_dims, hidden, out)
