import torch
from torch import nn


def train_shared_mlp(net, X, y, steps, lr):
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(net(X), y)
        losses.append(loss.detach())
        loss.backward()
        optimizer.step()
    return losses
