/* The freestanding wasm32 build has no libc headers: the few string.h functions the kernels
 * use, implemented in libc.c. Only on the include path of the wasm build. */
#ifndef MAKU_WASM_STRING_H
#define MAKU_WASM_STRING_H

typedef __SIZE_TYPE__ size_t;
#define NULL ((void *)0)

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int value, size_t n);

#endif
