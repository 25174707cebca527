"""What xling runs on: its version, the compiled kernels' code path, torch's threads and devices.

The command ``xling info`` prints :func:`info`; bug reports should include it.
"""

from __future__ import annotations

import platform

import torch

from xling._kernels import available_isas, kernel_error, kernel_isa

__all__ = ["info", "format_info"]


def info() -> dict[str, object]:
    """The backends this installation of xling uses.

    Loads the compiled kernels if they were not loaded yet (an import, no
    compilation).

    Returns
    -------
    dict
        ``xling`` (version), ``python``, ``machine`` (e.g. "x86_64"),
        ``kernel_isa`` (the active code path, "avx512", "avx2" or "portable", or
        None), ``kernel_isas`` (the paths this build has and this CPU runs, best
        first), ``kernel_error`` (why there is no kernel, else None), ``torch``
        (version), ``torch_threads``, ``cuda_devices`` (one name per visible
        device; empty without CUDA).

    Examples
    --------
    >>> report = info()
    >>> report["torch"] == torch.__version__
    True
    """
    from xling import __version__

    isa = kernel_isa()
    return {
        "xling": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "kernel_isa": isa,
        "kernel_isas": available_isas(),
        "kernel_error": None if isa is not None else kernel_error(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }


def format_info(report: dict[str, object]) -> str:
    """``report`` (from :func:`info`) as aligned ``key: value`` lines."""
    width = max(len(key) for key in report)
    lines = []
    for key, value in report.items():
        if isinstance(value, list):
            value = ", ".join(map(str, value)) or "none"
        lines.append(f"{key + ':':<{width + 1}} {value}")
    return "\n".join(lines)
