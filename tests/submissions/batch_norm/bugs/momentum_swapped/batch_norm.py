import torch
from torch import nn


class BatchNorm(nn.Module):
    def __init__(self, num_features, momentum):
        super().__init__()
        self.momentum = momentum
        self.eps = 1e-5
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, X):
        if self.training:
            n = X.shape[0]
            mean = X.mean(dim=0)
            var = X.var(dim=0, unbiased=False)
            with torch.no_grad():
                self.running_mean.mul_(self.momentum).add_((1 - self.momentum) * mean)  # BUG: momentum swapped
                self.running_var.mul_(self.momentum).add_((1 - self.momentum) * var * n / (n - 1))
        else:
            mean, var = self.running_mean, self.running_var
        return (X - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


def batch_norm(num_features, momentum):
    return BatchNorm(num_features, momentum)
