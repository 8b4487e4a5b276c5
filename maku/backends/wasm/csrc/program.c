/* The dispatcher: walks a program (program.h) and calls one kernel per op, so a whole plan
 * runs in one call from the host. The module is single-threaded: threads = 1. */
#include "program.h"

#include <string.h>

#include "maku_kernels.h"
#include "ops.h"

/* Reads an op's fields in order. */
typedef struct {
    uint8_t *base;
    const int32_t *w;
} reader;

static int32_t next(reader *r) { return *r->w++; }

static float next_float(reader *r) {
    int32_t bits = next(r);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void *next_ptr(reader *r) {
    int32_t off = next(r);
    return off < 0 ? 0 : r->base + off;
}

static void next_ints(reader *r, int32_t *out, int count) {
    for (int i = 0; i < count; i++)
        out[i] = next(r);
}

static maku_conv_params next_conv(reader *r) {
    maku_conv_params p;
    int64_t *dims[] = {&p.n, &p.h, &p.w, &p.c, &p.oh, &p.ow, &p.cout, &p.kh, &p.kw,
                       &p.stride_h, &p.stride_w, &p.pad_top, &p.pad_left, &p.dil_h, &p.dil_w};
    for (unsigned i = 0; i < sizeof dims / sizeof dims[0]; i++)
        *dims[i] = next(r);
    p.act = next(r);
    p.alpha = next_float(r);
    p.beta = next_float(r);
    return p;
}

/* Depthwise with a residual (added after the activation, as maku.Conv defines it): the
 * shared kernel has no residual input, so the residual is added by a second pass. */
static void depthwise(reader *r) {
    maku_conv_params p = next_conv(r);
    const float *x = next_ptr(r), *w = next_ptr(r), *bias = next_ptr(r), *residual = next_ptr(r);
    float *y = next_ptr(r);
    maku_depthwise_conv2d(&p, x, w, bias, y, 1);
    if (residual) {
        const int32_t shape[4] = {1, 1, 1, (int32_t)(p.n * p.oh * p.ow * p.cout)}, unit[4] = {0, 0, 0, 1};
        maku_binary(MAKU_ADD, shape, y, unit, residual, unit, y);
    }
}

static void im2col(reader *r) {
    maku_conv_params p = next_conv(r);
    const float *x = next_ptr(r), *w = next_ptr(r), *bias = next_ptr(r), *residual = next_ptr(r);
    float *y = next_ptr(r), *scratch = next_ptr(r);
    maku_conv2d_im2col(&p, x, w, bias, residual, y, scratch, 1);
}

static void gemm(reader *r) {
    int32_t m = next(r), k = next(r), n = next(r), act = next(r);
    float alpha = next_float(r), beta = next_float(r);
    const float *x = next_ptr(r), *w = next_ptr(r), *bias = next_ptr(r), *residual = next_ptr(r);
    maku_gemm_fused(x, w, bias, residual, next_ptr(r), m, k, n, act, alpha, beta, 1);
}

static void pool(reader *r, int is_max) {
    maku_pool_params p;
    next_ints(r, &p.n, 17);
    const float *x = next_ptr(r);
    float *y = next_ptr(r);
    (is_max ? maku_max_pool2d : maku_avg_pool2d)(&p, x, y);
}

static void binary(reader *r) {
    int32_t op = next(r), shape[4], as[4], bs[4];
    next_ints(r, shape, 4);
    next_ints(r, as, 4);
    next_ints(r, bs, 4);
    const float *a = next_ptr(r), *b = next_ptr(r);
    maku_binary(op, shape, a, as, b, bs, next_ptr(r));
}

static void copy(reader *r) {
    int32_t elsize = next(r), shape[6], xs[6], ys[6];
    next_ints(r, shape, 6);
    next_ints(r, xs, 6);
    next_ints(r, ys, 6);
    const void *x = next_ptr(r);
    maku_copy_strided(elsize, shape, x, xs, next_ptr(r), ys);
}

static void run_op(int32_t opcode, reader *r) {
    switch (opcode) {
    case OP_CONV_DEPTHWISE:
        depthwise(r);
        break;
    case OP_CONV_IM2COL:
        im2col(r);
        break;
    case OP_GEMM:
        gemm(r);
        break;
    case OP_MAX_POOL:
    case OP_AVG_POOL:
        pool(r, opcode == OP_MAX_POOL);
        break;
    case OP_GLOBAL_AVG_POOL: {
        int32_t n = next(r), hw = next(r), c = next(r);
        const float *x = next_ptr(r);
        maku_global_avg_pool(x, next_ptr(r), n, hw, c, 1);
        break;
    }
    case OP_BINARY:
        binary(r);
        break;
    case OP_UNARY: {
        int32_t act = next(r);
        float alpha = next_float(r), beta = next_float(r);
        int32_t count = next(r);
        const float *x = next_ptr(r);
        maku_unary(act, alpha, beta, x, next_ptr(r), count);
        break;
    }
    case OP_SOFTMAX: {
        int32_t rows = next(r), cols = next(r);
        const float *x = next_ptr(r);
        maku_softmax(x, next_ptr(r), rows, cols);
        break;
    }
    case OP_CAST_U8_F32: {
        int32_t count = next(r);
        const uint8_t *x = next_ptr(r);
        maku_cast_u8_f32(x, next_ptr(r), count);
        break;
    }
    case OP_COPY:
        copy(r);
        break;
    case OP_FILL: {
        float value = next_float(r);
        int32_t count = next(r);
        maku_fill(next_ptr(r), value, count);
        break;
    }
    case OP_PACK: {
        int32_t k = next(r), n = next(r), transposed = next(r);
        const float *w = next_ptr(r);
        float *packed = next_ptr(r);
        (transposed ? maku_gemm_pack_weights_transposed : maku_gemm_pack_weights)(w, k, n, packed);
        break;
    }
    }
}

int32_t maku_exec(uint8_t *base, const int32_t *program, int32_t n_words) {
    int32_t at = 0;
    while (at < n_words) {
        const int32_t opcode = program[at], length = program[at + 1];
        if (opcode < OP_CONV_DEPTHWISE || opcode > OP_PACK || length < 2 || at + length > n_words)
            return at + 1;
        reader r = {base, program + at + 2};
        run_op(opcode, &r);
        at += length;
    }
    return 0;
}

int32_t maku_program_version(void) { return MAKU_PROGRAM_VERSION; }
