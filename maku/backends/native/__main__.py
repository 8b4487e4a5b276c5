"""`python -m maku.backends.native`: build the kernels now (e.g. in a Docker image or CI)
and print where the library is and what it was compiled for; exit 1 when it cannot be built."""

import sys

from maku.errors import BackendError

from .build import compile_flags, find_compiler
from .loader import load_library


def main() -> int:
    try:
        lib = load_library()
    except BackendError as exc:
        print(f"maku native kernels unavailable: {exc}", file=sys.stderr)
        return 1
    print(f"library   {lib._name}")
    print(f"compiler  {find_compiler()} {' '.join(compile_flags())}")
    print(f"vector    {lib.maku_vector_lanes()} float lanes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
