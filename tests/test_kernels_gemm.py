"""maku.kernels.gemm against ONNX Runtime's Gemm and MatMul."""

from __future__ import annotations

import numpy as np
import pytest
from ort_helpers import ACTIVATIONS, assert_close, ort_activation, run_node

from maku.kernels.gemm import gemm, matmul

M, K, N = 4, 6, 5


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("c_shape", [None, (), (N,), (1, N), (M, 1), (M, N)])
def test_gemm_matches_onnxruntime(trans_a, trans_b, c_shape):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((K, M) if trans_a else (M, K), dtype=np.float32)
    b = rng.standard_normal((N, K) if trans_b else (K, N), dtype=np.float32)
    inputs = {"A": a, "B": b}
    if c_shape is not None:
        inputs["C"] = rng.standard_normal(c_shape, dtype=np.float32)
    attrs = dict(alpha=0.5, beta=2.0, transA=int(trans_a), transB=int(trans_b))
    (expected,) = run_node("Gemm", inputs, **attrs)
    out = np.empty((M, N), np.float32)
    got = gemm(a, b, inputs.get("C"), alpha=0.5, beta=2.0, trans_a=trans_a, trans_b=trans_b, out=out)
    assert got is out
    assert_close(out, expected)


@pytest.mark.parametrize("kind", list(ACTIVATIONS))
def test_gemm_fused_activation(kind):
    rng = np.random.default_rng(1)
    a, b, c = (rng.standard_normal(s, dtype=np.float32) for s in ((M, K), (K, N), (N,)))
    _, lo, hi = ACTIVATIONS[kind]
    expected = ort_activation(run_node("Gemm", {"A": a, "B": b, "C": c})[0], kind)
    assert_close(gemm(a, b, c, activation=kind, act_alpha=lo, act_beta=hi), expected)


@pytest.mark.parametrize(
    "a_shape,b_shape", [((3, 4), (4, 2)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4, 3)), ((2, 3, 4), (4,))]
)
def test_matmul_broadcasts_like_onnxruntime(a_shape, b_shape):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(a_shape, dtype=np.float32), rng.standard_normal(b_shape, dtype=np.float32)
    assert_close(matmul(a, b), run_node("MatMul", {"A": a, "B": b})[0])
