"""Tests of maku.plan.memory: liveness, in-place chains and arena offsets.

Hand-written graphs use a tiny notation, one step per line: "c = add(a, b)". Names missing from
`sizes` are weights (not planned). Elementwise ops (relu, neg, add, mul) offer every input as an
in-place candidate. Each case states the placement order in a comment and asserts exact offsets,
as TFLite's arena planner tests do. Randomized DAGs are executed inside one arena at the planned
offsets (with freed tensors poisoned by NaN) and compared with a run on fresh arrays.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maku.errors import PlanError
from maku.plan.memory import (
    MemoryPlan,
    TensorLife,
    check_no_overlap,
    compute_lifetimes,
    dead_after,
    plan_memory,
)

ELEMENTWISE = {"relu", "neg", "add", "mul"}


def parse(program: str) -> tuple[list[tuple[list[str], list[str]]], dict[int, list[tuple[str, str]]]]:
    """'b, c = op(a, w)' lines -> steps and in-place candidates (each input of an elementwise op)."""
    steps, candidates = [], {}
    for i, line in enumerate(program.strip().splitlines()):
        outs, op, args = re.fullmatch(r"\s*(.+?)\s*=\s*(\w+)\((.*)\)\s*", line).groups()
        inputs = [a.strip() for a in args.split(",") if a.strip()]
        outputs = [o.strip() for o in outs.split(",")]
        steps.append((inputs, outputs))
        if op in ELEMENTWISE:
            candidates[i] = [(outputs[0], x) for x in inputs]
    return steps, candidates


def plan(program: str, sizes: dict[str, int], inputs: list[str], outputs: list[str], **kw):
    """Lifetimes and a checked plan of a program in the notation."""
    steps, candidates = parse(program)
    lives = compute_lifetimes(steps, inputs, outputs, sizes, candidates)
    memory_plan = plan_memory(lives, **kw)
    check_no_overlap(lives, memory_plan)
    return {life.name: life for life in lives}, memory_plan


def test_chain():
    # Lives: x -1..3, a 0..1, b 1..2, c 2..3. Placed largest first, ties by first step:
    # a(128) at 0; b(128) overlaps a -> end 128; x(64) overlaps a, b -> 256;
    # c(64) overlaps b and x, not a: the gap [0, 128) fits -> 0 (a's memory).
    sizes = {"x": 64, "a": 128, "b": 128, "c": 64}
    lives, p = plan("a = op(x)\nb = op(a)\nc = op(b)", sizes, ["x"], ["c"])
    assert [(lives[n].first, lives[n].last) for n in "xabc"] == [(-1, 3), (0, 1), (1, 2), (2, 3)]
    assert p.offsets == {"a": 0, "b": 128, "x": 256, "c": 0}
    assert (p.arena_bytes, p.total_bytes, p.lower_bound) == (320, 384, 320)


def test_diamond():
    # Lives: x -1..4, a 0..2, b 1..3, c 2..3, d 3..4; add(b, c) has no in-place pair (sizes differ).
    # b(128) at 0; c(128) overlaps b -> 128; x -> 256; a overlaps b, c, x -> 320;
    # d overlaps b, c, x but not a (dead after step 2) -> 320, a's memory.
    sizes = {"x": 64, "a": 64, "b": 128, "c": 128, "d": 64}
    program = """
        a = op(x)
        b = op(a)
        c = op(a)
        d = add(b, c)
    """
    lives, p = plan(program, sizes, ["x"], ["d"])
    assert lives["d"].inplace_of is None
    assert p.offsets == {"b": 0, "c": 128, "x": 256, "a": 320, "d": 320}
    assert (p.arena_bytes, p.total_bytes, p.lower_bound) == (384, 448, 384)


def test_mobilenetv2_residual_block():
    # Inverted residual: expand e and depthwise d are 4x the block input x; y = p + x in place of p
    # (its first input; x is then refused, y is taken). Blocks: inp -1..6, x 0..4, e 1..2, d 2..3,
    # {p, y} 3..5, out 5..6. e(256) at 0; d overlaps e -> 256; inp -> 512; x -> 576;
    # {p, y} overlaps d, inp, x, not e: gap [0, 256) -> 0; out overlaps inp and {p, y}:
    # gap [64, 512) -> 64.
    sizes = {"inp": 64, "x": 64, "e": 256, "d": 256, "p": 64, "y": 64, "out": 64}
    program = """
        x = conv(inp, w0)
        e = conv(x, w1)
        d = dwconv(e, w2)
        p = conv(d, w3)
        y = add(p, x)
        out = conv(y, w4)
    """
    lives, p = plan(program, sizes, ["inp"], ["out"])
    assert lives["y"].inplace_of == "p"
    assert p.offsets == {"e": 0, "d": 256, "inp": 512, "x": 576, "p": 0, "y": 0, "out": 64}
    assert (p.arena_bytes, p.total_bytes, p.lower_bound) == (640, 768, 640)
    assert dead_after(list(lives.values()), 6) == [[], [], ["e"], ["d"], ["x"], ["y"]]


INPLACE_CHAIN = """
    x = conv(inp, w0)
    w = conv(inp, w1)
    y = relu(x)
    z = add(y, w)
    out = conv(z, w2)
"""
INPLACE_SIZES = {"inp": 128, "x": 128, "w": 128, "y": 128, "z": 128, "out": 64}


def test_inplace_chain():
    # y = relu(x) over x, then z = add(y, w) over y: one block {x, y, z} living 0..4.
    # inp(128) at 0; {x, y, z} -> 128; w overlaps both -> 256; out (4..5) overlaps inp and the chain,
    # not w (dead after step 3) -> 256.
    lives, p = plan(INPLACE_CHAIN, INPLACE_SIZES, ["inp"], ["out"])
    assert (lives["y"].inplace_of, lives["z"].inplace_of) == ("x", "y")
    assert p.offsets == {"inp": 0, "x": 128, "y": 128, "z": 128, "w": 256, "out": 256}
    assert (p.arena_bytes, p.total_bytes, p.lower_bound) == (384, 448, 384)
    # x and y are taken over by y and z, so only w and z are free to poison.
    assert dead_after(list(lives.values()), 5) == [[], [], [], ["w"], ["z"]]


def test_no_reuse_gives_every_tensor_its_own_region():
    # Schedule order, in-place chains split: inp, x, w, y, z (128 each), out (64). Without the chain
    # the lower bound is per tensor: inp, w, y, z are live at step 3.
    lives, p = plan(INPLACE_CHAIN, INPLACE_SIZES, ["inp"], ["out"], reuse=False)
    assert p.offsets == {"inp": 0, "x": 128, "w": 256, "y": 384, "z": 512, "out": 640}
    assert (p.arena_bytes, p.total_bytes, p.lower_bound) == (704, 704, 512)


def test_graph_outputs_and_inputs_are_never_reused():
    # a = relu(inp) may not overwrite the graph input; b = relu(a) may not overwrite graph output a.
    # All 64 bytes; lives inp -1..4, a 0..4, b 1..2, c 2..3, d 3..4. inp 0, a 64, b 128;
    # c overlaps inp, a, b -> 192; d overlaps inp, a, c, not b -> 128.
    sizes = dict.fromkeys(["inp", "a", "b", "c", "d"], 64)
    program = "a = relu(inp)\nb = relu(a)\nc = op(b)\nd = op(c)"
    lives, p = plan(program, sizes, ["inp"], ["a", "d"])
    assert lives["a"].inplace_of is None and lives["b"].inplace_of is None
    assert lives["a"].last == 4
    assert p.offsets == {"inp": 0, "a": 64, "b": 128, "c": 192, "d": 128}


def test_graph_output_may_be_written_in_place():
    # y is a graph output written over intermediate x: the block {x, y} lives 0..2.
    sizes = {"inp": 64, "x": 64, "y": 64}
    lives, p = plan("x = op(inp)\ny = relu(x)", sizes, ["inp"], ["y"])
    assert lives["y"].inplace_of == "x" and p.offsets["x"] == p.offsets["y"] == 64
    assert p.arena_bytes == 128


def test_inplace_refused_when_input_is_read_later_or_size_differs():
    sizes = {"inp": 64, "x": 64, "y": 64, "z": 64, "s": 128, "t": 64}
    program = """
        x = op(inp)
        y = relu(x)
        z = add(x, y)
        s = op(z)
        t = neg(s)
    """
    lives, _ = plan(program, sizes, ["inp"], ["t", "z"])
    assert lives["y"].inplace_of is None  # x is read again by step 2
    assert lives["z"].inplace_of == "x"  # z's first candidate whose last reader is step 2
    assert lives["t"].inplace_of is None  # s is 128 bytes, t 64


def test_one_input_is_taken_over_by_one_output_only():
    steps = [(["inp"], ["a"]), (["a"], ["p", "q"])]
    sizes = dict.fromkeys(["inp", "a", "p", "q"], 64)
    lives = compute_lifetimes(steps, ["inp"], ["p", "q"], sizes, {1: [("p", "a"), ("q", "a")]})
    assert [life.inplace_of for life in lives] == [None, None, "a", None]


def test_unread_tensor_occupies_memory_at_its_step_and_weights_are_not_planned():
    # u is never read: it lives 1..1, overlapping a (0..2) but not b (2..3), so b takes u's memory.
    # a(128) at 0; inp (64, first -1) overlaps a -> 128; u overlaps a, inp -> 192;
    # b overlaps a and inp, not u -> 192, u's memory.
    sizes = {"inp": 64, "a": 128, "u": 64, "b": 64}
    lives, p = plan("a = op(inp, w)\nu = op(a)\nb = op(a, w, bias)", sizes, ["inp"], ["b"])
    assert (lives["u"].first, lives["u"].last) == (1, 1)
    assert set(lives) == set(sizes)
    assert p.offsets == {"a": 0, "inp": 128, "u": 192, "b": 192}


def test_sizes_and_offsets_are_aligned():
    # 10 bytes -> 64, 100 -> 128. y(128) at 0; x(64) overlaps y -> 128.
    _, p = plan("y = op(x)", {"x": 10, "y": 100}, ["x"], ["y"])
    assert p.offsets == {"y": 0, "x": 128} and p.arena_bytes == 192
    _, p = plan("y = op(x)", {"x": 10, "y": 100}, ["x"], ["y"], alignment=16)
    assert p.offsets == {"y": 0, "x": 112} and p.arena_bytes == 128


def test_empty_plan_and_report():
    p = plan_memory([])
    assert (p.offsets, p.arena_bytes, p.total_bytes, p.lower_bound) == ({}, 0, 0, 0)
    _, p = plan(INPLACE_CHAIN, INPLACE_SIZES, ["inp"], ["out"])
    assert p.report() == "arena 384 B (1.00x the lower bound 384 B; 1.17x smaller than no reuse, 448 B)"


ONE_STEP = [(["x"], ["y"])]  # y = op(x)


@pytest.mark.parametrize(
    "steps, nbytes, inputs, message",
    [
        (ONE_STEP, {"x": 64, "y": -4}, ["x"], "'y' has a negative size"),
        ([(["x", "ghost"], ["y"])], {"x": 64, "ghost": 64, "y": 64}, ["x"], "step 0 reads tensor 'ghost'"),
        (
            [(["x", "z"], ["y"]), (["x"], ["z"])],
            {"x": 64, "y": 64, "z": 64},
            ["x"],
            "step 0 reads tensor 'z'",
        ),
        (
            [(["x"], ["y"]), (["x"], ["y"])],
            {"x": 64, "y": 64},
            ["x"],
            "'y' is written twice: by step 0 and by step 1",
        ),
        (ONE_STEP, {"x": 64, "y": 64}, ["x", "y"], "'y' is written twice: by a graph input and by step 0"),
        (
            ONE_STEP,
            {"x": 64, "y": 64},
            ["x", "x"],
            "'x' is written twice: by a graph input and by a graph input",
        ),
        (ONE_STEP, {"x": 64, "y": 64}, [], "step 0 reads tensor 'x'"),
    ],
)
def test_errors_name_the_tensor(steps, nbytes, inputs, message):
    with pytest.raises(PlanError, match=message):
        compute_lifetimes(steps, inputs, ["y"], nbytes)


def test_unwritten_graph_output_is_an_error():
    with pytest.raises(PlanError, match="graph output 'z' is not written by any step"):
        compute_lifetimes(ONE_STEP, ["x"], ["y", "z"], {"x": 64, "y": 64, "z": 64})


def test_bad_inplace_link_is_refused():
    lives = [TensorLife("a", 64, 0, 1), TensorLife("b", 128, 1, 2, inplace_of="a")]
    with pytest.raises(PlanError, match="'b' is in place of 'a'"):
        plan_memory(lives)
    cycle = [TensorLife("a", 64, 0, 1, inplace_of="b"), TensorLife("b", 64, 1, 2, inplace_of="a")]
    with pytest.raises(PlanError, match="not an earlier tensor"):
        plan_memory(cycle)


def test_check_no_overlap_catches_shared_live_bytes():
    lives = [TensorLife("a", 64, 0, 2), TensorLife("b", 64, 1, 3), TensorLife("c", 64, 3, 4)]
    check_no_overlap(lives, MemoryPlan({"a": 0, "b": 64, "c": 0}, 128, 192, 128))
    with pytest.raises(PlanError, match="'a' .* and 'b' .* share arena bytes"):
        check_no_overlap(lives, MemoryPlan({"a": 0, "b": 0, "c": 64}, 128, 192, 128))
    with pytest.raises(PlanError, match="'c' has no valid arena offset"):
        check_no_overlap(lives, MemoryPlan({"a": 0, "b": 64, "c": 128}, 128, 192, 128))


# Randomized DAGs: executed in one arena versus fresh arrays.

SIZES = [1, 3, 16, 17, 40]  # float32 elements: some below, at and above the 64-byte alignment
WEIGHT = np.float32(0.5)  # "scale" multiplies by this constant, a name the planner never sees


@st.composite
def random_graphs(draw):
    """A random DAG of elementwise and size-changing ops over float32 vectors."""
    n_inputs = draw(st.integers(1, 3))
    sizes = {f"in{k}": draw(st.sampled_from(SIZES)) for k in range(n_inputs)}
    program = []  # (op, output, inputs)
    for i in range(draw(st.integers(1, 25))):
        op = draw(st.sampled_from(["relu", "neg", "add", "mul", "scale", "cat", "half"]))
        a = draw(st.sampled_from(sorted(sizes)))
        if op in ("add", "mul"):
            inputs = [a, draw(st.sampled_from(sorted(n for n in sizes if sizes[n] == sizes[a])))]
        elif op == "cat" and (fits := sorted(n for n in sizes if sizes[n] + sizes[a] <= 64)):
            inputs = [a, draw(st.sampled_from(fits))]
        else:
            op = "half" if op == "cat" else op  # nothing small enough to concatenate with
            inputs = [a, "weight"] if op == "scale" else [a]
        size = (
            sizes[a] + sizes[inputs[1]] if op == "cat" else (sizes[a] + 1) // 2 if op == "half" else sizes[a]
        )
        program.append((op, f"t{i}", inputs))
        sizes[f"t{i}"] = size
    outputs = sorted({program[-1][1], *draw(st.lists(st.sampled_from(sorted(sizes)), max_size=3))})
    return program, sizes, [f"in{k}" for k in range(n_inputs)], outputs


def execute(program, sizes, feeds, outputs, alloc, dead=None):
    """Run `program` writing each tensor into `alloc(name, n)`; poison `dead[i]` with NaN after step i."""
    env = {"weight": WEIGHT}
    for name, value in feeds.items():
        env[name] = alloc(name, sizes[name])
        env[name][:] = value
    for i, (op, out, inputs) in enumerate(program):
        o, args = alloc(out, sizes[out]), [env[n] for n in inputs]
        if op == "relu":
            np.maximum(args[0], 0, out=o)
        elif op == "neg":
            np.negative(args[0], out=o)
        elif op in ("add", "mul", "scale"):
            (np.add if op == "add" else np.multiply)(args[0], args[1], out=o)
        elif op == "cat":
            np.concatenate(args, out=o)
        else:
            o[:] = args[0][: len(o)]
        env[out] = o
        for name in dead[i] if dead else []:
            env[name][:] = np.nan
    return {name: env[name].copy() for name in outputs}


@settings(max_examples=300, deadline=None)
@given(random_graphs(), st.integers(0, 2**32 - 1), st.booleans())
def test_random_dags_run_in_the_arena_as_on_fresh_arrays(graph, seed, reuse):
    program, sizes, inputs, outputs = graph
    rng = np.random.default_rng(seed)
    feeds = {name: rng.uniform(-2, 2, sizes[name]).astype(np.float32) for name in inputs}
    steps = [(ins, [out]) for _, out, ins in program]
    # Every op offers its inputs; the planner must refuse cat and half by size (half of 1 element is safe).
    candidates = {i: [(out, x) for x in ins] for i, (_, out, ins) in enumerate(program)}
    nbytes = {name: 4 * n for name, n in sizes.items()}
    lives = compute_lifetimes(steps, inputs, outputs, nbytes, candidates)
    p = plan_memory(lives, reuse=reuse)
    check_no_overlap(lives, p)
    assert p.lower_bound <= p.arena_bytes <= p.total_bytes <= sum(-(-b // 64) * 64 for b in nbytes.values())
    for life in lives:
        if life.inplace_of and reuse:
            assert p.offsets[life.name] == p.offsets[life.inplace_of]

    arena = np.full(p.arena_bytes // 4, np.nan, np.float32)
    in_arena = execute(
        program,
        sizes,
        feeds,
        outputs,
        lambda name, n: arena[p.offsets[name] // 4 :][:n],
        dead_after(lives, len(steps)),
    )
    fresh = execute(program, sizes, feeds, outputs, lambda name, n: np.empty(n, np.float32))
    for name in outputs:
        np.testing.assert_array_equal(in_arena[name], fresh[name], err_msg=name)
