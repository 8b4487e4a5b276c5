#!/bin/sh
# Builds maku's WebAssembly module from C: the shared kernels of maku/csrc (serial build, no
# threads) plus the wasm module's own kernels and dispatcher in maku/backends/wasm/csrc.
# Freestanding (no emscripten, no libc), SIMD128, deterministic: the same clang gives the same
# bytes, which tests/test_wasm_build.py checks against the shipped maku.wasm.
#   usage: tools/build_wasm.sh [OUTPUT]   (default maku/backends/wasm/maku.wasm)
set -eu
cd "$(dirname "$0")/.."
out=${1:-maku/backends/wasm/maku.wasm}
CC=${CC:-clang}
shared="gemm.c depthwise.c conv_im2col.c pool.c serial.c info.c"
own="libc.c pool2d.c elementwise.c softmax.c copy.c pack.c program.c"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# clang leaves a loop alone when its "#pragma GCC unroll N" count exceeds the trip count (GCC
# unrolls it fully), which keeps the GEMM and depthwise accumulators in memory: the shared
# sources are compiled with those pragmas made "#pragma unroll" (full unrolling).
srcs=""
for f in $shared; do
    sed 's/^#pragma GCC unroll [0-9]*$/#pragma unroll/' "maku/csrc/$f" > "$work/$f"
    srcs="$srcs $work/$f"
done
for f in $own; do srcs="$srcs maku/backends/wasm/csrc/$f"; done
exports="maku_exec maku_program_version maku_abi_version maku_vector_lanes maku_gemm_panel_width"
ldflags="-Wl,--no-entry -Wl,--strip-all -Wl,--gc-sections -Wl,--export=__heap_base -Wl,-z,stack-size=262144"
for e in $exports; do ldflags="$ldflags -Wl,--export=$e"; done
# shellcheck disable=SC2086
$CC --target=wasm32 -std=c11 -O3 -msimd128 -mbulk-memory -fno-signed-zeros -nostdlib -ffreestanding \
    -fno-ident -Wall -Wextra -Wno-unused-parameter \
    -isystem maku/backends/wasm/csrc/include -Imaku/csrc -Imaku/backends/wasm/csrc \
    $ldflags -o "$out" $srcs
echo "$out: $(wc -c < "$out") bytes"
