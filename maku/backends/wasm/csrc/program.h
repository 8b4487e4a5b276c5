/* The compact plan the wasm dispatcher runs (written by maku/backends/wasm/program.py).
 *
 * A program is a sequence of int32 words. Each op is [opcode, n_words, fields...], n_words
 * counting the whole op. Tensor fields are byte offsets from the model's base address in linear
 * memory (-1: none); floats are stored as their bit patterns. Field lists per opcode:
 *
 *   CONV_DEPTHWISE  conv[18] x w bias residual y
 *   CONV_IM2COL     conv[18] x packed_w bias residual y scratch
 *   GEMM            m k n act alpha beta  x packed_w bias residual y
 *   MAX_POOL/AVG_POOL  pool[17] x y
 *   GLOBAL_AVG_POOL n hw c  x y
 *   BINARY          op shape[4] a_strides[4] b_strides[4]  a b y
 *   UNARY           act alpha beta count  x y
 *   SOFTMAX         rows cols  x y
 *   CAST_U8_F32     count  x y
 *   COPY            elsize shape[6] x_strides[6] y_strides[6]  x y
 *   FILL            value count  y
 *   PACK            k n transposed  w packed        (load time: weights into GEMM panels)
 *
 * conv[18] = n h w c oh ow cout kh kw stride_h stride_w pad_top pad_left dil_h dil_w act alpha beta
 * (maku_conv_params); pool[17] = the fields of maku_pool_params in order. */
#ifndef MAKU_PROGRAM_H
#define MAKU_PROGRAM_H

#include <stdint.h>

#define MAKU_PROGRAM_VERSION 1

enum maku_opcode {
    OP_CONV_DEPTHWISE = 1,
    OP_CONV_IM2COL = 2,
    OP_GEMM = 3,
    OP_MAX_POOL = 4,
    OP_AVG_POOL = 5,
    OP_GLOBAL_AVG_POOL = 6,
    OP_BINARY = 7,
    OP_UNARY = 8,
    OP_SOFTMAX = 9,
    OP_CAST_U8_F32 = 10,
    OP_COPY = 11,
    OP_FILL = 12,
    OP_PACK = 13,
};

/* Runs the ops in program[0, n_words) on the model at `base`. Returns 0, or 1 + the word
 * index of an op it cannot read (unknown opcode or a bad length). */
int32_t maku_exec(uint8_t *base, const int32_t *program, int32_t n_words);

/* MAKU_PROGRAM_VERSION, so a host can refuse a program written for another module. */
int32_t maku_program_version(void);

#endif
