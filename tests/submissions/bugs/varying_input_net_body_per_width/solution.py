from torch import nn


class VaryingInputNet(nn.Module):
    def __init__(self, in_dims, hidden, out):
        super().__init__()
        self.nets = nn.ModuleDict(
            {str(d): nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, out)) for d in in_dims}
        )

    def forward(self, X):
        key = str(X.shape[-1])
        if key not in self.nets:
            raise ValueError(f"unknown width {key}")
        return self.nets[key](X)


def varying_input_net(in_dims, hidden, out):
    return VaryingInputNet(in_dims, hidden, out)
