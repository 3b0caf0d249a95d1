"""5.5 File I/O, correct but written unlike the reference: safetensors through bytes and
``safe_open``, ties removed by hand, per-layer ``load_state_dict``, TorchScript for whole models,
and a checkpoint that is itself a safetensors file (optimizer tensors flattened, the rest in its
metadata)."""

import json
import warnings

import torch
from safetensors import safe_open
from safetensors.torch import save, save_file


def save_tensors(tensors, path):
    with open(path, "wb") as f:
        f.write(save({name: t.contiguous() for name, t in tensors.items()}))


def load_tensors(path):
    with safe_open(path, framework="pt") as f:
        return {name: f.get_tensor(name) for name in f.keys()}


def _one_name_per_storage(state):
    """``state`` without the later names of tensors sharing memory (safetensors refuses those)."""
    seen, kept = set(), {}
    for name, t in state.items():
        key = (t.device, t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if key[1] and key in seen:
            continue
        seen.add(key)
        kept[name] = t.detach().cpu().contiguous()
    return kept


def save_params(net, path):
    save_file(_one_name_per_storage(net.state_dict()), path)


def load_params(net, path):
    targets = dict(net.named_parameters(remove_duplicate=False))
    targets.update(net.named_buffers(remove_duplicate=False))
    with safe_open(path, framework="pt") as f, torch.no_grad():
        for name in f.keys():
            targets[name].copy_(f.get_tensor(name))


def reuse_first_two_layers(old, new):
    def linears(net):
        return [m for m in net.modules() if isinstance(m, torch.nn.Linear)][:2]

    for src, dst in zip(linears(old), linears(new)):
        dst.load_state_dict(src.state_dict())  # copies into dst's own Parameters
    return new


def save_model_file(net, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(net), path)


def load_model_file(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(path)


def save_checkpoint(net, optimizer, epoch, path):
    tensors = {f"net/{k}": v for k, v in _one_name_per_storage(net.state_dict()).items()}
    opt = optimizer.state_dict()
    scalars = {}
    for index, state in opt["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer/{index}/{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}/{key}"] = value
    metadata = {"epoch": str(epoch), "param_groups": json.dumps(opt["param_groups"]), "scalars": json.dumps(scalars)}
    save_file(tensors, path, metadata=metadata)


def load_checkpoint(path, net, optimizer):
    state, net_state = {}, {}
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
        for name in f.keys():
            kind, _, rest = name.partition("/")
            if kind == "net":
                net_state[rest] = f.get_tensor(name)
            else:
                index, _, key = rest.partition("/")
                state.setdefault(int(index), {})[key] = f.get_tensor(name)
    for name, value in json.loads(metadata["scalars"]).items():
        index, _, key = name.partition("/")
        state.setdefault(int(index), {})[key] = value
    net.load_state_dict(net_state, strict=False)
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(metadata["param_groups"])})
    return int(metadata["epoch"])
