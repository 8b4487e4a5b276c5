/* Portable float vectors (GCC/Clang vector extensions) sized to the target's widest
 * registers: 16 lanes with AVX-512, 8 with AVX, else 4 (SSE, NEON, wasm SIMD128).
 * Only min/max need per-target intrinsics; everything else is plain vector arithmetic. */
#ifndef MAKU_VEC_H
#define MAKU_VEC_H

/* Compiler builtins rather than <string.h>: the wasm32 build has no libc headers (with
 * -mbulk-memory they become memory.copy / memory.fill). */
#define maku_memcpy __builtin_memcpy
#define maku_memset __builtin_memset

#if defined(__AVX512F__)
#define VL 16
#elif defined(__AVX__)
#define VL 8
#else
#define VL 4
#endif

#if defined(__SSE__) || defined(__AVX__)
#include <immintrin.h>
#elif defined(__wasm_simd128__)
#include <wasm_simd128.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

typedef float vf __attribute__((vector_size(VL * 4)));
typedef int vi __attribute__((vector_size(VL * 4)));
/* The same vector at any float address (NHWC rows are not vector aligned); may_alias lets
 * it read and write float arrays. */
typedef float vf_mem __attribute__((vector_size(VL * 4), aligned(4), may_alias));

#define MAKU_INLINE static inline __attribute__((always_inline))

MAKU_INLINE vf vload(const float *p) { return *(const vf_mem *)p; }

MAKU_INLINE void vstore(float *p, vf v) { *(vf_mem *)p = v; }

/* -0.0 + s is exactly s (0.0 + s is not, for s = -0.0), so compilers drop the add. */
MAKU_INLINE vf vsplat(float s) { return -(vf){0} + s; }

/* Loads/stores the first `n` (< VL) lanes; the other lanes read as zero. */
MAKU_INLINE vf vload_part(const float *p, long n) {
    float t[VL] = {0};
    maku_memcpy(t, p, (unsigned long)n * sizeof(float));
    return vload(t);
}

MAKU_INLINE void vstore_part(float *p, vf v, long n) {
    float t[VL];
    vstore(t, v);
    maku_memcpy(p, t, (unsigned long)n * sizeof(float));
}

/* The first `n` (<= VL) lanes, full vectors taking the fast path. */
MAKU_INLINE vf vload_n(const float *p, long n) { return n == VL ? vload(p) : vload_part(p, n); }

MAKU_INLINE void vstore_n(float *p, vf v, long n) {
    if (n == VL)
        vstore(p, v);
    else
        vstore_part(p, v, n);
}

MAKU_INLINE vf vmax(vf a, vf b) {
#if VL == 16
    return (vf)_mm512_max_ps((__m512)a, (__m512)b);
#elif VL == 8
    return (vf)_mm256_max_ps((__m256)a, (__m256)b);
#elif defined(__SSE__)
    return (vf)_mm_max_ps((__m128)a, (__m128)b);
#elif defined(__wasm_simd128__)
    return (vf)wasm_f32x4_pmax((v128_t)a, (v128_t)b);
#elif defined(__ARM_NEON)
    return (vf)vmaxq_f32((float32x4_t)a, (float32x4_t)b);
#else
    vi m = a > b;
    return (vf)(((vi)a & m) | ((vi)b & ~m));
#endif
}

MAKU_INLINE vf vmin(vf a, vf b) {
#if VL == 16
    return (vf)_mm512_min_ps((__m512)a, (__m512)b);
#elif VL == 8
    return (vf)_mm256_min_ps((__m256)a, (__m256)b);
#elif defined(__SSE__)
    return (vf)_mm_min_ps((__m128)a, (__m128)b);
#elif defined(__wasm_simd128__)
    return (vf)wasm_f32x4_pmin((v128_t)a, (v128_t)b);
#elif defined(__ARM_NEON)
    return (vf)vminq_f32((float32x4_t)a, (float32x4_t)b);
#else
    vi m = a < b;
    return (vf)(((vi)a & m) | ((vi)b & ~m));
#endif
}

#endif
