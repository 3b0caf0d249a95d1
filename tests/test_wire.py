"""The worker channel's tensor blob: the safetensors file ``safetensors.torch.save`` would write,
byte for byte, written without its per-tensor detour through numpy (``wire.pack_tensors``)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save

from grader.worker.wire import SAFE_DTYPES, Encoder, decode, pack_tensors, unpack_tensors

REAL_DTYPES = [d for d in SAFE_DTYPES.values() if not d.is_complex]


@st.composite
def tensor_dicts(draw) -> dict[str, torch.Tensor]:
    out = {}
    for i in range(draw(st.integers(1, 6))):
        dtype = draw(st.sampled_from(REAL_DTYPES))
        shape = draw(st.lists(st.integers(0, 5), max_size=3))  # [] is a scalar; a 0 makes it empty
        g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
        if dtype.is_floating_point:
            t = (torch.randn(shape, generator=g) * 100).to(dtype)
        else:
            t = torch.randint(0, 100, shape, generator=g).to(dtype)
        out[draw(st.sampled_from(["w", "bias", "t", "x.y", "0"])) + str(i)] = t
    return out


@settings(max_examples=200, deadline=None)
@given(tensor_dicts())
def test_the_blob_is_what_safetensors_writes(tensors):
    blob = pack_tensors(tensors)
    assert blob == save(tensors)
    back = unpack_tensors(blob)
    assert back.keys() == tensors.keys()
    for k, t in tensors.items():
        assert back[k].dtype == t.dtype and back[k].shape == t.shape
        assert torch.equal(back[k], t)


def test_a_tensor_safetensors_refuses_is_refused_as_safetensors_does():
    with pytest.raises(ValueError, match="non contiguous"):
        pack_tensors({"t": torch.arange(6.0).reshape(2, 3).t()})


def test_values_the_encoder_copies_travel_whole():
    """The encoder's copies (complex as real pairs, views made contiguous, bytes) go through the
    fast path and come back equal."""
    z = torch.randn(3, dtype=torch.complex64)
    view = torch.arange(12.0).reshape(3, 4).t()
    enc = Encoder()
    body = enc.encode({"z": z, "view": view, "raw": b"\x00\x01\xff", "empty": torch.zeros(0, 2)})
    tensors = unpack_tensors(enc.blob())
    out = decode(body, tensors)
    assert torch.equal(out["z"], z) and torch.equal(out["view"], view)
    assert out["raw"] == b"\x00\x01\xff" and out["empty"].shape == (0, 2)
