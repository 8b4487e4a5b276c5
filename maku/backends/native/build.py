"""Compiling maku/csrc into a shared library on first use, cached per machine.

The library is built for the CPU it runs on (`-march=native`), which is safe because it is
built where it runs: nothing compiled on one machine is loaded on another (the cache key
includes the CPU's model and feature flags, so a shared home directory is fine). The key
also covers the sources, the compiler and the flags, so editing a .c file or upgrading the
compiler rebuilds automatically. Why this rather than an install-time extension:
docs/native_kernels.md.

Environment:
  CC               compiler to use (default: the first of cc, gcc, clang on PATH)
  MAKU_NATIVE_ARCH target CPU for -march (default "native"; e.g. "x86-64-v2" for a
                   portable build, "" for the compiler's default)
  MAKU_CACHE_DIR   cache root (default $XDG_CACHE_HOME/maku or ~/.cache/maku)
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from maku.errors import BackendError

SOURCE_DIR = Path(__file__).resolve().parents[2] / "csrc"
# serial.c replaces threads.c in builds without pthreads (wasm32); depthwise_grad.c and
# batchnorm.c (training) are host-only
KERNEL_SOURCES = ("depthwise.c", "depthwise_grad.c", "batchnorm.c", "gemm.c", "conv_im2col.c", "pool.c")
HOST_SOURCES = (*KERNEL_SOURCES, "info.c", "threads.c")
# -fno-math-errno: sqrtf (batchnorm.c) is one instruction and the library needs no libm
BASE_FLAGS = (
    "-O3",
    "-std=c11",
    "-ffp-contract=fast",
    "-fno-math-errno",
    "-fPIC",
    "-shared",
    "-pthread",
    "-Wall",
)
COMPILE_TIMEOUT_S = 300


def find_compiler() -> str:
    """The C compiler command, or BackendError when none is installed."""
    candidates = [os.environ["CC"]] if os.environ.get("CC") else ["cc", "gcc", "clang"]
    for name in candidates:
        path = shutil.which(name)
        if path:
            return path
    raise BackendError(f"no C compiler found (tried {', '.join(candidates)}; set CC to choose one)")


def compile_flags() -> list[str]:
    """BASE_FLAGS plus -march for the target CPU (MAKU_NATIVE_ARCH, default native)."""
    arch = os.environ.get("MAKU_NATIVE_ARCH", "native")
    return [*BASE_FLAGS, *([f"-march={arch}"] if arch else [])]


def cache_dir() -> Path:
    """Where built libraries are kept; a per-user temp dir when the home cache is not writable."""
    root = os.environ.get("MAKU_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "maku"
    )
    for candidate in (Path(root) / "native", Path(tempfile.gettempdir()) / f"maku-{os.getuid()}" / "native"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    raise BackendError(f"no writable cache directory for the native kernels (tried {root})")


def _cpu_identity() -> str:
    """The CPU's model and feature flags: what -march=native compiles for."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    wanted = ("model name", "flags", "Features", "CPU implementer", "CPU part")
    return "\n".join(sorted({line for line in lines if line.split(":")[0].strip() in wanted}))


def _compiler_identity(compiler: str) -> str:
    try:
        return subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise BackendError(f"C compiler {compiler} does not run: {exc}") from exc


def library_name(compiler: str, flags: list[str]) -> str:
    """File name of the library for these sources, compiler, flags and CPU."""
    digest = hashlib.sha256()
    for path in sorted(SOURCE_DIR.glob("*.[ch]")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for part in (_compiler_identity(compiler), " ".join(flags), platform.machine(), _cpu_identity()):
        digest.update(part.encode() + b"\0")
    suffix = ".dylib" if sys.platform == "darwin" else ".so"
    return f"libmaku-{digest.hexdigest()[:16]}{suffix}"


def build_library() -> Path:
    """Path of the compiled library, compiling it first when it is not cached yet."""
    compiler, flags = find_compiler(), compile_flags()
    target = cache_dir() / library_name(compiler, flags)
    if target.exists():
        return target
    # compile beside the target and rename: concurrent builders never see a partial file
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=target.suffix)
    os.close(fd)
    sources = [str(SOURCE_DIR / name) for name in HOST_SOURCES]
    try:
        result = subprocess.run(
            [compiler, *flags, "-o", tmp, *sources], capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S
        )
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines() or ["no output"]
            detail = next((line for line in lines if "error" in line), lines[0])
            raise BackendError(f"compiling the native kernels with {compiler} failed: {detail}")
        os.replace(tmp, target)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BackendError(f"compiling the native kernels with {compiler} failed: {exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
