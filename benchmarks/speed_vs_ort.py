"""maku (cpu and numpy backends) vs ONNX Runtime (and PyTorch-free) on MobileNets: latency,
load time and peak memory, side by side in one run, printing ratios (issue 5's benchmark).

    python benchmarks/speed_vs_ort.py [--quick] [--models v2,v3s,v3l] [--json out.json]

Latency: median of alternating runs after warm-up. Load: maku.load / InferenceSession plus the
first run, in a fresh process. Peak RSS: that process's high-water mark (VmHWM), batch 32.
Models declared with batch 1 get a dynamic batch for ORT (maku generalizes them itself).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("MAKU_TEST_DATA", REPO.parent / "shared" / "data"))


def model_files(tmp: Path) -> dict[str, Path]:
    """The benchmark models: shared-data ImageNet models, a random-weight V3-Large, and maku's own
    MobileNetV1-CIFAR (width 0.5, exported by maku.export)."""
    models = {
        "v2": DATA / "models/imagenet_converted/mobilenet_v2_1.0_224_fp32_from_tflite_qat.onnx",
        "v3s": DATA / "models/imagenet_converted/mobilenet_v3_small_1.0_224_fp32_from_tflite_qat.onnx",
    }
    sys.path.insert(0, str(REPO / "tests"))
    from model_builders import Style, mobilenet_v3  # the test suite's exporter-style builders

    v3l = tmp / "mobilenet_v3_large_random.onnx"
    onnx.save(mobilenet_v3(Style(opset=14, batch="N"), size="large", width=1.0, resolution=224), v3l)
    models["v3l"] = v3l
    import maku

    v1c = tmp / "mobilenet_v1_cifar_w05.onnx"
    maku.export(maku.models.mobilenet_v1_cifar(width=0.5).eval(), np.zeros((1, 32, 32, 3), np.float32), v1c)
    models["v1c"] = v1c
    return models


def with_dynamic_batch(path: Path, tmp: Path) -> Path:
    """A copy ORT runs at any batch size (maku generalizes batch-1 models itself)."""
    from maku.runtime.ort import with_dynamic_batch as dynamic

    out = tmp / f"{path.stem}_dynamic.onnx"
    onnx.save(dynamic(onnx.load(path)), out)
    return out


def make_input(path: Path, batch: int) -> np.ndarray:
    inp = onnx.load(path, load_external_data=False).graph.input[0]
    shape = [batch] + [d.dim_value for d in inp.type.tensor_type.shape.dim[1:]]
    rng = np.random.default_rng(0)
    if inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return rng.standard_normal(shape).astype(np.float32)


def runners(path: Path, ort_path: Path, threads: int) -> dict:
    import onnxruntime as ort

    import maku

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(ort_path), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    out = {"ort": lambda x: sess.run(None, {name: x})[0]}
    for backend in ("cpu", "numpy"):
        try:
            s = maku.load(path, backend=backend, threads=threads)
        except maku.errors.BackendError as exc:
            print(f"  (maku {backend} unavailable: {exc})")
            continue
        out[f"maku-{backend}"] = s
    return out


def latency(fns: dict, x: np.ndarray, runs: int) -> dict[str, float]:
    """Median seconds per runtime, runs alternating between runtimes."""
    for fn in fns.values():
        fn(x)
        fn(x)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn(x)
            times[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in times.items()}


CHILD = """
import sys, time, numpy as np
runtime, path, batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, {bench!r})
from speed_vs_ort import make_input
from pathlib import Path
x = make_input(Path(path), batch)
t = time.perf_counter()
if runtime == "ort":
    import onnxruntime as ort
    so = ort.SessionOptions(); so.intra_op_num_threads = threads
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    s.run(None, {{s.get_inputs()[0].name: x}})
else:
    import maku
    maku.load(path, backend=runtime.split("-")[1], threads=threads)(x)
load = time.perf_counter() - t
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print(load, int(hwm.split()[1]) * 1024)
"""


def fresh_process(runtime: str, path: Path, batch: int, threads: int) -> tuple[float, int]:
    """(load + first run seconds, peak RSS bytes) of a fresh process."""
    code = CHILD.format(bench=str(Path(__file__).parent))
    out = subprocess.run([sys.executable, "-c", code, runtime, str(path), str(batch), str(threads)],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs")
    ap.add_argument("--models", default="v2,v3s,v3l,v1c")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    runs = 5 if args.quick else 20
    results = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        models = model_files(tmp)
        for key in args.models.split(","):
            path = models[key]
            ort_path = with_dynamic_batch(path, tmp)
            print(f"\n{key}: {path.name}")
            for batch, threads in ((1, 1), (1, 2), (32, 2)):
                fns = runners(path, ort_path, threads)
                t = latency(fns, make_input(path, batch), runs if batch == 1 else max(3, runs // 4))
                row = {"model": key, "batch": batch, "threads": threads, **{k: v * 1e3 for k, v in t.items()}}
                ratios = "  ".join(f"{k} {v * 1e3:8.2f} ms ({v / t['ort']:.2f}x)" for k, v in t.items())
                print(f"  batch {batch:2d} threads {threads}: {ratios}")
                results.append(row)
            for runtime in ("ort", "maku-cpu", "maku-numpy"):
                load, rss = fresh_process(runtime, str(ort_path if runtime == "ort" else path), 32, 2)
                print(f"  {runtime:10s} load+first run (batch 32) {load * 1e3:8.0f} ms   peak RSS {rss / 2**20:7.0f} MiB")
                results.append({"model": key, "runtime": runtime, "load_ms": load * 1e3, "peak_rss_mib": rss / 2**20})
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
