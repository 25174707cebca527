"""Compiled kernels, built with the package and chosen at run time for the CPU.

The C++ sources (``xling/_kernels/*.cpp``) are compiled when xling is built
(``pip install .`` or ``pip install -e .``, by scikit-build-core; see
CMakeLists.txt), once per instruction set, into the extension modules
``_portable`` (any CPU) and, on x86-64, ``_avx2`` and ``_avx512``. The first
call of :func:`load_word2vec`, :func:`load_topk` or :func:`load_vector_io`
imports the best module this CPU runs; importing xling never invokes a compiler.

Environment variables:

- ``XLING_ISA=avx512|avx2|portable`` forces one code path (``auto``, the
  default, picks the best); a path this build or CPU lacks raises XlingError.
- ``XLING_NO_KERNEL=1`` keeps the pure-PyTorch paths (and numpy and Python for text vector files).

The modules take numpy arrays; the thin wrappers here keep the torch-tensor
interface of the callers (``tensor.numpy()`` shares the memory of a CPU
tensor, so in-place updates land in the tensors).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
import warnings
from types import ModuleType

import numpy as np
import torch

from xling.exceptions import XlingError

__all__ = ["load_word2vec", "load_topk", "load_vector_io", "kernel_error", "kernel_isa", "available_isas", "ISAS"]

# Best first: "auto" takes the first one this build has and this CPU runs.
ISAS = ("avx512", "avx2", "portable")

# What falls back to PyTorch without each kernel, for the warning (ratios: BENCHMARKS.md, 2 CPU cores).
_SLOWER = {
    "word2vec": "SkipGram, CBOW and the joint trainers train on the PyTorch backend, about 15x slower",
    "topk": "CSLS neighbourhood terms on large CPU problems use the PyTorch top-k, about 1.5x slower",
    "vector_io": "word-vector text files are parsed by numpy and written by Python, about 4x slower",
}
_HOW_TO_GET = (
    "reinstall xling from its source with a C++17 compiler available "
    "(`pip install --force-reinstall --no-deps .`, or `pip install -e .` in a checkout)"
)

_lock = threading.Lock()
_state: dict[str, object] = {}  # "module" (the chosen build) or "error" (why none), set once
_warned: set[str] = set()


def _isa_request() -> str:
    value = os.environ.get("XLING_ISA", "").strip().lower() or "auto"
    if value != "auto" and value not in ISAS:
        raise XlingError(f"Expected XLING_ISA to be one of auto, {', '.join(ISAS)}; got {value!r}")
    return value


def _import(isa: str) -> ModuleType:
    return importlib.import_module(f"xling._kernels._{isa}")


def _compiled(portable: ModuleType) -> list[str]:
    """The builds present in this installation that this CPU runs, best first."""
    return [isa for isa in ISAS
            if portable.cpu_supports(isa) and importlib.util.find_spec(f"xling._kernels._{isa}") is not None]


def _choose() -> ModuleType | None:
    """Import the build XLING_ISA asks for (default: the best one); None when there is none."""
    with _lock:
        if "module" in _state:
            return _state["module"]  # type: ignore[return-value]
        if "error" in _state:
            return None
        if os.environ.get("XLING_NO_KERNEL", "") not in ("", "0"):
            _state["error"] = "disabled by XLING_NO_KERNEL"
            return None
        request = _isa_request()
        try:
            # The portable build imports on any CPU, so it is the one asked which others run.
            portable = _import("portable")
        except ImportError as exc:
            _state["error"] = f"the compiled extension is not installed ({type(exc).__name__}: {exc})"
            return None
        usable = _compiled(portable)
        if request == "auto":
            isa = usable[0]
        elif request in usable:
            isa = request
        else:
            raise XlingError(
                f"Expected XLING_ISA to name a code path this CPU runs and this build has "
                f"({', '.join(usable)}), got {request!r}"
            )
        _state["module"] = portable if isa == "portable" else _import(isa)
        return _state["module"]  # type: ignore[return-value]


def _load(stem: str):
    module = _choose()
    wrapper = _WRAPPERS[stem]
    if module is not None and hasattr(module, wrapper.entry):
        return wrapper(module)
    if module is None:
        error = str(_state["error"])
    else:  # see CMakeLists.txt: the kernel needs what this C++ library lacked
        error = "this build lacks it (its C++ library has no floating-point std::from_chars and std::to_chars)"
    if stem not in _warned and not error.startswith("disabled"):
        _warned.add(stem)
        warnings.warn(
            f"xling's compiled {stem} kernel is unavailable: {error}. {_SLOWER[stem]}. To get it, {_HOW_TO_GET}.",
            RuntimeWarning,
            stacklevel=3,
        )
    return None


def _array(t) -> np.ndarray:
    """A numpy view of a CPU tensor (same memory), or the array itself."""
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t


class _TopK:
    """The tile scanner of one compiled build, over float32 CPU tensors (see topk.cpp)."""

    entry = "fold_tile"  # the module function the kernel needs

    def __init__(self, module: ModuleType):
        self._module = module
        self.isa: str = module.ISA

    def fold_tile(self, S, row_top, col_top, n_threads: int) -> None:
        """Fold the tile ``S`` (n, m) into ``row_top`` (n, k_row) and ``col_top`` (m, k_col), in place.

        Entries of -inf in the sets mean "empty"; either k may be 0. All three are
        contiguous float32 CPU matrices.
        """
        self._module.fold_tile(_array(S), _array(row_top), _array(col_top), int(n_threads))

    def best_of_tile(self, S, scale: float, x_bias, z_bias, key: int, keep_threshold: int, row0: int, col0: int,
                     row_v, row_i, col_v, col_i, n_threads: int) -> None:
        """Fold ``scale * S - x_bias[:, None] - z_bias`` (S (n, m)) into the running best matches, in place.

        ``row_v`` float32 / ``row_i`` int64 (n,) and ``col_v`` / ``col_i`` (m,);
        a bias may be None. The tile is rows ``row0 + i`` and columns
        ``col0 + j`` of the whole problem, whose entries are dropped by the
        counter-based mask of ``key`` at ``keep_threshold`` (65536: none; see matches.cpp).
        """
        empty = np.empty(0, dtype=np.float32)
        self._module.best_of_tile(
            _array(S), float(scale), empty if x_bias is None else _array(x_bias),
            empty if z_bias is None else _array(z_bias), int(key), int(keep_threshold), int(row0), int(col0),
            _array(row_v), _array(row_i), _array(col_v), _array(col_i), int(n_threads),
        )


class _Word2Vec:
    """The Hogwild SGNS/CBOW kernel of one compiled build, over CPU tensors (see word2vec.cpp)."""

    entry = "train"

    def __init__(self, module: ModuleType):
        self._module = module
        self.isa: str = module.ISA

    def train(self, syn0, syn1, ids, offsets, job_bounds, job_alpha, keep, alias_prob, alias_idx,
              window: int, negative: int, cbow: bool, n_threads: int, seed: int) -> list[float]:
        """Train on jobs of sentences; updates ``syn0`` and ``syn1`` (n_words, dim) in place.

        ``ids`` int32 tokens, ``offsets`` int64 (n_sentences + 1), ``job_bounds`` int64 and
        ``job_alpha`` float32 (n_jobs + 1), ``keep``, ``alias_prob`` float32 and ``alias_idx``
        int32 (n_words). Returns ``[loss sum, loss terms, words kept]``.
        """
        return list(self._module.train(
            _array(syn0), _array(syn1), _array(ids), _array(offsets), _array(job_bounds), _array(job_alpha),
            _array(keep), _array(alias_prob), _array(alias_idx), int(window), int(negative), bool(cbow),
            int(n_threads), int(seed) % 2**64,
        ))

    def sample_alias(self, alias_prob, alias_idx, n: int, seed: int) -> torch.Tensor:
        """Draw ``n`` ids (int32, shape (n,)) from an alias table with the kernel's generator."""
        return torch.from_numpy(self._module.sample_alias(_array(alias_prob), _array(alias_idx), int(n),
                                                          int(seed) % 2**64))


class _VectorIO:
    """The word-vector text parser and formatter of one compiled build (see vector_io.cpp).

    They run without the GIL; text is parsed and formatted on
    ``torch.get_num_threads()`` threads when a block is large.
    """

    entry = "parse_text_rows"

    def __init__(self, module: ModuleType):
        self._module = module
        self.isa: str = module.ISA

    def parse_rows(self, block: bytes, rows: np.ndarray) -> bytes | None:
        """Parse the lines of ``block`` (each ending in ``\\n``) into ``rows``, in place.

        ``rows`` is a C-contiguous float32 matrix of shape (lines in ``block``,
        dim). Returns the words, each followed by a space, undecoded; or None
        when some line is not a word and ``dim`` finite numbers separated by
        single spaces (optionally one trailing space and ``\\r\\n``), and then
        ``rows`` holds garbage.
        """
        return self._module.parse_text_rows(block, rows, torch.get_num_threads())

    def format_rows(self, words: bytes, rows: np.ndarray, precision: int) -> bytes:
        """The lines ``word v1 ... vD\\n`` of ``words`` (bytes: n words joined by
        ``\\n``) and ``rows`` (n, D) C-contiguous float32, each value as
        ``"%.{precision}g" % value`` writes it."""
        return self._module.format_text_rows(words, rows, int(precision), torch.get_num_threads())


_WRAPPERS = {"word2vec": _Word2Vec, "topk": _TopK, "vector_io": _VectorIO}


def load_word2vec() -> _Word2Vec | None:
    """The compiled word2vec kernel, or None (with one warning) when it is not installed."""
    return _load("word2vec")


def load_topk() -> _TopK | None:
    """The compiled top-k tile scanner, or None (with one warning) when it is not installed."""
    return _load("topk")


def load_vector_io() -> _VectorIO | None:
    """The compiled word-vector text parser and formatter, or None (with one warning) when not installed."""
    return _load("vector_io")


def kernel_error(stem: str = "word2vec") -> str | None:
    """Why the compiled kernels are unavailable (None when they loaded or were not tried yet).

    ``stem`` is kept for the callers; all kernels live in the same build.
    """
    error = _state.get("error")
    return None if error is None else str(error)


def kernel_isa() -> str | None:
    """The instruction set of the active build ("avx512", "avx2", "portable"), or None without one."""
    module = _choose()
    return None if module is None else str(module.ISA)


def available_isas() -> list[str]:
    """The builds installed here that this CPU runs, best first (empty without the extension)."""
    try:
        portable = _import("portable")
    except ImportError:
        return []
    return _compiled(portable)
