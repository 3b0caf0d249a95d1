from safetensors.torch import save_file


def save_params(net, path):
    save_file({k: v.detach().contiguous() for k, v in net.named_parameters()}, path)
