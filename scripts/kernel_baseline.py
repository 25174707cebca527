"""The kernels as xling built them before issue 13, for side-by-side benchmarks.

Until then xling compiled ``xling/_kernels/<stem>.cpp`` at first use with
``torch.utils.cpp_extension.load`` and ``-march=native``. ``jit_kernel(stem, rev)``
rebuilds that source, taken from the git revision ``rev``, the same way (torch's
cache keeps the build), and ``using(stem, module)`` makes xling call it instead of
the installed build. Benchmark scripts only: ``using`` swaps a private loader.
"""

from __future__ import annotations

import contextlib
import hashlib
import platform
import subprocess
import tempfile
from pathlib import Path

import xling._kernels

# The flags of the former JIT build.
JIT_FLAGS = ["-O3", "-march=native", "-mprefer-vector-width=512", "-fopenmp-simd", "-std=c++17"]


def _cpu_digest() -> str:
    """The former build's cache key: a digest of the CPU's feature flags."""
    flags = platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as fh:
        flags += next((line for line in fh if line.startswith(("flags", "Features"))), "")
    return hashlib.sha1(flags.encode()).hexdigest()[:8]


def jit_kernel(stem: str, rev: str):
    """Compile (or take from torch's cache) ``xling/_kernels/<stem>.cpp`` of git revision ``rev``."""
    from torch.utils.cpp_extension import load

    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(["git", "show", f"{rev}:xling/_kernels/{stem}.cpp"], cwd=root, check=True,
                            capture_output=True, text=True).stdout
    src_dir = Path(tempfile.mkdtemp(prefix="xling-jit-"))
    (src_dir / f"{stem}.cpp").write_text(source)
    return load(name=f"xling_{stem}_{_cpu_digest()}", sources=[str(src_dir / f"{stem}.cpp")],
                extra_cflags=JIT_FLAGS, verbose=False)


@contextlib.contextmanager
def using(stem: str, module):
    """Within the block, xling's ``load_<stem>()`` returns ``module``."""
    original = xling._kernels._load
    xling._kernels._load = lambda s: module if s == stem else original(s)
    try:
        yield
    finally:
        xling._kernels._load = original
