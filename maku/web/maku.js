// maku.js: run a model compiled by `maku build --target web` in the browser.
//
//   import * as maku from "./maku.js";
//   const model = await maku.load("model.maku");          // also fetches maku.wasm beside this file
//   const { top, ms } = await model.classify(fileOrImageOrImageData);
//   const scores = model.run(float32Array);              // the lower-level call
//
// The .maku file is checked like the Python loader checks it (magic, version, CRC-32 of header
// and weights, every size) before anything reaches the module; its weights and program go into
// the module's linear memory once, and each run is one call into the wasm dispatcher.
// Preprocessing reproduces maku/runtime/preprocess.py: Pillow's bilinear resize of the shorter
// side (in Pillow's own fixed-point arithmetic, so the pixels are identical), center crop,
// the model's pixel encoding in float32, and its layout.

const MAGIC = [0x89, 0x4d, 0x41, 0x4b, 0x55, 0x0d, 0x0a, 0x1a];
const FORMAT_VERSION = 1;
const PROGRAM_VERSION = 1;
const PANEL_WIDTH = 8;
const PREAMBLE_BYTES = 24;
const PAGE_BYTES = 65536;
const IMAGENET_MEAN = [0.485, 0.456, 0.406].map(Math.fround);
const IMAGENET_STD = [0.229, 0.224, 0.225].map(Math.fround);

/** Every failure maku.js reports on purpose: bad files, bad inputs, a browser without SIMD. */
export class ModelError extends Error {
  constructor(message) {
    super(message);
    this.name = "ModelError";
  }
}

// () -> v128 { v128.const 0 }: validates only where WebAssembly SIMD is supported.
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, ...new Array(16).fill(0), 0x0b, // code: v128.const 0
]);

/** True when this browser runs WebAssembly SIMD (maku.wasm needs it). */
export function simdSupported() {
  return typeof WebAssembly === "object" && WebAssembly.validate(SIMD_PROBE);
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (zlib's) of a byte array. */
function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const align64 = (n) => Math.ceil(n / 64) * 64;
const isCount = (v) => Number.isSafeInteger(v) && v >= 0;
const product = (shape) => shape.reduce((a, b) => a * b, 1);

async function bytesOf(source, what) {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  let response;
  try {
    response = await fetch(source);
  } catch (err) {
    throw new ModelError(`${source}: cannot fetch the ${what} (${err.message})`);
  }
  if (!response.ok) throw new ModelError(`${source}: cannot fetch the ${what} (HTTP ${response.status})`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Splits and checks a .maku file: returns its JSON header and its weight blob. */
export function parseMaku(bytes, origin = "model") {
  const bad = (why) => new ModelError(`${origin}: not a valid .maku file: ${why}`);
  if (bytes.length < PREAMBLE_BYTES) throw bad(`${bytes.length} bytes is shorter than the preamble (truncated?)`);
  if (MAGIC.some((b, i) => bytes[i] !== b)) throw bad("wrong magic bytes");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [version, headLen, headCrc, blobCrc] = [8, 12, 16, 20].map((at) => view.getUint32(at, true));
  if (version !== FORMAT_VERSION) throw bad(`format version ${version}; this maku.js reads ${FORMAT_VERSION}`);
  if (headLen > bytes.length - PREAMBLE_BYTES) throw bad("the header runs past the end of the file (truncated?)");
  const head = bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headLen);
  if (crc32(head) !== headCrc) throw bad("the header checksum does not match (corrupted)");
  let header;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(head));
  } catch (err) {
    throw bad(`the header is not JSON (${err.message})`);
  }
  const start = align64(PREAMBLE_BYTES + headLen);
  if (!isCount(header.blob_bytes) || start + header.blob_bytes !== bytes.length) {
    throw bad(`the file has ${bytes.length} bytes, the header says ${start} + ${header.blob_bytes} (truncated?)`);
  }
  const blob = bytes.subarray(start);
  if (crc32(blob) !== blobCrc) throw bad("the weights checksum does not match (corrupted)");
  return { header, blob };
}

/** Checks the wasm section's numbers before any of them is used as an address. */
function checkManifest(m, blobBytes, origin) {
  const bad = (why) => new ModelError(`${origin}: corrupted .maku file: ${why}`);
  if (!m) throw new ModelError(`${origin}: this .maku file was not built for the web (maku build --target web)`);
  if (m.program_version !== PROGRAM_VERSION || m.panel_width !== PANEL_WIDTH) {
    throw bad(`program version ${m.program_version}; this maku.wasm runs version ${PROGRAM_VERSION} (rebuild the site)`);
  }
  const counts = [m.total_bytes, m.program_base, m.init_words];
  if (!counts.every(isCount) || !Array.isArray(m.words) || m.total_bytes > 2 ** 31) throw bad("bad program layout");
  if (!m.words.every((w) => Number.isInteger(w) && w >= -(2 ** 31) && w < 2 ** 31)) throw bad("bad program words");
  if (blobBytes > m.program_base || m.program_base + 4 * m.words.length > m.total_bytes || m.init_words > m.words.length) {
    throw bad("the program does not fit its memory layout");
  }
  for (const t of [...m.inputs, ...m.outputs]) {
    const size = { float32: 4, uint8: 1 }[t.dtype];
    if (!size || !Array.isArray(t.shape) || !t.shape.every(isCount) || !isCount(t.address)
        || t.address + size * product(t.shape) > m.total_bytes) {
      throw bad(`tensor ${t.name} lies outside the model's memory`);
    }
  }
}

/** Loads a model: `source` is a URL or the .maku bytes; `options.wasm` likewise for maku.wasm. */
export async function load(source, options = {}) {
  const origin = options.name || (typeof source === "string" ? source : "model.maku");
  const wasmSource = options.wasm || new URL("maku.wasm", import.meta.url).href;
  const [bytes, wasmBytes] = await Promise.all([bytesOf(source, "model"), bytesOf(wasmSource, "maku.wasm")]);
  const { header, blob } = parseMaku(bytes, origin);
  checkManifest(header.wasm, header.blob_bytes, origin);
  if (!WebAssembly.validate(wasmBytes)) {
    throw new ModelError(simdSupported() ? "maku.wasm is not a valid module"
      : "this browser does not support WebAssembly SIMD, which maku needs");
  }
  const { instance } = await WebAssembly.instantiate(wasmBytes, {});
  return new Model(instance.exports, header, blob, bytes.length, origin);
}

/** A model in its own wasm instance. */
export class Model {
  constructor(exports, header, blob, fileBytes, origin) {
    const m = header.wasm;
    this.exports = exports;
    this.manifest = m;
    this.web = header.web || {};
    this.name = this.web.model_name || header.model.name;
    this.fileBytes = fileBytes;
    this.origin = origin;
    this.labels = null;
    this.base = align64(exports.__heap_base.value);
    const missing = this.base + m.total_bytes - exports.memory.buffer.byteLength;
    if (missing > 0) exports.memory.grow(Math.ceil(missing / PAGE_BYTES));
    this.memory = new Uint8Array(exports.memory.buffer); // never grown again, so this view stays valid
    this.memory.set(blob, this.base);
    this.memory.set(new Uint8Array(Int32Array.from(m.words).buffer), this.base + m.program_base);
    if (exports.maku_gemm_panel_width() !== PANEL_WIDTH || exports.maku_program_version() !== PROGRAM_VERSION) {
      throw new ModelError("maku.wasm does not match this maku.js");
    }
    this._exec(0, m.init_words);
  }

  _exec(word, count) {
    let status;
    try {
      status = this.exports.maku_exec(this.base, this.base + this.manifest.program_base + 4 * word, count);
    } catch (err) {
      throw new ModelError(`${this.origin}: the model failed inside maku.wasm (${err.message})`);
    }
    if (status !== 0) throw new ModelError(`${this.origin}: maku.wasm rejected program word ${word + status - 1}`);
  }

  _tensor(t) {
    const Type = t.dtype === "uint8" ? Uint8Array : Float32Array;
    return new Type(this.memory.buffer, this.base + t.address, product(t.shape));
  }

  get input() {
    return this.manifest.inputs[0];
  }

  /** Runs the model on one input (a typed array in the input's layout); returns a copy of the first output. */
  run(input) {
    const target = this._tensor(this.input);
    if (!input || input.length !== target.length) {
      throw new ModelError(`the input must hold ${target.length} values (shape ${this.input.shape}), got ${input && input.length}`);
    }
    target.set(input);
    this._exec(this.manifest.init_words, this.manifest.words.length - this.manifest.init_words);
    return Float32Array.from(this._tensor(this.manifest.outputs[0]));
  }

  /** Preprocesses an image (File/Blob, <img>, ImageBitmap, canvas or ImageData), runs the model
   * and returns {top: [{index, label, probability}], ms (the run alone), probabilities}. */
  async classify(image, k = 5) {
    const x = preprocess(await rgbaPixels(image), this.web.preprocess);
    const t0 = performance.now();
    const scores = this.run(x);
    const ms = performance.now() - t0;
    const probabilities = asProbabilities(scores);
    const names = this.labels || [];
    const order = Array.from(probabilities.keys()).sort((a, b) => probabilities[b] - probabilities[a] || a - b);
    const top = order.slice(0, k).map((i) => ({ index: i, label: names[i] ?? `class ${i}`, probability: probabilities[i] }));
    return { top, ms, probabilities };
  }
}

/** Decoded pixels {data: RGBA bytes, width, height} of any image source. */
export async function rgbaPixels(image) {
  if (typeof ImageData !== "undefined" && image instanceof ImageData) return image;
  let bitmap = image;
  if (typeof Blob !== "undefined" && image instanceof Blob) {
    try { // Pillow ignores embedded colour profiles; so must the decoder here
      bitmap = await createImageBitmap(image, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    } catch {
      throw new ModelError(`${image.name || "the file"} is not an image this browser can decode`);
    }
  }
  const width = bitmap.naturalWidth || bitmap.width, height = bitmap.naturalHeight || bitmap.height;
  if (!width || !height) throw new ModelError("the image is empty or not loaded");
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  return ctx.getImageData(0, 0, width, height);
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const PRECISION_BITS = 22; // Pillow's fixed-point precision for 8-bit images

/** Pillow's bilinear coefficients for resizing `inSize` to `outSize`, as fixed-point ints. */
function resampleCoefficients(inSize, outSize) {
  const scale = inSize / outSize, filterScale = Math.max(scale, 1), support = filterScale;
  const taps = [];
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const weights = [];
    for (let i = lo; i < hi; i++) weights.push(Math.max(0, 1 - Math.abs((i - center + 0.5) / filterScale)));
    const total = weights.reduce((a, b) => a + b, 0);
    taps.push({ lo, k: weights.map((w) => Math.trunc(0.5 + (total ? w / total : w) * (1 << PRECISION_BITS))) });
  }
  return taps;
}

const clip8 = (v) => (v <= 0 ? 0 : v >= 255 * 2 ** PRECISION_BITS ? 255 : Math.floor(v / 2 ** PRECISION_BITS));

/** One separable pass over 3 channels: rows of `src` (stride `srcStride` pixels), output
 * positions `first..first+count` along the resized axis. */
function resamplePass(src, srcW, srcH, taps, first, count, horizontal) {
  const outW = horizontal ? count : srcW, outH = horizontal ? srcH : count;
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const { lo, k } = taps[(horizontal ? x : y) + first];
      for (let c = 0; c < 3; c++) {
        let acc = 1 << (PRECISION_BITS - 1);
        for (let t = 0; t < k.length; t++) {
          const sx = horizontal ? lo + t : x, sy = horizontal ? y : lo + t;
          acc += src[(sy * srcW + sx) * 3 + c] * k[t];
        }
        out[(y * outW + x) * 3 + c] = clip8(acc);
      }
    }
  }
  return out;
}

/** The center crop of the image resized (shorter side) as preprocess.center_crop does: uint8 RGB. */
export function centerCrop(pixels, crop, short) {
  const { width: w, height: h, data } = pixels;
  const [newW, newH] = w <= h ? [short, roundHalfEven((h * short) / w)] : [roundHalfEven((w * short) / h), short];
  const left = Math.floor((newW - crop) / 2), top = Math.floor((newH - crop) / 2);
  let rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = data[i * 4 + c];
  // horizontal pass first (as Pillow), only over the rows the vertical pass of the crop reads
  const vTaps = newH !== h ? resampleCoefficients(h, newH) : null;
  const rows = vTaps ? [vTaps[top].lo, vTaps[top + crop - 1].lo + vTaps[top + crop - 1].k.length] : [top, top + crop];
  rgb = rgb.subarray(rows[0] * w * 3, rows[1] * w * 3);
  let width = w;
  if (newW !== w) {
    rgb = resamplePass(rgb, w, rows[1] - rows[0], resampleCoefficients(w, newW), left, crop, true);
  } else {
    rgb = cropColumns(rgb, w, rows[1] - rows[0], left, crop);
  }
  width = crop;
  if (vTaps) {
    const shifted = vTaps.map(({ lo, k }) => ({ lo: lo - rows[0], k }));
    return resamplePass(rgb, width, rows[1] - rows[0], shifted, top, crop, false);
  }
  return rgb;
}

function cropColumns(rgb, w, h, left, count) {
  const out = new Uint8Array(count * h * 3);
  for (let y = 0; y < h; y++) out.set(rgb.subarray((y * w + left) * 3, (y * w + left + count) * 3), y * count * 3);
  return out;
}

/** Image pixels -> the model's input tensor (spec from the .maku file's "web" section). */
export function preprocess(pixels, spec) {
  if (!spec) throw new ModelError("this model has no image preprocessing recorded (rebuild with --target web)");
  const { size, resize, mode, layout } = spec;
  const rgb = centerCrop(pixels, size, resize);
  const n = size * size;
  const out = mode === "uint8" ? new Uint8Array(3 * n) : new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const v = rgb[i * 3 + c];
      let x = v;
      if (mode === "imagenet") x = Math.fround(Math.fround(Math.fround(v / 255) - IMAGENET_MEAN[c]) / IMAGENET_STD[c]);
      else if (mode === "inception") x = Math.fround(Math.fround(v / 127.5) - 1);
      out[layout === "NCHW" ? c * n + i : i * 3 + c] = x;
    }
  }
  return out;
}

/** Scores -> probabilities as maku.runtime.classify.as_probabilities: kept when they already
 * are (in [0, 1], summing to 1 within 1e-3), else a softmax in double precision. */
export function asProbabilities(scores) {
  let min = Infinity, max = -Infinity, sum = 0;
  for (const s of scores) {
    min = Math.min(min, s);
    max = Math.max(max, s);
    sum += s;
  }
  if (min >= 0 && max <= 1 && Math.abs(sum - 1) <= 1e-3 + 1e-5) return Float64Array.from(scores);
  const e = Float64Array.from(scores, (s) => Math.exp(s - max));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}
