from safetensors.torch import save_model


def save_params(net, path):
    save_model(net, path)

from safetensors.torch import load_file


def load_params(net, path):
    net.load_state_dict(load_file(path))
