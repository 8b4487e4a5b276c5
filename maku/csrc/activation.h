/* Fused activations on vectors (enum maku_act). exp is a polynomial so that kernels need
 * no libm (the wasm build is freestanding); its relative error is ~2e-7. */
#ifndef MAKU_ACTIVATION_H
#define MAKU_ACTIVATION_H

#include "maku_kernels.h"
#include "vec.h"

/* e^x for x in [-87, 88]: x = k*ln2 + r, e^r by a degree-6 Taylor/Horner polynomial on
 * |r| <= ln2/2, then 2^k built in the exponent bits. */
MAKU_INLINE vf vexp(vf x) {
    x = vmin(vmax(x, vsplat(-87.0f)), vsplat(88.0f));
    vf kf = x * 1.44269504088896341f;
    vf t = kf + 0.5f;
    vi k = __builtin_convertvector(t, vi);     /* truncates toward zero ... */
    k += (vi)(__builtin_convertvector(k, vf) > t); /* ... so step down where that rounded up */
    kf = __builtin_convertvector(k, vf);
    vf r = x - kf * 0.693145751953125f - kf * 1.428606765330187045e-06f;
    vf p = vsplat(1.0f / 720.0f);
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    vi bits = (k + 127) << 23;
    vf scale;
    maku_memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

MAKU_INLINE vf apply_act(vf v, int32_t act, float alpha, float beta) {
    switch (act) {
    case MAKU_ACT_RELU:
        return vmax(v, vsplat(0.0f));
    case MAKU_ACT_CLIP:
        return vmin(vmax(v, vsplat(alpha)), vsplat(beta));
    case MAKU_ACT_HARDSIGMOID:
        return vmin(vmax(v * alpha + beta, vsplat(0.0f)), vsplat(1.0f));
    case MAKU_ACT_HARDSWISH:
        return v * vmin(vmax(v * (1.0f / 6.0f) + 0.5f, vsplat(0.0f)), vsplat(1.0f));
    case MAKU_ACT_SIGMOID:
        return 1.0f / (1.0f + vexp(-v));
    default:
        return v;
    }
}

#endif
