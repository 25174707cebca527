"""Compiled kernels, built at first use with ``torch.utils.cpp_extension``.

The C++ sources ship with the package (``xling/_kernels/*.cpp``) and are
compiled on the user's machine the first time they are needed (about a
minute), then cached: in ``$XLING_CACHE/torch_extensions`` when the
``XLING_CACHE`` environment variable is set, otherwise in torch's default
extension cache (``$TORCH_EXTENSIONS_DIR`` or ``~/.cache/torch_extensions``).
The build is tuned for the CPU it runs on (``-march=native``), so the cached
module name carries a digest of the CPU's feature flags.

Set ``XLING_NO_KERNEL=1`` to skip compilation and use the pure-PyTorch paths.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["load_word2vec", "load_topk", "kernel_error"]

_SOURCE_DIR = Path(__file__).resolve().parent
_lock = threading.Lock()
_cache: dict[str, object] = {}
_errors: dict[str, str] = {}


def _cpu_digest() -> str:
    flags = platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    flags += line
                    break
    except OSError:
        pass
    return hashlib.sha1(flags.encode()).hexdigest()[:8]


def _build_dir(name: str) -> str | None:
    root = os.environ.get("XLING_CACHE")
    if not root:
        return None  # torch's default cache
    path = Path(root).expanduser() / "torch_extensions" / name
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def _load(stem: str):
    with _lock:
        if stem in _cache:
            return _cache[stem]
        if stem in _errors:
            return None
        if os.environ.get("XLING_NO_KERNEL", "") not in ("", "0"):
            _errors[stem] = "disabled by XLING_NO_KERNEL"
            return None
        try:
            from torch.utils.cpp_extension import load

            name = f"xling_{stem}_{_cpu_digest()}"
            module = load(
                name=name,
                sources=[str(_SOURCE_DIR / f"{stem}.cpp")],
                extra_cflags=["-O3", "-march=native", "-mprefer-vector-width=512", "-fopenmp-simd", "-std=c++17"],
                build_directory=_build_dir(name),
                verbose=False,
            )
        except Exception as exc:  # no compiler, no ninja, or a failed build
            message = f"{type(exc).__name__}: {exc}".strip()
            _errors[stem] = message.splitlines()[0][:500] if message else type(exc).__name__
            logger.warning("compiled %s kernel unavailable (%s); using the PyTorch path", stem, _errors[stem])
            return None
        _cache[stem] = module
        return module


def load_word2vec():
    """Return the compiled word2vec module, or None when it cannot be built."""
    return _load("word2vec")


def load_topk():
    """Return the compiled top-k tile scanner, or None when it cannot be built."""
    return _load("topk")


def kernel_error(stem: str = "word2vec") -> str | None:
    """Why the kernel ``stem`` is unavailable (None when it loaded or was not tried)."""
    return _errors.get(stem)
