"""Session behaviour: plans per batch size, debug memory modes, no per-run allocation, threads."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest
from graph_builder import OnnxGraph

import maku


def small_mobilenet_block() -> bytes:
    b = OnnxGraph()
    stem = b.op("Relu", b.conv("x", 3, 16, stride=2))
    expand = b.op("Clip", b.conv(stem, 16, 48, k=1), b.const(np.float32(0)), b.const(np.float32(6)))
    depthwise = b.op("Relu", b.conv(expand, 48, 48, group=48))
    block = b.op("Add", b.conv(depthwise, 48, 16, k=1), stem)
    head = b.op("Flatten", b.op("GlobalAveragePool", block))
    y = b.op("Softmax", b.op("Gemm", head, b.weight(10, 16), b.weight(10), transB=1), axis=1)
    return b.model({"x": ("N", 3, 32, 32)}, [y]).SerializeToString()


MODEL = small_mobilenet_block()


def batch(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 3, 32, 32)).astype(np.float32)


def test_one_plan_per_batch_size_and_batches_agree_with_single_runs():
    s = maku.load(MODEL)
    x = batch(3)
    together = s(x)
    one_by_one = np.concatenate([s(x[i : i + 1]) for i in range(3)])
    np.testing.assert_allclose(together, one_by_one, rtol=1e-5, atol=1e-6)
    assert len(s._executors) == 2
    s(x)
    assert len(s._executors) == 2  # cached


def test_debug_memory_modes_give_identical_outputs():
    x = batch(2)
    normal = maku.load(MODEL)(x)
    no_reuse = maku.load(MODEL, reuse_memory=False)
    poisoned = maku.load(MODEL, poison_freed=True)
    np.testing.assert_array_equal(no_reuse(x), normal)
    np.testing.assert_array_equal(poisoned(x), normal)
    ex = no_reuse.executor_for({"x": x})
    assert ex.plan.memory.arena_bytes == ex.plan.memory.total_bytes


def test_planned_arena_reuses_memory_down_to_the_lower_bound():
    s = maku.load(MODEL)
    mem = s.executor_for({"x": batch(4)}).plan.memory
    assert mem.lower_bound <= mem.arena_bytes <= 1.05 * mem.lower_bound
    assert mem.arena_bytes < mem.total_bytes


def test_run_allocates_nothing_proportional_to_activations():
    s = maku.load(MODEL)
    x = batch(8)
    s(x)  # plan and prepare first
    arena = s.executor_for({"x": x}).plan.memory.arena_bytes
    tracemalloc.start()
    try:
        s(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.1 * arena, f"a run allocated {peak} bytes against an arena of {arena}"


def test_outputs_are_copies_the_caller_owns():
    s = maku.load(MODEL)
    first = s(batch(1, seed=1))
    kept = first.copy()
    s(batch(1, seed=2))
    np.testing.assert_array_equal(first, kept)


def test_concurrent_calls_from_threads_give_each_caller_its_result():
    s = maku.load(MODEL, threads=1)
    inputs = [batch(1, seed=i) for i in range(8)]
    expected = [s(x) for x in inputs]
    results: dict[int, np.ndarray] = {}

    def worker(i: int) -> None:
        for _ in range(5):
            results[i] = s(inputs[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(8):
        np.testing.assert_array_equal(results[i], expected[i])


@pytest.mark.parametrize("options", [{"backend": "tpu"}, {"threads": 0}, {"input_layout": "CHW"}])
def test_bad_session_options_are_named(options):
    with pytest.raises(maku.errors.MakuError, match=list(options)[0].replace("_", ".")):
        maku.load(MODEL, **options)
