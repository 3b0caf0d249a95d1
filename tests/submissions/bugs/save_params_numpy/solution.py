from safetensors.numpy import save_file


def save_params(net, path):
    save_file({k: v.detach().numpy() for k, v in net.state_dict().items()}, path)
