import torch


def save_checkpoint(net, optimizer, epoch, path):
    torch.save({"net": net.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, path)


def load_checkpoint(path, net, optimizer):
    checkpoint = torch.load(path, weights_only=True)
    net.load_state_dict(checkpoint["net"])
    return checkpoint["epoch"]
