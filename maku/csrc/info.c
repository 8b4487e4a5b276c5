/* What the loader checks: the ABI version and the vector width compiled in. */
#include "maku_kernels.h"
#include "vec.h"

int32_t maku_abi_version(void) { return MAKU_ABI_VERSION; }

int32_t maku_vector_lanes(void) { return VL; }
