"""The comparison's verdict is torch.testing.assert_close's: ``compare.close`` computes it without
calling assert_close for dense tensors (grader/trusted/compare.py says why), so it is checked here
against assert_close itself, on values chosen to sit on either side of the tolerance."""

from __future__ import annotations

import math

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given, settings

from grader.trusted.compare import close, default_tolerance, mismatch

DTYPES = [
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
    torch.complex64,
    torch.complex128,
    torch.int8,
    torch.uint8,
    torch.int64,
    torch.bool,
]
SPECIALS = [0.0, -0.0, 1.0, -1.0, 1e-5, 1e-7, 3.0, math.inf, -math.inf, math.nan, 1e30]


def assert_close_verdict(a: torch.Tensor, e: torch.Tensor, rtol: float, atol: float) -> bool:
    try:
        torch.testing.assert_close(a, e, rtol=rtol, atol=atol, allow_subclasses=False, equal_nan=False)
        return True
    except AssertionError:
        return False


@st.composite
def pairs(draw):
    dtype = draw(st.sampled_from(DTYPES))
    n = draw(st.integers(0, 6))
    values = st.one_of(st.sampled_from(SPECIALS), st.floats(-1e3, 1e3, allow_nan=False))
    e = [draw(values) for _ in range(n)]
    # actual = expected nudged by steps around the tolerance, or an unrelated value
    nudges = st.one_of(st.just(0.0), st.sampled_from([1e-7, -1e-6, 1e-5, 2e-5, 1e-3, 0.5]), st.sampled_from(SPECIALS))
    a = [x + d if draw(st.booleans()) else d for x, d in zip(e, [draw(nudges) for _ in range(n)])]
    rtol, atol = draw(
        st.one_of(
            st.just(default_tolerance(dtype)),
            st.tuples(st.sampled_from([0.0, 1e-7, 1.3e-6, 1e-3, 0.1]), st.sampled_from([0.0, 1e-7, 1e-5, 1e-3, 1.0])),
        )
    )

    def tensor(xs):
        t = torch.tensor(xs, dtype=torch.float64)
        if dtype == torch.bool:
            return t.nan_to_num(0.0) != 0
        if not (dtype.is_floating_point or dtype.is_complex):
            info = torch.iinfo(dtype)
            return t.nan_to_num(0.0, posinf=info.max, neginf=info.min).clamp(info.min, info.max).round().to(dtype)
        return t.to(dtype)

    return tensor(a), tensor(e), rtol, atol


@settings(max_examples=400, deadline=None)
@given(pairs())
def test_close_is_assert_close(pair):
    a, e, rtol, atol = pair
    assert close(a, e, rtol, atol) == assert_close_verdict(a, e, rtol, atol)
    assert (mismatch(a, e, rtol, atol) is None) == assert_close_verdict(a, e, rtol, atol)


def test_close_of_non_dense_tensors_is_assert_close():
    # Sparse tensors take assert_close itself (the fallback path).
    e = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    assert close(e.to_sparse(), e.to_sparse(), 1e-6, 1e-6)
    assert not close((e + 1).to_sparse(), e.to_sparse(), 1e-6, 1e-6)


@pytest.mark.parametrize("nudge, verdict", [(0.0, True), (5e-6, True), (1e-3, False)])
def test_mismatch_message_never_shows_the_expected_values(nudge, verdict):
    e = torch.tensor([0.123456, 7.654321])
    text = mismatch(e + nudge, e)
    assert (text is None) == verdict
    if text is not None:
        assert "differs in 2 of 2 elements" in text and "0.123" not in text and "7.65" not in text
