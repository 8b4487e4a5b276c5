/* Elementwise kernels: binary arithmetic with broadcasting, activations, uint8 -> float.
 *
 * Broadcasting is described by element strides (0 along broadcast axes) over a 4-D space the
 * host collapses shapes into, so the innermost axis is as long as possible; that axis runs in
 * vectors with each operand either contiguous or one splatted value. */
#include "activation.h"
#include "ops.h"

MAKU_INLINE vf combine(int32_t op, vf a, vf b) {
    switch (op) {
    case MAKU_SUB:
        return a - b;
    case MAKU_MUL:
        return a * b;
    case MAKU_DIV:
        return a / b;
    default:
        return a + b;
    }
}

/* One innermost row of `len` outputs; an operand with stride 0 is one value. */
MAKU_INLINE void binary_row(int32_t op, const float *a, int32_t sa, const float *b, int32_t sb, float *y,
                            int64_t len) {
    if ((sa != 0 && sa != 1) || (sb != 0 && sb != 1)) {
        for (int64_t i = 0; i < len; i++)
            y[i] = combine(op, vsplat(a[i * sa]), vsplat(b[i * sb]))[0];
        return;
    }
    const vf a_splat = vsplat(a[0]), b_splat = vsplat(b[0]);
    for (int64_t i = 0; i < len; i += VL) {
        const int64_t lanes = len - i < VL ? len - i : VL;
        const vf va = sa ? vload_n(a + i, lanes) : a_splat;
        const vf vb = sb ? vload_n(b + i, lanes) : b_splat;
        vstore_n(y + i, combine(op, va, vb), lanes);
    }
}

void maku_binary(int32_t op, const int32_t shape[4], const float *a, const int32_t as[4], const float *b,
                 const int32_t bs[4], float *y) {
    for (int64_t i = 0; i < shape[0]; i++)
        for (int64_t j = 0; j < shape[1]; j++)
            for (int64_t k = 0; k < shape[2]; k++, y += shape[3])
                binary_row(op, a + i * as[0] + j * as[1] + k * as[2], as[3], b + i * bs[0] + j * bs[1] + k * bs[2],
                           bs[3], y, shape[3]);
}

void maku_unary(int32_t act, float alpha, float beta, const float *x, float *y, int64_t count) {
    for (int64_t i = 0; i < count; i += VL) {
        const int64_t lanes = count - i < VL ? count - i : VL;
        vstore_n(y + i, apply_act(vload_n(x + i, lanes), act, alpha, beta), lanes);
    }
}

void maku_cast_u8_f32(const uint8_t *x, float *y, int64_t count) {
    for (int64_t i = 0; i < count; i++)
        y[i] = (float)x[i];
}
