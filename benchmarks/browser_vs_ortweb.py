"""maku's wasm runtime vs onnxruntime-web, in the same headless Chromium page.

Both run the same ONNX model on the same input, single-threaded with WebAssembly SIMD
(onnxruntime-web: wasm execution provider, numThreads = 1). After warm-up runs, the page
times each runtime's runs alternately and reports medians; this script prints them, their
ratio, both outputs' agreement and both runtimes' download sizes.

    # once: npm install --prefix benchmarks/web onnxruntime-web   (node_modules is git-ignored)
    python benchmarks/browser_vs_ortweb.py [--model M.onnx] [--runs 40] [--warmup 5]

Default model: MobileNetV2 1.0/224 from the shared test data (MAKU_TEST_DATA).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from maku.cli import main as maku_cli
from maku.web.chromium import browser_context, served

HERE = Path(__file__).resolve().parent
ORT_DIST = HERE / "web" / "node_modules" / "onnxruntime-web" / "dist"
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
DATA = Path(os.environ.get("MAKU_TEST_DATA", HERE.parent.parent / "shared" / "data"))
DEFAULT_MODEL = DATA / "models" / "imagenet_converted" / "mobilenet_v2_1.0_224_fp32_from_tflite_qat.onnx"

PAGE = """<!doctype html><meta charset="utf-8"><title>maku vs onnxruntime-web</title>
<script type="module">
import * as maku from "./maku.js";
import * as ort from "./ort.wasm.min.mjs";
const RUNS = %(runs)d, WARMUP = %(warmup)d;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1;
                         return s.length %% 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
try {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = "./";
  const model = await maku.load("model.maku");
  const session = await ort.InferenceSession.create("model.onnx", { executionProviders: ["wasm"] });
  const input = model.input;
  const size = input.shape.reduce((a, b) => a * b, 1);
  const x = input.dtype === "uint8" ? Uint8Array.from({ length: size }, (_, i) => (i * 7919) %% 256)
                                    : Float32Array.from({ length: size }, (_, i) => ((i * 7919) %% 256) / 128 - 1);
  const feeds = { [session.inputNames[0]]: new ort.Tensor(input.dtype, x, input.shape) };
  const runMaku = async () => model.run(x);
  const runOrt = async () => (await session.run(feeds))[session.outputNames[0]].data;
  for (let i = 0; i < WARMUP; i++) { await runMaku(); await runOrt(); }
  const times = { maku: [], ort: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const [name, run] of [["maku", runMaku], ["ort", runOrt]]) {
      const t0 = performance.now();
      await run();
      times[name].push(performance.now() - t0);
    }
  }
  const a = await runMaku(), b = await runOrt();
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
  window.result = { maku_ms: median(times.maku), ort_ms: median(times.ort), runs: RUNS, max_abs_diff: maxAbs,
                    simd: maku.simdSupported(), cross_origin_isolated: self.crossOriginIsolated };
} catch (err) {
  window.result = { error: String(err && err.stack || err) };
}
</script>"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--runs", type=int, default=40, help="timed runs per runtime (median reported)")
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)
    missing = [f for f in ORT_FILES if not (ORT_DIST / f).exists()]
    if missing:
        print(f"onnxruntime-web is missing ({', '.join(missing)}): npm install --prefix {HERE / 'web'} onnxruntime-web")
        return 1
    with tempfile.TemporaryDirectory(prefix="maku-bench-") as tmp:
        site = Path(tmp) / "site"
        if maku_cli(["build", str(args.model), "--target", "web", "-o", str(site)]) != 0:
            return 1
        shutil.copyfile(args.model, site / "model.onnx")
        for name in ORT_FILES:
            shutil.copyfile(ORT_DIST / name, site / name)
        (site / "bench.html").write_text(PAGE % {"runs": args.runs, "warmup": args.warmup})
        with served(site) as url, browser_context() as context:
            page = context.new_page()
            page.goto(url + "bench.html")
            page.wait_for_function("window.result !== undefined", timeout=600_000)
            result = page.evaluate("window.result")
            version = page.evaluate("navigator.userAgent")
        if "error" in result:
            print(f"the benchmark page failed: {result['error']}", file=sys.stderr)
            return 1
        maku_bytes = sum((site / f).stat().st_size for f in ("maku.wasm", "maku.js"))
        ort_bytes = sum((site / f).stat().st_size for f in ORT_FILES)
        ort_version = json.loads((ORT_DIST.parent / "package.json").read_text())["version"]
    print(f"model           {args.model.name}")
    print(f"browser         {version}")
    print(f"setup           1 thread, WebAssembly SIMD {result['simd']}, cross-origin isolated "
          f"{result['cross_origin_isolated']}, median of {result['runs']} runs after {args.warmup} warm-up runs")
    print(f"maku wasm       {result['maku_ms']:8.2f} ms   runtime {maku_bytes / 1024:8.1f} KiB (maku.wasm + maku.js)")
    print(f"onnxruntime-web {result['ort_ms']:8.2f} ms   runtime {ort_bytes / 1024:8.1f} KiB "
          f"(v{ort_version}: {' + '.join(ORT_FILES)})")
    print(f"ratio           maku / ort = {result['maku_ms'] / result['ort_ms']:.2f}x latency, "
          f"{maku_bytes / ort_bytes:.3f}x size; outputs max |diff| {result['max_abs_diff']:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
