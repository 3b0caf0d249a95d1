from safetensors.torch import save_file


def save_params(net, path):
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, path)
