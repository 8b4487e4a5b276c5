"""Training throughput: maku vs PyTorch CPU (when installed), images/s of SGD steps on the CIFAR
MobileNetV1 (random data, batch 128 by default), with the same number of threads, in one run.
The frameworks' steps alternate, so on a shared machine all see the same load.

    python benchmarks/train_throughput.py [--width 1.0] [--batch 128] [--threads 2] [--steps 5]

PyTorch trains an NCHW twin of the same maku model (same weights), so both do the same work.
When maku's C kernels are available, "maku numpy" is maku with training's depthwise convs and
BatchNorm on the NumPy kernels (maku.nn.native_dispatch.use_native_kernels = False), i.e. before
the C training kernels.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from maku import nn, optim
from maku.backends import native
from maku.cli.train import keep_freed_memory
from maku.models import mobilenet_v1_cifar
from maku.nn import native_dispatch
from maku.tensor import Tensor


def time_alternating(steps: dict, warmup: int, repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each step function, calling them in turn `repeats` times after warm-up."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return times


def maku_step(model, images: np.ndarray, labels: np.ndarray):
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = Tensor(images)

    def step() -> None:
        loss = nn.functional.cross_entropy(model(x), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def on_numpy_kernels(step):
    """`step` with training's depthwise convs and BatchNorm on the NumPy kernels, not the C ones."""

    def numpy_step() -> None:
        native_dispatch.use_native_kernels = False
        try:
            step()
        finally:
            native_dispatch.use_native_kernels = True

    return numpy_step


def torch_step(model, images: np.ndarray, labels: np.ndarray):
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    from make_training_references import torch_copy_of_sequential_maku_model

    twin = torch_copy_of_sequential_maku_model(model).train()
    opt = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
    y = torch.from_numpy(labels)

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(twin(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    keep_freed_memory()
    model = mobilenet_v1_cifar(10, args.width)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((args.batch, 32, 32, 3)).astype(np.float32)
    labels = rng.integers(0, 10, args.batch)
    print(
        f"MobileNetV1-CIFAR width {args.width}, batch {args.batch}, {args.threads} threads, "
        f"median of {args.steps} steps after {args.warmup} warm-up"
    )
    steps = {"maku": maku_step(model, images, labels)}
    if native.available():
        steps["maku numpy"] = on_numpy_kernels(maku_step(model, images, labels))
    try:
        import torch

        torch.set_num_threads(args.threads)
        steps["pytorch"] = torch_step(model, images, labels)
    except ImportError:
        pass
    with threadpool_limits(limits=args.threads):  # torch has its own pool; this limits numpy's BLAS
        times = time_alternating(steps, args.warmup, args.steps)
    rates = {name: args.batch / statistics.median(t) for name, t in times.items()}
    for name, rate in rates.items():
        print(f"  {name:13s} {rate:8.1f} images/s  {1000 * statistics.median(times[name]):7.1f} ms/step")
    if "maku numpy" in rates:
        print(f"  maku / maku numpy = {rates['maku'] / rates['maku numpy']:.2f}")
    if "pytorch" in rates:
        print(f"  maku / pytorch = {rates['maku'] / rates['pytorch']:.2f}")
    else:
        print("  (PyTorch not installed: no ratio)")


if __name__ == "__main__":
    main()
