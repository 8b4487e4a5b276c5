"""maku.js under Node: the same outputs as the Python wasm backend, the same pixels as Pillow,
clear errors for corrupted files, and `maku build --target web` refusing what it cannot run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from model_builders import Style, mobilenet_v2
from PIL import Image
from test_op_tables import TABLE

import maku
from maku.cli import main as cli_main
from maku.cli.build import compile_model
from maku.cli.serve import make_server
from maku.errors import UnsupportedOpError
from maku.runtime.preprocess import InputSpec, center_crop, encode, resize_size
from maku.web.site import build_site

MAKU_JS = Path(maku.__file__).parent / "web" / "maku.js"


def node() -> str:
    path = shutil.which("node")
    if path is None:
        message = "node is needed to test maku.js (apt-get install -y nodejs)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_js(tmp_path: Path, body: str) -> str:
    """Runs an ES module with `maku` (maku.js) and `fs` imported; returns its stdout."""
    script = tmp_path / "script.mjs"
    script.write_text(f'import * as maku from "{MAKU_JS.as_uri()}";\nimport fs from "fs";\n{body}\n')
    done = subprocess.run([node(), str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A web build of a small MobileNetV2 (random weights, 64x64 input)."""
    out = tmp_path_factory.mktemp("site")
    model = out / "mobilenet.onnx"
    model.write_bytes(mobilenet_v2(Style(batch=1), width=0.35, resolution=64, classes=10).SerializeToString())
    assert cli_main(["build", str(model), "--target", "web", "-o", str(out / "web")]) == 0
    return out / "web"


def test_site_has_every_file(site):
    assert sorted(p.name for p in site.iterdir()) == ["index.html", "labels.json", "maku.js", "maku.wasm", "model.maku"]
    assert len(json.loads((site / "labels.json").read_text())) == 10


def test_serve_sends_wasm_type_and_isolation_headers(site):
    server = make_server(site, port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://{host}:{port}/maku.wasm") as response:
            assert response.headers["Content-Type"] == "application/wasm"
            assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
            assert response.read() == (site / "maku.wasm").read_bytes()
    finally:
        server.shutdown()
        server.server_close()


def test_js_run_equals_the_python_wasm_backend(site, tmp_path):
    session = maku.load(str(site / "model.maku"), backend="wasm")
    x = np.random.default_rng(0).standard_normal(session.inputs[0].shape).astype(np.float32)
    (tmp_path / "x.bin").write_bytes(x.tobytes())
    out = run_js(tmp_path, f"""
const model = await maku.load(new Uint8Array(fs.readFileSync("{site / 'model.maku'}")),
                              {{ wasm: new Uint8Array(fs.readFileSync("{site / 'maku.wasm'}")) }});
const x = new Float32Array(new Uint8Array(fs.readFileSync("{tmp_path / 'x.bin'}")).buffer);
console.log(JSON.stringify(Array.from(model.run(x))));""")
    np.testing.assert_array_equal(np.array(json.loads(out), np.float32), session(x).reshape(-1))


@pytest.mark.parametrize("damage", ["truncate", "flip_header", "flip_weights", "not_web"])
def test_js_rejects_corrupted_files_with_a_clear_error(site, tmp_path, damage):
    data = bytearray((site / "model.maku").read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip_header":
        data[200] ^= 0x10
    elif damage == "flip_weights":
        data[-100] ^= 0x01
    else:
        cli_main(["build", str(site.parent / "mobilenet.onnx"), "-o", str(tmp_path / "python.maku")])
        data = (tmp_path / "python.maku").read_bytes()
    (tmp_path / "bad.maku").write_bytes(bytes(data))
    out = run_js(tmp_path, f"""
try {{
  await maku.load(new Uint8Array(fs.readFileSync("{tmp_path / 'bad.maku'}")),
                  {{ wasm: new Uint8Array(fs.readFileSync("{site / 'maku.wasm'}")), name: "bad.maku" }});
  console.log("loaded");
}} catch (err) {{ console.log(err.name + ": " + err.message); }}""")
    assert out.startswith("ModelError: bad.maku:"), out
    assert {"truncate": "truncated", "flip_header": "checksum", "flip_weights": "weights checksum",
            "not_web": "not built for the web"}[damage] in out


@pytest.mark.parametrize("size", [(300, 200), (199, 301), (256, 256), (224, 224), (97, 150), (1000, 257)])
@pytest.mark.parametrize("mode,layout", [("uint8", "NCHW"), ("imagenet", "NHWC"), ("inception", "NCHW")])
def test_js_preprocessing_equals_pillow(tmp_path, size, mode, layout):
    rng = np.random.default_rng(size[0])
    smooth = np.cumsum(rng.integers(-20, 21, (size[1], size[0], 3)), axis=1) % 256  # photo-like gradients
    rgb = smooth.astype(np.uint8)
    spec = InputSpec(layout, 224, mode)
    want = encode(center_crop(Image.fromarray(rgb), spec.size), mode)
    want = want.transpose(2, 0, 1) if layout == "NCHW" else want
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    (tmp_path / "rgba.bin").write_bytes(rgba.tobytes())
    js_spec = {"layout": layout, "size": 224, "resize": resize_size(224), "mode": mode}
    out = run_js(tmp_path, f"""
const data = new Uint8Array(fs.readFileSync("{tmp_path / 'rgba.bin'}"));
const x = maku.preprocess({{ data, width: {size[0]}, height: {size[1]} }}, {json.dumps(js_spec)});
fs.writeFileSync("{tmp_path / 'x.bin'}", new Uint8Array(x.buffer));""")
    assert out == ""
    got = np.frombuffer((tmp_path / "x.bin").read_bytes(), dtype=want.dtype).reshape(want.shape)
    np.testing.assert_array_equal(got, want)


def test_web_build_refuses_unsupported_nodes_and_lists_them(tmp_path):
    case = next(c for c in TABLE if c.op == "Conv" and c.id == "grouped_2")
    model = tmp_path / "grouped.onnx"
    model.write_bytes(case.model().SerializeToString())
    session, plan = compile_model(str(model))
    with pytest.raises(UnsupportedOpError, match=r"cannot run 1 node\(s\): .*maku.Conv.*grouped convolution"):
        build_site(session, plan, tmp_path / "site", model_path=str(model))
    assert cli_main(["build", str(model), "--target", "web", "-o", str(tmp_path / "site")]) == 2
    assert not (tmp_path / "site" / "model.maku").exists()
