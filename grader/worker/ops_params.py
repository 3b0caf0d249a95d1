"""Worker operations for 5.2 Parameter management.

``net_apply``: build the net the grader described, seed torch's RNG, run ``net.apply(hook)``
exactly as the book uses an init function, and report the parameters and buffers afterwards,
with which Parameter objects survived (an init must work in place).
"""

from __future__ import annotations

from typing import Any

import torch

from . import observe
from .serve import operation
from .wire import Encoder


@operation("net_apply")
def net_apply(session: Any, req: dict, tensors: dict, enc: Encoder) -> dict:
    args = session.args(req, tensors)
    net = args["net"]
    fn = session.hook(req["hook"])
    before = dict(observe.named_parameters(net, remove_duplicate=False))
    # Seeded from the request, so a random init (and the grader's verdict on it) is reproducible.
    torch.default_generator.manual_seed(int(req.get("seed") or 0))
    returned = net.apply(fn)
    after = dict(observe.named_parameters(net, remove_duplicate=False))
    return {
        "summary": observe.summarize(net, enc, values=True),
        "kept": {name: after.get(name) is p for name, p in before.items()},
        "returned_net": returned is net,
    }
