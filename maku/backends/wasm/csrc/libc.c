/* memcpy/memmove/memset for the freestanding wasm32 build, as bulk-memory instructions
 * (memory.copy handles overlap, so memcpy and memmove are the same). The compiler also emits
 * calls to these for struct copies and zeroing loops. */
#include <string.h>

void *memcpy(void *dst, const void *src, size_t n) { return __builtin_memmove(dst, src, n); }

void *memmove(void *dst, const void *src, size_t n) { return __builtin_memmove(dst, src, n); }

void *memset(void *dst, int value, size_t n) { return __builtin_memset(dst, value, n); }
