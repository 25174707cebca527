"""Exact nearest-neighbour retrieval by cosine, CSLS and inverted softmax.

Every function here scores queries ``Q`` (n_q, d) against keys ``K`` (n_k, d)
by cosine similarity (rows are unit-normalised inside; zero rows stay zero and
score 0 against everything) and never builds the full (n_q, n_k) score matrix:
the work is cut into tiles of ``batch_size`` queries x ``tile_size`` keys, each
tile is one matrix product into a preallocated buffer, and the top-k of each
tile is merged into a running top-k. Peak extra memory is about
``4 * batch_size * tile_size`` bytes plus the normalised inputs.

Methods
-------
``"nn"``
    Cosine similarity.
``"csls"``
    Cross-domain similarity local scaling (Conneau et al. 2018)::

        CSLS(x, y) = 2 cos(x, y) - r_T(x) - r_S(y)

    where ``r_T(x)`` is the mean cosine of ``x`` to its ``knn_k`` nearest keys and
    ``r_S(y)`` the mean cosine of key ``y`` to its ``knn_k`` nearest *sources*.
    The sources default to the queries; pass all source vectors as ``sources``
    to follow MUSE, which computes ``r_S`` against the whole source vocabulary.
``"isf"``
    Inverted softmax (Smith et al. 2017): the probability of retrieving the
    query ``x`` given the key ``y``, normalised over the sources::

        P(x | y) = exp(beta cos(x, y)) / sum_{x'} exp(beta cos(x', y))

    Scores are ``log P(x | y)`` (same ranking, no underflow). As for CSLS, the
    sum runs over ``sources`` (default: the queries).
``"invnn"``
    Inverted nearest neighbour (VecMap's ``--retrieval invnn``; Dinu et al.
    2015): each key ranks the sources by cosine, and the keys of a query are
    ordered by the rank the query holds in their lists (best first), ties by
    cosine::

        r_y(x) = 1 + #{x' in sources : cos(x', y) > cos(x, y)}

    See :func:`inverted_nn` for the score and how it stays exact and bounded
    in memory. Used for retrieval and evaluation, not dictionary induction.

What is here
------------
Top-k retrieval (:func:`knn`, :func:`csls`, :func:`inverted_softmax`,
:func:`inverted_nn`, :func:`retrieve`, :func:`translate`); the CSLS terms (:func:`csls_terms`,
:func:`topk_mean`); repeated passes over one problem (:class:`Scorer`: top k,
then full-ranking ranks, as BLI evaluation needs); dictionary induction, the
inner step of self-learning and adversarial refinement (:func:`best_matches`,
with optional stochastic dropout, and :func:`induce_pairs`); the unsupervised
model-selection criterion (:func:`unsupervised_criterion`); and the one row
normaliser of xling's torch code (:func:`unit_rows`). Every solver that
retrieves goes through these functions, so a speed-up here reaches them all.

Speed
-----
On the CPU the top-k of a tile is found from group maxima (a cheap vectorised
reduction selects the only groups that can hold the top k, then a small top-k
runs over their members), which costs a fraction of ``torch.topk`` over the
whole tile. The CSLS terms (values only, no indices) of large problems go
through a compiled scanner instead (``xling/_kernels/topk.cpp``), which folds
each tile into running row and column top-k sets in one read of the tile;
it is compiled when xling is installed, and ``XLING_NO_KERNEL=1`` keeps the PyTorch path.
Dictionary induction reads the row and the column maxima (with their indices)
of each tile from block maxima, and carries the CSLS terms inside the matrix
product (two extra columns), so a tile is read twice and never rewritten. A
faster matrix-product precision (oneDNN's ``fp32_precision``) is
used only if, measured once at run time on a sample, its error against float64
is below 1e-5; otherwise plain float32 products are used. Results are exact
float32 cosine scores either way.

Precision
---------
Everything runs in float32 unless a :func:`precision` block says "fp64"
(reference scores; the compiled scanner is skipped, it reads float32 only)
or "fp16" (half the memory for inputs and products, meant for GPUs; the
running terms stay float32). Ties are judged within the precision's
rounding (:attr:`Scorer.tolerance`).

All functions accept numpy arrays or torch tensors and return CPU tensors.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import math
from dataclasses import dataclass
from typing import Iterator, Literal

import numpy as np
import torch

from xling._kernels import load_topk
from xling._utils import resolve_device
from xling.exceptions import InputError

logger = logging.getLogger(__name__)

__all__ = [
    "knn",
    "topk_mean",
    "csls_terms",
    "csls",
    "inverted_softmax",
    "inverted_nn",
    "retrieve",
    "Scorer",
    "best_matches",
    "vecmap_matches",
    "Matches",
    "induce_pairs",
    "mutual_nn_pairs",
    "unsupervised_criterion",
    "translate",
    "unit_rows",
    "precision",
    "at_precision",
    "check_precision",
    "current_precision",
    "PRECISIONS",
    "METHODS",
    "DIRECTIONS",
]

METHODS = ("nn", "csls", "isf", "invnn")
Method = Literal["nn", "csls", "isf", "invnn"]
# Methods of dictionary induction (best_matches): scores that rank both ways in one pass.
_MATCH_METHODS = ("nn", "csls", "isf")

# Tile shape defaults. On the CPU, all queries (up to 4096) x 8192 keys keeps the
# key tile (8192 x 300 floats, ~10 MB) cache-friendly while the product stays large
# enough for full matmul speed; on a GPU much larger tiles amortise kernel launches.
_CPU_BATCH, _CPU_TILE = 4096, 8192
_GPU_BATCH, _GPU_TILE = 8192, 32768
# Group size of the grouped top-k (rows and columns); tuned on the CPU.
_ROW_GROUP, _COL_GROUP = 64, 16
_EPS = 1e-12
# Problems with at least this many cosines use the compiled tile scanner on the
# CPU (below it the PyTorch path takes well under a second).
_KERNEL_MIN_SCORES = 1 << 26
# Dictionary induction on the CPU keeps the whole (n_x, n_z) product when it is
# at most this many bytes (the 20,000 x 20,000 of self-learning's usual cutoff
# is 1.6 GB): the CSLS terms and the matches then come from one matrix product
# instead of two, which is most of an iteration's arithmetic.
_STORED_SCORES_BYTES = 2 << 30


# ---------------------------------------------------------------------------
# inputs, devices, precision
# ---------------------------------------------------------------------------
#: Floating-point precisions of retrieval, by name (VecMap's ``--precision``).
PRECISIONS = {"fp16": torch.float16, "fp32": torch.float32, "fp64": torch.float64}
_DTYPE: contextvars.ContextVar[torch.dtype] = contextvars.ContextVar("xling_retrieval_dtype", default=torch.float32)
# Score differences within these count as ties (see Scorer.tolerance).
_TOLERANCE = {torch.float16: 2e-3, torch.float32: 1e-5, torch.float64: 1e-12}


@contextlib.contextmanager
def precision(name: str) -> Iterator[None]:
    """Run the retrieval inside the block at precision ``name``: "fp16", "fp32" (default) or "fp64".

    Every function of this module casts its inputs to that precision and
    computes the products in it; "fp64" gives reference scores (no compiled
    scanner: it reads float32 only), "fp16" halves the memory of the inputs
    and of the products (on the CPU it is slower than "fp32": made for GPUs).
    Running terms (CSLS neighbourhoods, softmax normalisers, the top-k kept)
    are float32 at "fp16" (a half-precision sum over many sources
    overflows), of the precision itself otherwise; scores come back in it.
    The setting belongs to the current thread (a context variable), like
    scikit-learn's ``config_context``.

    Examples
    --------
    >>> import numpy as np
    >>> with precision("fp64"):
    ...     scores, _ = knn(np.eye(2), np.eye(2), k=1)
    >>> scores.dtype
    torch.float64
    """
    token = _DTYPE.set(PRECISIONS[check_precision(name)])
    try:
        yield
    finally:
        _DTYPE.reset(token)


def check_precision(name: str) -> str:
    """``name`` if it is one of :data:`PRECISIONS`, else an InputError that lists them."""
    if name not in PRECISIONS:
        raise InputError(f"Expected precision fp16, fp32 or fp64, got {name!r}")
    return name


def at_precision(name: str | None):
    """``precision(name)``, or a block that changes nothing for None (the default of ``precision=`` arguments)."""
    return precision(name) if name is not None else contextlib.nullcontext()


def current_precision() -> str:
    """The name of the precision in effect ("fp32" outside any :func:`precision` block)."""
    return next(name for name, dtype in PRECISIONS.items() if dtype == _DTYPE.get())


def _accumulator(dtype: torch.dtype) -> torch.dtype:
    """The dtype of running terms and kept scores for products of ``dtype``: float32 for half precision."""
    return torch.float32 if dtype == torch.float16 else dtype


def _score_dtype() -> torch.dtype:
    """The dtype of the scores and terms this module returns at the current precision."""
    return _accumulator(_DTYPE.get())


def _tie_tolerance(dtype: torch.dtype, scale: float) -> float:
    """Score differences that count as ties for products of ``dtype`` scaled by ``scale`` (see Scorer.tolerance)."""
    return _TOLERANCE[dtype] * max(1.0, scale)


def _matrix(A, name: str, device: torch.device | None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``A`` as a 2-D, non-empty tensor on ``device`` (None: where A is; arrays: the CPU).

    Of ``dtype``, by default the one of the current :func:`precision`.
    """
    if isinstance(A, torch.Tensor):
        T = A.detach()
    else:
        T = torch.from_numpy(np.ascontiguousarray(np.asarray(A, dtype=np.float32)))
    if T.ndim != 2:
        raise InputError(f"Expected {name} to be a 2-D matrix (n, dim), got shape {tuple(T.shape)}")
    if T.shape[0] == 0 or T.shape[1] == 0:
        raise InputError(f"Expected {name} to be non-empty, got shape {tuple(T.shape)}")
    return T.to(device=T.device if device is None else device, dtype=_DTYPE.get() if dtype is None else dtype)


def _raise_non_finite(T: torch.Tensor, rows: torch.Tensor, name: str) -> None:
    """Raise for the first of ``rows`` that holds NaN or inf, if any."""
    bad = rows[~torch.isfinite(T[rows]).all(dim=1)]
    if len(bad):
        raise InputError(f"Expected finite values in {name}, got NaN or inf in row {int(bad[0])}")


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise InputError(f"Expected direction forward, backward, union or intersection, got {direction!r}")


def unit_rows(A, name: str = "A", device=None) -> torch.Tensor:
    """Copy of ``A`` with unit-length rows, of the current :func:`precision` (float32 by default); zero rows stay zero.

    The one row normaliser of xling's torch code: retrieval, dictionary
    induction and the solvers that need cosines all use it (the numpy
    preprocessing pipeline has its own ``"unit"`` step).

    Parameters
    ----------
    A : array-like or Tensor of shape (n, d)
    name : str
        How error messages call ``A``.
    device : str or torch.device, optional
        Where the result lives; None keeps a tensor's device (the CPU for arrays).

    Returns
    -------
    Tensor of shape (n, d), contiguous
        float32, or float16 / float64 inside ``precision("fp16")`` / ``precision("fp64")``;
        ``A`` is not modified.

    Raises
    ------
    ValueError
        ``A`` is not a non-empty 2-D matrix, or holds NaN or inf (the message names the row).

    Examples
    --------
    >>> unit_rows([[3.0, 4.0], [0.0, 0.0]]).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    dtype = _DTYPE.get()
    # half precision is normalised in float32 first: raw values may overflow it, unit ones cannot
    T = _matrix(A, name, None if device is None else torch.device(device), _accumulator(dtype))
    # One pass for the norms; a non-finite norm flags NaN/inf entries (or float32
    # overflow of the squares, which float64 norms then avoid).
    norms = torch.linalg.vector_norm(T, dim=1, keepdim=True)
    if not bool(torch.isfinite(norms).all()):
        _raise_non_finite(T, (~torch.isfinite(norms[:, 0])).nonzero()[:, 0], name)
        norms = torch.linalg.vector_norm(T.double(), dim=1, keepdim=True)
        return (T.double() / norms.clamp_min(_EPS)).to(dtype).contiguous()
    return (T / norms.clamp_min(_EPS)).to(dtype).contiguous()


def _finite_rows(A, name: str, device: torch.device) -> torch.Tensor:
    """``A`` as given (not normalised), of the current :func:`precision` on ``device``, checked for NaN and inf."""
    T = _matrix(A, name, device)
    finite = torch.isfinite(T).all(dim=1)
    if not bool(finite.all()):
        _raise_non_finite(T, (~finite).nonzero()[:, 0], name)
    return T.contiguous()


def _check_pair(Q: torch.Tensor, K: torch.Tensor, qname: str, kname: str) -> None:
    if Q.shape[1] != K.shape[1]:
        raise InputError(
            f"Expected {qname} and {kname} of the same dimension, got {Q.shape[1]} and {K.shape[1]}"
        )


def _check_k(k: int, name: str = "k") -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise InputError(f"Expected {name} to be a positive integer, got {k!r}")
    return int(k)


def _sizes(device: torch.device, batch_size: int | None, tile_size: int | None) -> tuple[int, int]:
    gpu = device.type == "cuda"
    bq = batch_size if batch_size is not None else (_GPU_BATCH if gpu else _CPU_BATCH)
    bt = tile_size if tile_size is not None else (_GPU_TILE if gpu else _CPU_TILE)
    for name, value in (("batch_size", bq), ("tile_size", bt)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"Expected {name} to be a positive integer, got {value!r}")
    return int(bq), int(bt)


@functools.lru_cache(maxsize=None)
def _fast_precision_ok() -> bool:
    """Whether oneDNN's faster fp32 matmul keeps float32 accuracy on this CPU.

    On CPUs with native bf16 the "bf16" setting may really round the inputs to
    bf16 (errors ~1e-3), elsewhere it keeps fp32 accuracy; so measure it once on
    unit vectors against float64 and accept it only below 1e-5.
    """
    backend = getattr(torch.backends.mkldnn, "matmul", None)
    if backend is None or not hasattr(backend, "fp32_precision") or not torch.backends.mkldnn.is_available():
        return False
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(64, 300, generator=gen)
    B = torch.randn(512, 300, generator=gen)
    A = A / A.norm(dim=1, keepdim=True)
    B = B / B.norm(dim=1, keepdim=True)
    previous = backend.fp32_precision
    try:
        backend.fp32_precision = "bf16"
        fast = torch.mm(A, B.T)
    except (RuntimeError, ValueError):
        return False
    finally:
        backend.fp32_precision = previous
    err = float((fast.double() - A.double() @ B.double().T).abs().max())
    logger.debug("oneDNN bf16 fp32_precision error on unit vectors: %.2e", err)
    return err < 1e-5


@contextlib.contextmanager
def _fast_matmul(device: torch.device) -> Iterator[None]:
    """Use the faster oneDNN fp32 path inside the block when it was found exact enough."""
    if device.type != "cpu" or not _fast_precision_ok():
        yield
        return
    backend = torch.backends.mkldnn.matmul
    previous = backend.fp32_precision
    backend.fp32_precision = "bf16"
    try:
        yield
    finally:
        backend.fp32_precision = previous


def _tiles(
    Q: torch.Tensor, K: torch.Tensor, bq: int, bt: int, scale: float = 1.0
) -> Iterator[tuple[slice, slice, torch.Tensor]]:
    """Yield ``(query rows, key columns, scale * cosine tile)``, query blocks outermost.

    The scale is applied to the query block, not to the tile, which saves a pass
    over every tile (and is exact for powers of two). The tile is a view of one
    preallocated buffer, valid until the next step (consumers may modify it in place).
    """
    bq, bt = min(bq, Q.shape[0]), min(bt, K.shape[0])
    buf = torch.empty(bq * bt, dtype=Q.dtype, device=Q.device)
    with _fast_matmul(Q.device):
        for q0 in range(0, Q.shape[0], bq):
            qs = slice(q0, min(q0 + bq, Q.shape[0]))
            Qb = Q[qs] if scale == 1.0 else Q[qs] * scale
            for k0 in range(0, K.shape[0], bt):
                ks = slice(k0, min(k0 + bt, K.shape[0]))
                n, m = qs.stop - qs.start, ks.stop - ks.start
                S = buf[: n * m].view(n, m)
                torch.mm(Qb, K[ks].T, out=S)
                yield qs, ks, S


def _stored_rows(scores: torch.Tensor, bq: int) -> Iterator[tuple[slice, slice, torch.Tensor]]:
    """The tiles of :func:`_tiles` from a stored product: blocks of ``bq`` whole rows, as read-only views."""
    n_x, n_z = scores.shape
    for q0 in range(0, n_x, bq):
        qs = slice(q0, min(q0 + bq, n_x))
        yield qs, slice(0, n_z), scores[qs]


def _stored_tiles(
    scores: torch.Tensor, bq: int, scale: float = 1.0, x_bias: torch.Tensor | None = None,
    z_bias: torch.Tensor | None = None,
) -> Iterator[tuple[slice, slice, torch.Tensor]]:
    """The blocks of :func:`_stored_rows` as ``scale * scores[rows] - x_bias[rows, None] - z_bias[None, :]``.

    Each is written to one preallocated buffer (consumers may modify it in
    place; ``scores`` is left as it is).
    """
    buf = torch.empty(min(bq, scores.shape[0]) * scores.shape[1], dtype=scores.dtype, device=scores.device)
    for qs, ks, block in _stored_rows(scores, bq):
        S = buf[: block.numel()].view_as(block)
        torch.mul(block, scale, out=S)
        if x_bias is not None:
            S.sub_(x_bias[qs, None])
        if z_bias is not None:
            S.sub_(z_bias)
        yield qs, ks, S


def _stores_scores(X: torch.Tensor, Z: torch.Tensor) -> bool:
    """Whether dictionary induction keeps the whole product X Zᵀ (see ``_STORED_SCORES_BYTES``).

    On the CPU only: a GPU's products are cheap next to its memory.
    """
    return X.device.type == "cpu" and X.element_size() * X.shape[0] * Z.shape[0] <= _STORED_SCORES_BYTES


def _product(X: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
    """X Zᵀ, (n_x, n_z), with the matrix-product precision of the tiles."""
    with _fast_matmul(X.device):
        return X @ Z.T


# ---------------------------------------------------------------------------
# top-k of a tile
# ---------------------------------------------------------------------------
def _topk_rows(S: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k of each row of ``S`` (n, m): values and column indices, sorted descending.

    The first ``m0 = g * (m // g)`` columns are cut into blocks of g consecutive
    columns; the k blocks with the largest maxima contain the top k of those
    columns (any top-k element's block maximum is at least the k-th largest
    element, which is at least the k-th largest block maximum), so only their
    k * g members are ranked, together with the last ``m - m0`` columns.
    """
    n, m = S.shape
    k = min(k, m)
    g = _ROW_GROUP
    groups = m // g
    if S.device.type != "cpu" or groups < 4 * k:
        return S.topk(k, dim=1)
    m0 = groups * g
    blocks = S[:, :m0].view(n, groups, g)
    gidx = blocks.amax(dim=2).topk(k, dim=1, sorted=False).indices
    # an expanded (not materialised) index gathers whole contiguous blocks
    cand = blocks.gather(1, gidx.unsqueeze(2).expand(n, k, g)).view(n, k * g)
    if m0 < m:
        cand = torch.cat([cand, S[:, m0:]], dim=1)
    values, pos = cand.topk(k, dim=1)
    in_block = pos < k * g
    cols = torch.where(in_block, gidx.gather(1, (pos // g).clamp_max(k - 1)) * g + pos % g, pos - k * g + m0)
    return values, cols


def _topk_cols(S: torch.Tensor, k: int) -> torch.Tensor:
    """Top-k values of each column of ``S`` (n, m), as an (m, k) matrix sorted descending.

    Same idea as :func:`_topk_rows`, over rows; the groups are strided,
    ``{r, r + n // g, ...}``, so that the group maxima reduce over the outer axis
    and vectorise along the contiguous columns.
    """
    n, m = S.shape
    k = min(k, n)
    g = _COL_GROUP
    groups = n // g
    if S.device.type != "cpu" or groups < 2 * k:
        return S.topk(k, dim=0).values.T
    n0 = groups * g
    gmax = S[:n0].view(g, groups, m).amax(dim=0).T.contiguous()
    gidx = gmax.topk(k, dim=1, sorted=False).indices
    rows = (gidx.unsqueeze(2) + groups * torch.arange(g, device=S.device).view(1, 1, g)).view(m, k * g)
    if n0 < n:
        rows = torch.cat([rows, torch.arange(n0, n, device=S.device).expand(m, n - n0)], dim=1)
    return S.T.gather(1, rows).topk(k, dim=1).values


def _merge(values, indices, new_values, new_indices, k):
    """Merge two (n, *) top lists into the top k; indices may be None."""
    v = torch.cat([values, new_values], dim=1)
    top, pos = v.topk(min(k, v.shape[1]), dim=1)
    if indices is None:
        return top, None
    return top, torch.cat([indices, new_indices], dim=1).gather(1, pos)


def _argmax_rows(S: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximum of each row of ``S`` (n, m) and its first column, like ``S.max(dim=1)``.

    On the CPU, through the maxima of blocks of ``_ROW_GROUP`` consecutive
    columns (a vectorised reduction): the first block holding the row maximum
    is searched alone, which takes about a third of the time of ``max``.
    """
    n, m = S.shape
    g = _ROW_GROUP
    groups = m // g
    if S.device.type != "cpu" or groups < 2:
        return S.max(dim=1)
    m0 = groups * g
    v, b = S[:, :m0].view(n, groups, g).amax(dim=2).max(dim=1)
    cols = b.unsqueeze(1) * g + torch.arange(g, device=S.device)
    i = cols.gather(1, S.gather(1, cols).max(dim=1).indices.unsqueeze(1))[:, 0]
    if m0 < m:
        tv, ti = S[:, m0:].max(dim=1)
        later = tv > v  # strictly: a tie keeps the earlier column
        v, i = torch.where(later, tv, v), torch.where(later, ti + m0, i)
    return v, i


def _argmax_cols(S: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximum of each column of ``S`` (n, m) and its first row, like ``S.max(dim=0)``.

    ``max`` over the outer axis does not vectorise on the CPU (about 8x slower
    than over rows); the maxima of blocks of ``_COL_GROUP`` consecutive rows do,
    and the remaining searches run over small transposed copies.
    """
    n, m = S.shape
    g = _COL_GROUP
    groups = n // g
    if S.device.type != "cpu" or groups < 2:
        return S.max(dim=0)
    n0 = groups * g
    v, b = S[:n0].view(groups, g, m).amax(dim=1).T.contiguous().max(dim=1)
    rows = b.unsqueeze(0) * g + torch.arange(g, device=S.device).unsqueeze(1)  # (g, m)
    i = b * g + S.gather(0, rows).T.contiguous().max(dim=1).indices
    if n0 < n:
        tv, ti = S[n0:].max(dim=0)
        later = tv > v
        v, i = torch.where(later, tv, v), torch.where(later, ti + n0, i)
    return v, i


def _topk_kernel(X: torch.Tensor, n_scores: int, *, masked: bool = False):
    """The compiled tile scanner for a CPU problem of ``n_scores`` cosines of float32 ``X``, else None.

    Small problems keep the PyTorch path: they are fast anyway, and the kernel
    pays off only on large tiles. Not so with the dropout mask (``masked``):
    hashing every entry in tensors costs more than the whole scan in the kernel.
    The kernel reads float32 only; other precisions keep the PyTorch path.
    """
    if X.device.type != "cpu" or X.dtype != torch.float32 or (n_scores < _KERNEL_MIN_SCORES and not masked):
        return None
    return load_topk()


# ---------------------------------------------------------------------------
# passes
# ---------------------------------------------------------------------------
def _row_pass(
    Q: torch.Tensor,
    K: torch.Tensor,
    k: int,
    bq: int,
    bt: int,
    *,
    scale: float = 1.0,
    key_bias: torch.Tensor | None = None,
    cos_k: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Top-k of ``scale * cos(q, y) - key_bias[y]`` for every query.

    With ``cos_k > 0`` also returns the mean of each query's ``cos_k`` largest
    plain cosines (the CSLS term r_T) from the same tiles (``scale`` must then be
    a power of two, so that dividing by it is exact).
    """
    n_q, n_k = Q.shape[0], K.shape[0]
    k = min(k, n_k)
    acc = _accumulator(Q.dtype)
    out_v = torch.empty(n_q, k, dtype=acc, device=Q.device)
    out_i = torch.empty(n_q, k, dtype=torch.int64, device=Q.device)
    r = torch.empty(n_q, dtype=acc, device=Q.device) if cos_k else None
    top_v = top_i = cos_top = None
    for qs, ks, S in _tiles(Q, K, bq, bt, scale):
        if ks.start == 0:
            top_v = top_i = cos_top = None
        if cos_k:
            cv, _ = _topk_rows(S, cos_k)
            cos_top = cv if cos_top is None else _merge(cos_top, None, cv, None, cos_k)[0]
        if key_bias is not None:
            S.sub_(key_bias[ks])
        v, i = _topk_rows(S, k)
        i += ks.start
        if top_v is None:
            top_v, top_i = v, i
        else:
            top_v, top_i = _merge(top_v, top_i, v, i, k)
        if ks.stop == n_k:
            out_v[qs], out_i[qs] = top_v, top_i
            if cos_k:
                r[qs] = cos_top.mean(dim=1) / scale
    return out_v, out_i, r


def _mean_of_top(top: torch.Tensor) -> torch.Tensor:
    """Mean of each row of a top-k set, summed in descending order.

    The kernel keeps its sets unordered, in an order that depends on the tiling;
    summing sorted values makes a term depend on the values alone, so a shard of
    the keys (tiled differently) merges to the very terms of one process.
    """
    return top.sort(dim=1, descending=True).values.mean(dim=1)


def _fused_terms(X: torch.Tensor, Z: torch.Tensor, knn_k: int, bq: int, bt: int, *, columns: bool = True,
                 keep_rows: bool = False, scores: torch.Tensor | None = None):
    """Mean of the knn_k largest cosines per row of X Zᵀ and (if ``columns``) per column, in one pass.

    Returns ``(r_x, r_z)``; ``r_z`` is None without ``columns``. With
    ``keep_rows`` also the row top-k values themselves, (n_x, min(knn_k, n_z))
    sorted descending, as a third element. ``scores``: X Zᵀ already computed,
    (n_x, n_z), read in blocks of ``bq`` whole rows instead of recomputed.
    """
    n_x, n_z = X.shape[0], Z.shape[0]
    kx, kz = min(knn_k, n_z), (min(knn_k, n_x) if columns else 0)
    kernel = _topk_kernel(X, n_x * n_z)
    if kernel is None and not columns and scores is None:
        top = _row_pass(X, Z, kx, bq, bt)[0]
        return (top.mean(dim=1), None) + ((top,) if keep_rows else ())
    tiles = _tiles(X, Z, bq, bt) if scores is None else _stored_rows(scores, bq)  # both passes only read them
    acc = _accumulator(X.dtype)
    r_x = torch.empty(n_x, dtype=acc, device=X.device)
    rows = torch.empty(n_x, kx, dtype=acc, device=X.device) if keep_rows else None
    col_top = torch.full((n_z, kz), -math.inf, dtype=acc, device=X.device)
    if kernel is not None:
        threads = torch.get_num_threads()
        for qs, ks, S in tiles:
            if ks.start == 0:
                row_top = torch.full((qs.stop - qs.start, kx), -math.inf)
            kernel.fold_tile(S, row_top, col_top[ks], threads)
            if ks.stop == n_z:
                row_top = row_top.sort(dim=1, descending=True).values
                r_x[qs] = row_top.mean(dim=1)
                if keep_rows:
                    rows[qs] = row_top
    else:
        row_top = None
        for qs, ks, S in tiles:
            v, _ = _topk_rows(S, kx)
            row_top = v if ks.start == 0 else _merge(row_top, None, v, None, kx)[0]
            if ks.stop == n_z:
                r_x[qs] = row_top.mean(dim=1)
                if keep_rows:
                    rows[qs] = row_top
            if columns:
                cv = _topk_cols(S, kz)
                col_top[ks] = _merge(col_top[ks], None, cv, None, kz)[0]
    out = (r_x, (_mean_of_top(col_top) if columns else None))
    return out + ((rows,) if keep_rows else ())


def _column_logsumexp(X: torch.Tensor, Z: torch.Tensor, beta: float, bq: int, bt: int) -> torch.Tensor:
    """``log sum_x exp(beta cos(x, z))`` for every row z of Z, sources X (online, stable)."""
    n_z = Z.shape[0]
    acc = _accumulator(X.dtype)  # a half-precision sum over many sources would overflow
    run_max = torch.full((n_z,), -math.inf, dtype=acc, device=X.device)
    run_sum = torch.zeros(n_z, dtype=acc, device=X.device)
    for _, ks, S in _tiles(X, Z, bq, bt, beta):
        new_max = torch.maximum(run_max[ks], S.amax(dim=0))
        run_sum[ks] = run_sum[ks] * torch.exp(run_max[ks] - new_max) + S.sub_(new_max).exp_().sum(dim=0)
        run_max[ks] = new_max
    return run_max + torch.log(run_sum)


def _count_above(
    Q: torch.Tensor,
    K: torch.Tensor,
    thresholds: torch.Tensor,
    bq: int,
    bt: int,
    *,
    scale: float = 1.0,
    key_bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per query, how many keys score strictly above ``thresholds`` (same tiles as :func:`_row_pass`)."""
    counts = torch.zeros(Q.shape[0], dtype=torch.int64, device=Q.device)
    for qs, ks, S in _tiles(Q, K, bq, bt, scale):
        if key_bias is not None:
            S.sub_(key_bias[ks])
        counts[qs] += (S > thresholds[qs, None]).sum(dim=1)
    return counts


def _with_bias_columns(X: torch.Tensor, Z: torch.Tensor, scale: float, x_bias, z_bias):
    """``(X', Z')`` with ``X' Z'ᵀ = scale X Zᵀ - x_bias[:, None] - z_bias[None, :]``.

    The biases ride in the matrix product as two extra columns (``-x_bias, -1``
    against ``1, z_bias``), so a tile needs no pass of its own to subtract them;
    zero columns pad the width to a multiple of 16, which the CPU's matrix
    product handles faster than an odd width.
    """
    n_x, n_z, d = X.shape[0], Z.shape[0], X.shape[1]
    width = -(-(d + 2) // 16) * 16
    Xa = torch.zeros(n_x, width, dtype=X.dtype, device=X.device)
    Za = torch.zeros(n_z, width, dtype=Z.dtype, device=Z.device)
    torch.mul(X, scale, out=Xa[:, :d])
    Za[:, :d] = Z
    Xa[:, d] = 0.0 if x_bias is None else -x_bias
    Xa[:, d + 1] = -1.0
    Za[:, d] = 1.0
    Za[:, d + 1] = 0.0 if z_bias is None else z_bias
    return Xa, Za


# The dropout mask of stochastic dictionary induction is a function of (key,
# row, column): the same whatever the tiling, the threads, the shard or the
# device. The kernel (matches.cpp) computes it inline; the tensor path here
# computes the same bits.
_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B1


def _mask_key(generator: torch.Generator | None) -> int:
    """The 32-bit key of one call's mask: one draw from ``generator``."""
    device = generator.device if generator is not None else "cpu"
    return int(torch.randint(0, 2**32, (1,), generator=generator, device=device))


def _keep_threshold(keep_prob: float) -> int:
    """Entries whose 16 mask bits are below this are kept: ``keep_prob`` in steps of 2^-16, at least one step."""
    return max(1, min(1 << 16, round(keep_prob * (1 << 16))))


def _fmix32(h: torch.Tensor) -> torch.Tensor:
    """MurmurHash3's 32-bit finaliser on int64 tensors holding 32-bit values (products wrap; the mask keeps 32 bits)."""
    h = h ^ (h >> 16)
    h = (h * 0x85EBCA6B) & _M32
    h = h ^ (h >> 13)
    h = (h * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def _mask_bits(key: int, rows: slice, cols: slice, device: torch.device) -> torch.Tensor:
    """The 16 mask bits of the entries (rows, cols) of the whole problem: (n, m) int64 in [0, 2^16)."""
    r = torch.arange(rows.start, rows.stop, dtype=torch.int64, device=device)
    c = torch.arange(cols.start, cols.stop, dtype=torch.int64, device=device)
    h_row = _fmix32(key ^ _fmix32((r * _GOLDEN + 0x7F4A7C15) & _M32))
    return _fmix32((h_row[:, None] + ((c * _GOLDEN) & _M32)[None, :]) & _M32) >> 16


def _best_both_ways(Xn, Zn, bq, bt, *, scale=1.0, x_bias=None, z_bias=None, keep_prob=1.0, generator=None,
                    key=None, column_offset=0, scores=None):
    """Best z per x and best x per z of ``C = scale cos(x, z) - x_bias[x] - z_bias[z]``.

    The row maxima of C rank the z of each x by ``scale cos - z_bias`` and the
    column maxima rank the x of each z by ``scale cos - x_bias`` (the other bias
    is constant along each), so every tile of C serves both directions. With
    ``keep_prob < 1`` each entry of C is ignored with probability ``1 - keep_prob``
    (stochastic dictionary induction), by a mask that depends only on one key
    drawn from ``generator`` and the entry's row and column; Z's columns are
    those from ``column_offset`` on of the whole problem (a shard sees the
    whole problem's mask). ``key``: the mask's key itself, instead of a draw
    from ``generator``. ``scores``: the cosines X Zᵀ already computed,
    (n_x, n_z), from which C is taken instead of a second product.

    Returns ``(row_max, row_arg, col_max, col_arg)``: values of C, shapes (n_x,)
    and (n_z,); ties go to the first index.
    """
    n_x, n_z = Xn.shape[0], Zn.shape[0]
    dev = Xn.device
    key = (_mask_key(generator) if key is None else key) if keep_prob < 1.0 else 0
    threshold = _keep_threshold(keep_prob) if keep_prob < 1.0 else 1 << 16
    acc = _accumulator(Xn.dtype)
    fv = torch.full((n_x,), -math.inf, dtype=acc, device=dev)
    fi = torch.zeros(n_x, dtype=torch.int64, device=dev)
    bv = torch.full((n_z,), -math.inf, dtype=acc, device=dev)
    bi = torch.zeros(n_z, dtype=torch.int64, device=dev)
    kernel = _topk_kernel(Xn, n_x * n_z, masked=keep_prob < 1.0)
    if kernel is not None:
        # the kernel applies scale, biases and mask as it reads each score
        tiles = [(slice(0, n_x), slice(0, n_z), scores)] if scores is not None else _tiles(Xn, Zn, bq, bt)
        threads = torch.get_num_threads()
        for qs, ks, S in tiles:
            kernel.best_of_tile(S, scale, None if x_bias is None else x_bias[qs], None if z_bias is None else z_bias[ks],
                                key, threshold, qs.start, column_offset + ks.start, fv[qs], fi[qs], bv[ks], bi[ks],
                                threads)
        fi -= column_offset
        return fv, fi, bv, bi
    if scores is not None:
        tiles = _stored_tiles(scores, bq, scale, x_bias, z_bias)
    else:
        if x_bias is not None or z_bias is not None:
            Xn, Zn = _with_bias_columns(Xn, Zn, scale, x_bias, z_bias)
            scale = 1.0
        tiles = _tiles(Xn, Zn, bq, bt, scale)
    for qs, ks, S in tiles:
        if keep_prob < 1.0:
            cols = slice(column_offset + ks.start, column_offset + ks.stop)
            S.masked_fill_(_mask_bits(key, qs, cols, dev) >= threshold, -math.inf)
        v, i = _argmax_rows(S)
        i += ks.start
        later = v > fv[qs]  # strictly: a tie keeps the earlier column
        fv[qs], fi[qs] = torch.where(later, v, fv[qs]), torch.where(later, i, fi[qs])
        v, i = _argmax_cols(S)
        later = v > bv[ks]
        bv[ks] = torch.where(later, v, bv[ks])
        bi[ks] = torch.where(later, i + qs.start, bi[ks])
    return fv, fi, bv, bi


def _first_dropped(key: int, keep_prob: float, n_x: int, n_z: int, device: torch.device, *,
                   per: Literal["row", "column"]) -> torch.Tensor:
    """Per row of X (``per="row"``) the first column, or per column the first row, that the mask of ``key`` drops.

    The entries and mask of :func:`_best_both_ways` (same key, same ``keep_prob``);
    (n_x,) or (n_z,) int64, with n_z (or n_x) where nothing is dropped. The
    scan grows a window from index 0: at keep probability p a drop comes after
    1 / (1 - p) entries on average, so a few windows suffice.
    """
    threshold = _keep_threshold(keep_prob)
    n_out, n_along = (n_x, n_z) if per == "row" else (n_z, n_x)
    first = torch.full((n_out,), n_along, dtype=torch.int64, device=device)
    todo = torch.arange(n_out, device=device)
    start, width = 0, 64
    while len(todo) and start < n_along:
        stop = min(start + width, n_along)
        if per == "row":
            bits = _mask_bits(key, slice(0, n_x), slice(start, stop), device)[todo]
        else:
            bits = _mask_bits(key, slice(start, stop), slice(0, n_z), device)[:, todo].T
        dropped = bits >= threshold
        found = dropped.any(dim=1)
        first[todo[found]] = start + dropped[found].to(torch.uint8).argmax(dim=1)
        todo = todo[~found]
        start, width = stop, 2 * width
    return first


def _with_dropped_as_zero(value: torch.Tensor, index: torch.Tensor, first_dropped: torch.Tensor,
                          length: int) -> torch.Tensor:
    """The argmax of rows of ``length`` entries whose dropped entries count as 0 instead of being ignored.

    ``value``/``index``: each row's best kept entry (-inf when all are dropped);
    ``first_dropped``: its first dropped index (``length``: none). A dropped
    entry wins when the best kept one is below 0, and at exactly 0 when it
    comes first (numpy's argmax takes the first of equal values).
    """
    zero_wins = (value < 0) | ((value == 0) & (first_dropped < index))
    return torch.where((first_dropped < length) & zero_wins, first_dropped, index)


def _cpu(*tensors):
    return tuple(t.cpu() if t is not None else None for t in tensors)


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------
def knn(
    queries,
    keys,
    k: int = 10,
    *,
    metric: Literal["cosine", "dot"] = "cosine",
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact k nearest keys of each query by cosine similarity (or dot product).

    Parameters
    ----------
    queries : array-like or Tensor of shape (n_q, d)
    keys : array-like or Tensor of shape (n_k, d)
    k : int
        Neighbours per query (at most n_k are returned).
    metric : {"cosine", "dot"}
        "dot" ranks by the dot product of the vectors as given (no
        normalisation; e.g. the neighbourhoods of RCSLS, whose mapped vectors
        are not unit length).
    batch_size : int, optional
        Queries per block (default 4096 on the CPU, 8192 on CUDA).
    tile_size : int, optional
        Keys per tile (default 8192 on the CPU, 32768 on CUDA). Memory for
        scores is bounded by ``4 * batch_size * tile_size`` bytes.
    device : str or torch.device, optional
        Where to compute; None picks CUDA when available.

    Returns
    -------
    scores : Tensor of shape (n_q, min(k, n_k)), float32 (float64 at fp64), CPU
        Cosine similarities (or dot products), descending along each row.
    indices : Tensor of shape (n_q, min(k, n_k)), int64, CPU
        Rows of ``keys``.

    Examples
    --------
    >>> import numpy as np
    >>> s, i = knn(np.array([[1, 0.2], [0.1, 1]]), np.array([[0, 3.0], [2, 0]]), k=2)
    >>> i.tolist()
    [[1, 0], [0, 1]]
    """
    k = _check_k(k)
    if metric not in ("cosine", "dot"):
        raise InputError(f"Expected metric 'cosine' or 'dot', got {metric!r}")
    dev = resolve_device(device)
    prepare = unit_rows if metric == "cosine" else _finite_rows
    Q, K = prepare(queries, "queries", dev), prepare(keys, "keys", dev)
    _check_pair(Q, K, "queries", "keys")
    bq, bt = _sizes(dev, batch_size, tile_size)
    v, i, _ = _row_pass(Q, K, k, bq, bt)
    return _cpu(v, i)


def topk_mean(
    queries,
    keys,
    k: int = 10,
    *,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> torch.Tensor:
    """Mean cosine of each query to its ``k`` nearest keys (the CSLS term r).

    Parameters are those of :func:`knn`. If ``k > n_k`` the mean runs over all keys.

    Returns
    -------
    r : Tensor of shape (n_q,), float32 (float64 at fp64), CPU
    """
    k = _check_k(k)
    dev = resolve_device(device)
    Q, K = unit_rows(queries, "queries", dev), unit_rows(keys, "keys", dev)
    _check_pair(Q, K, "queries", "keys")
    bq, bt = _sizes(dev, batch_size, tile_size)
    return _fused_terms(Q, K, k, bq, bt, columns=False)[0].cpu()


def csls_terms(
    X,
    Z,
    knn_k: int = 10,
    *,
    return_top: bool = False,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> tuple[torch.Tensor, ...]:
    """Both CSLS neighbourhood terms of two spaces in one pass over X Zᵀ.

    Each tile of cosines gives its row top-k (for ``r_x``) and its column top-k
    (for ``r_z``), so the (n_x, n_z) products are computed once instead of twice.

    Parameters
    ----------
    X : array-like or Tensor of shape (n_x, d)
        Source vectors.
    Z : array-like or Tensor of shape (n_z, d)
        Target vectors.
    knn_k : int
        Neighbourhood size (10 in Conneau et al. 2018); capped by the other side's size.
    return_top : bool
        Also return the knn_k largest cosines of each x themselves, from the
        same pass (what a shard of Z contributes to the ``r_x`` of the whole Z;
        see :func:`xling.distributed.sharded_csls_terms`).
    batch_size, tile_size, device
        As in :func:`knn` (X is split in blocks, Z in tiles).

    Returns
    -------
    r_x : Tensor of shape (n_x,), float32 (float64 at fp64), CPU
        Mean cosine of each x to its knn_k nearest rows of Z (r_T in the paper).
    r_z : Tensor of shape (n_z,), float32 (float64 at fp64), CPU
        Mean cosine of each z to its knn_k nearest rows of X (r_S in the paper).
    top_x : Tensor of shape (n_x, min(knn_k, n_z)), float32 (float64 at fp64), CPU
        Only with ``return_top``: the largest cosines of each x, descending
        (``r_x`` is their mean).
    """
    knn_k = _check_k(knn_k, "knn_k")
    dev = resolve_device(device)
    Xn, Zn = unit_rows(X, "X", dev), unit_rows(Z, "Z", dev)
    _check_pair(Xn, Zn, "X", "Z")
    bq, bt = _sizes(dev, batch_size, tile_size)
    return _cpu(*_fused_terms(Xn, Zn, knn_k, bq, bt, keep_rows=return_top))


def _check_method(method: str, allowed: tuple[str, ...] = METHODS) -> None:
    if method not in allowed:
        raise InputError(f"Expected method to be one of {', '.join(allowed)}, got {method!r}")


def _check_beta(beta: float) -> float:
    beta = float(beta)
    if not math.isfinite(beta) or beta <= 0:
        raise InputError(f"Expected beta > 0, got {beta}")
    return beta


def _key_terms(terms, n_k: int, dev: torch.device) -> torch.Tensor | None:
    if terms is None:
        return None
    t = terms.detach() if isinstance(terms, torch.Tensor) else torch.from_numpy(np.asarray(terms, dtype=np.float64))
    if t.shape != (n_k,):
        raise InputError(f"Expected key_terms of shape ({n_k},), got {tuple(t.shape)}")
    return t.to(dev, _score_dtype())


# Inverted nearest neighbour. Each key's list of its nearest sources is computed to a
# depth: _INVNN_DEPTH first, then 16x deeper only for the queries that need it. A key
# chunk's cosines with all sources hold at most _INVNN_BUDGET floats; whole lists that
# fit in it are kept by the Scorer for its later passes; (query, key) tiles are at
# most _INVNN_TILE x _INVNN_TILE (their sort keys are float64).
_INVNN_DEPTH, _INVNN_GROWTH = 64, 16
_INVNN_BUDGET = 1 << 24
_INVNN_TILE = 2048


def _invnn_depths(n_s: int, first: int) -> Iterator[int]:
    """The list depths tried in turn: ``first``, 16x deeper, ..., until all ``n_s`` sources."""
    depth = min(first, n_s)
    while True:
        yield depth
        if depth >= n_s:
            return
        depth = min(depth * _INVNN_GROWTH, n_s)


def _invnn_lists(K: torch.Tensor, S: torch.Tensor, depth: int) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(first key row, lists)`` per key chunk: each key's ``depth`` largest source cosines, ascending."""
    n_s, n_k = S.shape[0], K.shape[0]
    chunk = max(1, min(n_k, _INVNN_BUDGET // n_s))
    for k0 in range(0, n_k, chunk):
        with _fast_matmul(K.device):
            C = torch.mm(K[k0: k0 + chunk], S.T)
        # one selection over whole rows (a full sort at full depth), not merges of tile top-k sets
        yield k0, (C.sort(dim=1).values if depth >= n_s else C.topk(depth, dim=1).values.flip(1).contiguous())


def _invnn_cached(cache: dict | None, K: torch.Tensor, S: torch.Tensor, depth: int) -> torch.Tensor | None:
    """All keys' lists at ``depth`` from ``cache``, computed and kept there when they fit in the budget; else None."""
    depth = min(depth, S.shape[0])
    if cache is None or K.shape[0] * depth > _INVNN_BUDGET:
        return None
    if depth not in cache:
        cache[depth] = torch.cat([lists for _, lists in _invnn_lists(K, S, depth)])
    return cache[depth]


def _invnn_tiles(Q: torch.Tensor, K: torch.Tensor, S: torch.Tensor, depth: int, bq: int, bt: int, tol: float,
                 cache: dict | None = None):
    """Yield ``(query rows, key columns, sort keys)`` of inverted nearest neighbour, tile by tile.

    The sort key of key y for query x is ``-r_y(x) + cos(x, y) / 4`` (float64):
    ranks first, ties by cosine (a quarter cosine never bridges two ranks). A
    source counts above x in y's list when its cosine is higher by more than
    ``tol`` (float32 rounding of the products; ties go to the query). Only the
    first ``depth`` entries of each key's list are computed, so a key where x
    ranks below them gets -inf (its rank is unknown, only known to exceed
    ``depth``); with ``depth >= n_s`` every key is exact.
    """
    n_s = S.shape[0]
    depth = min(depth, n_s)
    full = depth == n_s
    bq, bt = min(bq, _INVNN_TILE), min(bt, _INVNN_TILE)
    whole = _invnn_cached(cache, K, S, depth)
    for k0, lists in ((0, whole),) if whole is not None else _invnn_lists(K, S, depth):
        Kc = K[k0: k0 + lists.shape[0]]
        for qs, ks, C in _tiles(Q, Kc, bq, bt):
            above = depth - torch.searchsorted(lists[ks], (C.T + tol).contiguous(), right=True)  # (m, n)
            key = 0.25 * C.double() - (1 + above.T).double()
            if not full:
                key.masked_fill_(above.T >= depth, -math.inf)
            yield qs, slice(k0 + ks.start, k0 + ks.stop), key


def _invnn_top(Q: torch.Tensor, K: torch.Tensor, S: torch.Tensor, k: int, bq: int, bt: int, tol: float,
               cache: dict | None = None):
    """Top-k keys of every query by inverted nearest neighbour: (sort keys float64, indices), exact.

    A query is settled once its k-th best key has a known rank: every key
    whose rank is unknown ranks it deeper than the list depth, so after all
    the known ones. The others are retried with 16x deeper lists, at most
    until the lists hold every source.
    """
    n_q, k = Q.shape[0], min(k, K.shape[0])
    out_v = torch.empty(n_q, k, dtype=torch.float64, device=Q.device)
    out_i = torch.empty(n_q, k, dtype=torch.int64, device=Q.device)
    todo = torch.arange(n_q, device=Q.device)
    for depth in _invnn_depths(S.shape[0], max(_INVNN_DEPTH, 4 * k)):
        Qt = Q[todo]
        top_v = torch.full((len(todo), k), -math.inf, dtype=torch.float64, device=Q.device)
        top_i = torch.zeros(len(todo), k, dtype=torch.int64, device=Q.device)
        for qs, ks, key in _invnn_tiles(Qt, K, S, depth, bq, bt, tol, cache):
            v, i = _topk_rows(key, k)
            top_v[qs], top_i[qs] = _merge(top_v[qs], top_i[qs], v, i + ks.start, k)
        out_v[todo], out_i[todo] = top_v, top_i
        todo = todo[~torch.isfinite(top_v[:, -1])]
        if not len(todo):
            break
        logger.debug("invnn: %d queries need lists deeper than %d", len(todo), depth)
    return out_v, out_i


def _invnn_best_rank(Q: torch.Tensor, K: torch.Tensor, S: torch.Tensor, cand: torch.Tensor, bq: int, bt: int,
                     tol: float, cache: dict | None = None) -> torch.Tensor:
    """1-based rank of the best candidate key of each query in its full inverted-NN ranking (ties to the candidate).

    The candidates' own ranks ``r_y(x)`` are counted exactly over all sources;
    then lists as deep as the best candidate's rank suffice to count the keys
    ordered before it: the queries whose need the first depth covers use it,
    the others share one pass as deep as the deepest need.
    """
    valid = cand >= 0
    safe = cand.clamp_min(0)
    cos = (Q.unsqueeze(1) * K[safe]).sum(dim=2)
    ranks = torch.full(cand.shape, math.inf, dtype=torch.float64, device=Q.device)
    if bool(valid.any()):
        counts = _count_above(K[safe[valid]], S, cos[valid] + tol, bq, bt)
        ranks[valid] = (1 + counts).double()
    key = torch.where(valid, 0.25 * cos.double() - ranks, torch.tensor(-math.inf, dtype=torch.float64, device=Q.device))
    best, arg = key.max(dim=1)
    need = ranks.gather(1, arg.unsqueeze(1))[:, 0]  # the best candidate's rank: deeper lists are not needed
    above = torch.zeros(Q.shape[0], dtype=torch.int64, device=Q.device)
    found = torch.isfinite(best)
    first = min(_INVNN_DEPTH, S.shape[0])
    shallow = found & (need <= first)
    for rows, depth in ((shallow, first), (found & ~shallow, None)):
        rows = rows.nonzero()[:, 0]
        if not len(rows):
            continue
        depth = depth or int(min(need[rows].max().item(), S.shape[0]))
        threshold = best[rows] + 0.25 * tol
        for qs, _, key_tile in _invnn_tiles(Q[rows], K, S, depth, bq, bt, tol, cache):
            above[rows[qs]] += (key_tile > threshold[qs, None]).sum(dim=1)
    return torch.where(found, 1 + above, torch.full_like(above, K.shape[0] + 1))

class Scorer:
    """The scores of one retrieval method between fixed queries and keys.

    Builds the method's per-key terms once (CSLS's ``r_S``, the inverted-softmax
    normalisers), so that several passes over the same problem (the top k, then
    the rank of a gold key in the full ranking, as in BLI evaluation) see the
    same numbers. The score of key y for query x is::

        nn    cos(x, y)
        csls  2 cos(x, y) - r_T(x) - r_S(y)
        isf   beta cos(x, y) - log sum_{x' in sources} exp(beta cos(x', y))
        invnn -r_y(x) + cos(x, y) / 4, r_y(x) the rank of x among the sources nearest to y

    ("invnn" has no per-key terms: :meth:`top` and :meth:`best_rank` compute
    its ranks, see :func:`inverted_nn`; :meth:`best_score` and
    :meth:`count_above` are not defined for it.)

    Parameters
    ----------
    queries : array-like or Tensor of shape (n_q, d)
    keys : array-like or Tensor of shape (n_k, d)
    method : {"nn", "csls", "isf", "invnn"}
    knn_k : int
        CSLS neighbourhood size (used by "csls" only).
    beta : float
        Inverse temperature of the inverted softmax (used by "isf" only).
    sources : array-like or Tensor of shape (n_s, d), optional
        The source space of the per-key terms, and the sources each key ranks
        for "invnn" (default: the queries); pass all source vectors for BLI
        (MUSE's convention).
    key_terms : array-like of shape (n_k,), optional
        Precomputed per-key terms (``r_S`` of :func:`csls_terms`, or the
        normalisers for this beta); skips that pass.
    batch_size, tile_size, device
        As in :func:`knn`.

    Examples
    --------
    >>> import numpy as np
    >>> scorer = Scorer(np.eye(3)[:2], np.eye(3), method="csls", knn_k=1)
    >>> scorer.top(1)[1].tolist()
    [[0], [1]]
    >>> scorer.best_rank(np.array([[2, 1], [2, -1]])).tolist()
    [2, 2]
    """

    def __init__(
        self,
        queries,
        keys,
        *,
        method: Method = "csls",
        knn_k: int = 10,
        beta: float = 30.0,
        sources=None,
        key_terms=None,
        batch_size: int | None = None,
        tile_size: int | None = None,
        device=None,
    ):
        _check_method(method)
        knn_k = _check_k(knn_k, "knn_k")
        if method == "invnn" and key_terms is not None:
            raise InputError("Expected key_terms=None for method 'invnn' (it has no per-key terms), got key_terms")
        dev = resolve_device(device)
        S = None
        if sources is not None and method != "nn" and key_terms is None:
            # normalised first, so that a bad value is reported with its row in the whole source space
            S = unit_rows(sources, "sources", dev)
        self.queries, self.keys = unit_rows(queries, "queries", dev), unit_rows(keys, "keys", dev)
        _check_pair(self.queries, self.keys, "queries", "keys")
        if S is not None:
            _check_pair(S, self.keys, "sources", "keys")
        self.method, self.device = method, dev
        self._bq, self._bt = _sizes(dev, batch_size, tile_size)
        #: scores are ``scale * cos - key_bias[y]``, minus ``r_T(x)`` for CSLS
        self.scale, self.key_bias = 1.0, _key_terms(key_terms, self.keys.shape[0], dev)
        self._cos_k = knn_k if method == "csls" else 0
        if method == "csls":
            self.scale = 2.0
            if self.key_bias is None:
                self.key_bias = _fused_terms(self.keys, self.queries if S is None else S, knn_k,
                                             self._bq, self._bt, columns=False)[0]
        elif method == "isf":
            self.scale = _check_beta(beta)
            if self.key_bias is None:
                S = self.queries if S is None else S
                self.key_bias = _column_logsumexp(S, self.keys, self.scale, self._bq, self._bt)
        elif method == "invnn":
            self._sources = self.queries if S is None else S
            self._lists: dict[int, torch.Tensor] = {}  # shallow lists kept between passes (see _invnn_cached)

    def top(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The k best keys of every query.

        Returns
        -------
        scores : Tensor of shape (n_q, min(k, n_k)), float32 (float64 at fp64), CPU
            Full scores of the method (CSLS with ``r_T`` included), descending.
        indices : Tensor of shape (n_q, min(k, n_k)), int64, CPU
        """
        k = _check_k(k)
        if self.method == "invnn":
            v, i = _invnn_top(self.queries, self.keys, self._sources, k, self._bq, self._bt, self.tolerance,
                              self._lists)
            return _cpu(v.to(_accumulator(self.queries.dtype)), i)
        v, i, r_q = _row_pass(self.queries, self.keys, k, self._bq, self._bt, scale=self.scale,
                              key_bias=self.key_bias, cos_k=self._cos_k)
        return _cpu(v - r_q[:, None] if r_q is not None else v, i)

    def best_rank(self, candidates, rows=None) -> torch.Tensor:
        """Rank, in the full ranking of all keys, of the best of some candidate keys of each query.

        The rank is one plus the number of keys that score higher than the best
        candidate by more than the rounding of the products (:attr:`tolerance`; so ties go to
        the candidate, and a candidate never outranks itself).

        Parameters
        ----------
        candidates : array-like or Tensor of shape (n, w), int
            Key rows per query; -1 pads rows with fewer candidates.
        rows : array-like or Tensor of shape (n,), int, optional
            The queries of the rows of ``candidates`` (default: all, in order).

        Returns
        -------
        Tensor of shape (n,), int64, CPU
            1-based ranks; ``n_k + 1`` for a query without candidates.
        """
        if self.method == "invnn":
            rows = self._rows(rows)
            cand = self._candidates(candidates, rows)
            return _invnn_best_rank(self.queries[rows], self.keys, self._sources, cand, self._bq, self._bt,
                                    self.tolerance, self._lists).cpu()
        best = self.best_score(candidates, rows)
        return 1 + self.count_above(best + self.tolerance, rows)

    @property
    def tolerance(self) -> float:
        """How much higher than a candidate a key must score to rank above it (rounding of the products).

        1e-5 at fp32 (about 80 units in the last place of a cosine near 1),
        1e-12 at fp64 and 2e-3 at fp16 (two units in the last place): a key
        within it of the candidate ties, and ties go to the candidate.
        """
        return _tie_tolerance(self.queries.dtype, self.scale)

    def _candidates(self, candidates, rows: torch.Tensor) -> torch.Tensor:
        cand = torch.as_tensor(candidates, dtype=torch.int64).to(self.device)
        if cand.ndim != 2 or cand.shape[0] != rows.shape[0]:
            raise InputError(f"Expected candidates of shape ({rows.shape[0]}, w), got {tuple(cand.shape)}")
        return cand

    def _not_invnn(self, name: str) -> None:
        if self.method == "invnn":
            raise InputError(f"Expected method nn, csls or isf for Scorer.{name}, got 'invnn' (its scores are "
                             "ranks without per-key terms; use best_rank)")

    def _rows(self, rows) -> torch.Tensor:
        if rows is None:
            return torch.arange(self.queries.shape[0], device=self.device)
        return torch.as_tensor(rows, dtype=torch.int64).to(self.device)

    def best_score(self, candidates, rows=None) -> torch.Tensor:
        """Best score, without ``r_T``, among some candidate keys of each query (the first half of :meth:`best_rank`).

        Parameters are those of :meth:`best_rank`.

        Returns
        -------
        Tensor of shape (n,), float32 (float64 at fp64), CPU
            ``scale * cos - key term`` of the best candidate; -inf for a query without candidates.
        """
        self._not_invnn("best_score")
        rows = self._rows(rows)
        cand = self._candidates(candidates, rows)
        valid = cand >= 0
        safe = cand.clamp_min(0)
        acc = _accumulator(self.queries.dtype)  # half-precision products summed in float32, as the matmul does
        score = self.scale * (self.queries[rows].to(acc).unsqueeze(1) * self.keys[safe].to(acc)).sum(dim=2)
        if self.key_bias is not None:
            score = score - self.key_bias[safe]
        return torch.where(valid, score, score.new_tensor(-math.inf)).amax(dim=1).cpu()

    def count_above(self, thresholds, rows=None) -> torch.Tensor:
        """Per query, how many keys score strictly above ``thresholds`` (scores as in :meth:`best_score`).

        Returns
        -------
        Tensor of shape (n,), int64, CPU
        """
        self._not_invnn("count_above")
        rows = self._rows(rows)
        thresholds = torch.as_tensor(thresholds, dtype=_accumulator(self.queries.dtype)).to(self.device)
        return _count_above(self.queries[rows], self.keys, thresholds, self._bq, self._bt,
                            scale=self.scale, key_bias=self.key_bias).cpu()


def csls(
    queries,
    keys,
    k: int = 1,
    *,
    knn_k: int = 10,
    sources=None,
    key_terms: torch.Tensor | np.ndarray | None = None,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k keys of each query by CSLS (Conneau et al. 2018).

    ``CSLS(x, y) = 2 cos(x, y) - r_T(x) - r_S(y)``, with ``r_T(x)`` the mean cosine
    of x to its ``knn_k`` nearest keys and ``r_S(y)`` the mean cosine of y to its
    ``knn_k`` nearest sources.

    Parameters
    ----------
    queries : array-like or Tensor of shape (n_q, d)
    keys : array-like or Tensor of shape (n_k, d)
    k : int
        Results per query.
    knn_k : int
        Neighbourhood size of both terms.
    sources : array-like or Tensor of shape (n_s, d), optional
        The source space over which ``r_S`` is taken. Default: the queries. For
        BLI pass all source vectors (MUSE's convention), so that the scores do
        not depend on which test words happen to be queried.
    key_terms : array-like of shape (n_k,), optional
        Precomputed ``r_S`` (e.g. from :func:`csls_terms`); skips that pass.
    batch_size, tile_size, device
        As in :func:`knn`.

    Returns
    -------
    scores : Tensor of shape (n_q, min(k, n_k)), float32 (float64 at fp64), CPU
        Full CSLS values (r_T included), descending.
    indices : Tensor of shape (n_q, min(k, n_k)), int64, CPU
    """
    k = _check_k(k)
    return Scorer(queries, keys, method="csls", knn_k=knn_k, sources=sources, key_terms=key_terms,
                  batch_size=batch_size, tile_size=tile_size, device=device).top(k)


def inverted_softmax(
    queries,
    keys,
    k: int = 1,
    *,
    beta: float = 30.0,
    sources=None,
    key_terms: torch.Tensor | np.ndarray | None = None,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k keys of each query by inverted softmax (Smith et al. 2017).

    The score of key y for query x is ``log P(x | y)`` with
    ``P(x | y) = exp(beta cos(x, y)) / sum_{x'} exp(beta cos(x', y))``: each key's
    softmax runs over the source side, which penalises hubs (keys close to many
    sources). The sum runs over ``sources`` (default: the queries).

    Parameters
    ----------
    queries, keys, k
        As in :func:`csls`.
    beta : float
        Inverse temperature. Smith et al. fit it on the training dictionary; tune
        it on held-out pairs (larger beta = stronger hub penalty).
    sources : array-like or Tensor of shape (n_s, d), optional
        Source vectors of the normaliser; pass all source vectors for BLI.
    key_terms : array-like of shape (n_k,), optional
        Precomputed normalisers ``log sum_{x'} exp(beta cos(x', y))`` for this beta.
    batch_size, tile_size, device
        As in :func:`knn`.

    Returns
    -------
    scores : Tensor of shape (n_q, min(k, n_k)), float32 (float64 at fp64), CPU
        Log-probabilities ``log P(x | y)``, descending.
    indices : Tensor of shape (n_q, min(k, n_k)), int64, CPU
    """
    k = _check_k(k)
    _check_beta(beta)
    return Scorer(queries, keys, method="isf", beta=beta, sources=sources, key_terms=key_terms,
                  batch_size=batch_size, tile_size=tile_size, device=device).top(k)


def inverted_nn(
    queries,
    keys,
    k: int = 1,
    *,
    sources=None,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k keys of each query by inverted nearest neighbour (VecMap's ``invnn``).

    Every key ranks the sources by cosine; a query's best key is the one
    whose list holds it highest: key y ranks before key y' for query x when
    ``r_y(x) < r_y'(x)``, with ``r_y(x) = 1 + #{x' in sources : cos(x', y) >
    cos(x, y)}`` (ties go to x), and equal ranks are ordered by cosine (as in
    VecMap), then by key row. Like the inverted softmax, it penalises hubs:
    a hub is near many sources, so each of them ranks low in its list.

    Exact, in bounded memory: the lists are computed key chunk by key chunk
    to a depth of ``max(64, 4k)`` sources; a query whose k-th key is not
    settled within that depth (it ranks deeper in all but a few lists) is
    redone with 16x deeper lists, up to the whole source space (a full sort,
    as VecMap does for every query). Each depth is one pass over keys x
    sources plus one over queries x keys; :class:`Scorer` keeps lists that
    fit in 64 MB for its later passes (the ranks of gold keys in BLI).

    Parameters
    ----------
    queries : array-like or Tensor of shape (n_q, d)
    keys : array-like or Tensor of shape (n_k, d)
    k : int
        Results per query.
    sources : array-like or Tensor of shape (n_s, d), optional
        The sources each key ranks (default: the queries). For BLI pass all
        source vectors (VecMap ranks over the whole source vocabulary).
    batch_size, tile_size, device
        As in :func:`knn` (tiles are capped at 2048 x 2048 here).

    Returns
    -------
    scores : Tensor of shape (n_q, min(k, n_k)), float32 (float64 at fp64), CPU
        ``-r_y(x) + cos(x, y) / 4``, descending: the rank is ``round(-score)``
        for ranks below about 1e4 (the order itself is computed in float64).
    indices : Tensor of shape (n_q, min(k, n_k)), int64, CPU

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]]); Y = np.array([[0.7, 0.714], [0.6, -0.8]])
    >>> knn(X, Y, k=1)[1].tolist(), inverted_nn(X, Y, k=1)[1].tolist()  # x0 is second in y0's list, first in y1's
    ([[0], [0]], [[1], [0]])
    """
    k = _check_k(k)
    return Scorer(queries, keys, method="invnn", sources=sources, batch_size=batch_size, tile_size=tile_size,
                  device=device).top(k)


def retrieve(
    queries,
    keys,
    k: int = 1,
    *,
    method: Method = "nn",
    knn_k: int = 10,
    beta: float = 30.0,
    sources=None,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k keys per query by ``method`` ("nn" cosine, "csls", "isf" or "invnn").

    ``knn_k`` is used by CSLS only, ``beta`` by inverted softmax only; ``sources``
    by all but "nn" (see :func:`csls`, :func:`inverted_nn`). Returns ``(scores, indices)``
    of shape (n_q, min(k, n_k)) as CPU tensors.
    """
    _check_method(method)
    common = dict(batch_size=batch_size, tile_size=tile_size, device=device)
    if method == "nn":
        return knn(queries, keys, k, **common)
    if method == "csls":
        return csls(queries, keys, k, knn_k=knn_k, sources=sources, **common)
    if method == "invnn":
        return inverted_nn(queries, keys, k, sources=sources, **common)
    return inverted_softmax(queries, keys, k, beta=beta, sources=sources, **common)


DIRECTIONS = ("forward", "backward", "union", "intersection")
Direction = Literal["forward", "backward", "union", "intersection"]


@dataclass(frozen=True)
class Matches:
    """The best match of every row of X in Z and of every row of Z in X (see :func:`best_matches`).

    Attributes
    ----------
    forward_score : Tensor of shape (n_x,), float32 (float64 at fp64), CPU
        For each x, the score of its best z.
    forward_index : Tensor of shape (n_x,), int64, CPU
        For each x, the row of its best z.
    backward_score : Tensor of shape (n_z,), float32 (float64 at fp64), CPU
        For each z, the score of its best x.
    backward_index : Tensor of shape (n_z,), int64, CPU
        For each z, the row of its best x.
    """

    forward_score: torch.Tensor
    forward_index: torch.Tensor
    backward_score: torch.Tensor
    backward_index: torch.Tensor

    @property
    def objective(self) -> float:
        """Mean best score over both directions, the quantity self-learning maximises (Artetxe et al. 2018 ACL)."""
        return float((self.forward_score.mean() + self.backward_score.mean()) / 2)

    def pairs(self, direction: Direction = "forward", threshold: float | None = None, *,
              unique: bool = True) -> np.ndarray:
        """A dictionary from the matches.

        Parameters
        ----------
        direction : {"forward", "backward", "union", "intersection"}
            "forward": each x with its best z; "backward": each z with its best
            x; "union"/"intersection" of both sets ("intersection" = mutual
            nearest neighbours).
        threshold : float, optional
            Keep only pairs whose score (in the chosen direction; in both for
            the intersection, in either for the union) is at least this.
        unique : bool
            False keeps a union's pairs found both ways twice, forward ones
            first, unsorted (VecMap's union, in which they weigh double in the
            next fit).

        Returns
        -------
        pairs : ndarray of shape (n_pairs, 2), int64
            ``(row in X, row in Z)``, sorted by source then target row, no duplicates (``unique``).
        """
        _check_direction(direction)
        fv, fi = self.forward_score.numpy(), self.forward_index.numpy()
        bv, bi = self.backward_score.numpy(), self.backward_index.numpy()
        fwd = np.stack([np.arange(len(fi)), fi], axis=1)
        bwd = np.stack([bi, np.arange(len(bi))], axis=1)
        if threshold is not None:
            fwd_keep, bwd_keep = fv >= threshold, bv >= threshold
        else:
            fwd_keep, bwd_keep = np.ones(len(fv), bool), np.ones(len(bv), bool)
        if direction == "forward":
            pairs = fwd[fwd_keep]
        elif direction == "backward":
            pairs = bwd[bwd_keep]
        elif direction == "union":
            pairs = np.concatenate([fwd[fwd_keep], bwd[bwd_keep]])
        else:
            # x -> z and z -> x agree: bi[fi[x]] == x.
            mutual = (bi[fi] == np.arange(len(fi))) & fwd_keep & bwd_keep[fi]
            pairs = fwd[mutual]
        pairs = pairs.astype(np.int64).reshape(-1, 2)
        return np.unique(pairs, axis=0) if unique else pairs


def _match_inputs(X, Z, method, methods, knn_k, keep_prob, device):
    """The checked arguments of an induction step: ``(knn_k, keep_prob, device, unit X, unit Z)``."""
    _check_method(method, methods)
    knn_k = _check_k(knn_k, "knn_k")
    keep_prob = float(keep_prob)
    if not 0.0 < keep_prob <= 1.0:
        raise InputError(f"Expected keep_prob in (0, 1], got {keep_prob}")
    dev = resolve_device(device)
    Xn, Zn = unit_rows(X, "X", dev), unit_rows(Z, "Z", dev)
    _check_pair(Xn, Zn, "X", "Z")
    return knn_k, keep_prob, dev, Xn, Zn


def best_matches(
    X,
    Z,
    *,
    method: Method = "csls",
    knn_k: int = 10,
    beta: float = 30.0,
    keep_prob: float = 1.0,
    generator: torch.Generator | None = None,
    terms: tuple | None = None,
    column_offset: int = 0,
    n_columns: int | None = None,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> Matches:
    """Best match of each row of X in Z and of each row of Z in X, in one pass over X Zᵀ.

    The step of dictionary induction (self-learning, adversarial refinement):
    every tile of scores gives its row and its column maxima, so the
    (n_x, n_z) products are computed once for both directions (after one
    more pass for the CSLS terms or the inverted-softmax normalisers).

    Parameters
    ----------
    X : array-like or Tensor of shape (n_x, d)
    Z : array-like or Tensor of shape (n_z, d)
        Vectors in the same space (any scale: rows are unit-normalised inside).
    method : {"nn", "csls", "isf"}
        Cosine; CSLS ``2 cos(x, z) - r_Z(x) - r_X(z)`` with both neighbourhood
        terms taken within X and Z (symmetric, so both directions rank by the
        same scores); or inverted softmax, which for the forward direction
        normalises over X and for the backward direction over Z.
    knn_k : int
        Neighbourhood size of the CSLS terms.
    beta : float
        Inverse temperature of the inverted softmax.
    keep_prob : float
        Each score is kept with this probability and otherwise ignored in both
        directions (stochastic dictionary induction, Artetxe et al. 2018 ACL);
        1 keeps all.
    generator : torch.Generator, optional
        Source of the dropout mask's key (one draw per call). The mask is a
        hash of the key and each entry's row and column, so a seed gives the
        same matches whatever ``batch_size``, thread count or device; an entry
        is kept with probability ``keep_prob`` rounded to a multiple of 2^-16.
    terms : (array-like of shape (n_x,), array-like of shape (n_z,)), optional
        Precomputed per-row terms, which skip their passes: for "csls"
        ``(r_x, r_z)`` of :func:`csls_terms`; for "isf" the normalisers
        ``(log sum_z exp(beta cos(x, z)), log sum_x exp(beta cos(x, z)))``.
        Lets a shard of Z use terms taken over the whole Z
        (:func:`xling.distributed.sharded_best_matches`).
    column_offset, n_columns : int, optional
        Z is the columns ``column_offset, ...`` of a problem with ``n_columns``
        target rows: a shard then gets the whole problem's dropout mask.
    batch_size, tile_size, device
        As in :func:`knn`.

    Returns
    -------
    Matches
        Scores and rows of the best matches both ways; ``.pairs(direction,
        threshold)`` turns them into a dictionary and ``.objective`` is their
        mean score.

    Examples
    --------
    >>> import numpy as np
    >>> m = best_matches(np.eye(3), np.eye(3)[[2, 0, 1]], method="nn")
    >>> m.forward_index.tolist(), m.pairs("intersection").tolist()
    ([1, 2, 0], [[0, 1], [1, 2], [2, 0]])
    """
    knn_k, keep_prob, dev, Xn, Zn = _match_inputs(X, Z, method, _MATCH_METHODS, knn_k, keep_prob, device)
    n_columns = Zn.shape[0] if n_columns is None else n_columns
    if not 0 <= column_offset <= n_columns - Zn.shape[0]:
        raise InputError(f"Expected 0 <= column_offset <= n_columns - {Zn.shape[0]} (the rows of Z), got "
                         f"column_offset={column_offset} and n_columns={n_columns}")
    if terms is not None:
        if method == "nn":
            raise InputError("Expected terms=None for method 'nn' (cosine has no per-row terms), got terms")
        terms = (_key_terms(terms[0], Xn.shape[0], dev), _key_terms(terms[1], Zn.shape[0], dev))
    bq, bt = _sizes(dev, batch_size, tile_size)
    drop = dict(keep_prob=keep_prob, generator=generator, column_offset=column_offset)
    if method == "csls":
        scores = _product(Xn, Zn) if _stores_scores(Xn, Zn) else None
        r_x, r_z = terms if terms is not None else _fused_terms(Xn, Zn, knn_k, bq, bt, scores=scores)
        # C = 2 cos - r_x - r_z is the CSLS score itself, in both directions
        result = _best_both_ways(Xn, Zn, bq, bt, scale=2.0, x_bias=r_x, z_bias=r_z, scores=scores, **drop)
    elif method == "isf":
        beta = _check_beta(beta)
        if terms is not None:
            lx, lz = terms
        else:
            lz = _column_logsumexp(Xn, Zn, beta, bq, bt)
            lx = _column_logsumexp(Zn, Xn, beta, bq, bt)
        fv, fi, bv, bi = _best_both_ways(Xn, Zn, bq, bt, scale=beta, x_bias=lx, z_bias=lz, **drop)
        # C = beta cos - lx - lz: each direction's score adds back the other side's normaliser
        result = fv + lx, fi, bv + lz, bi
    else:
        result = _best_both_ways(Xn, Zn, bq, bt, **drop)
    return Matches(*_cpu(*result))


def vecmap_matches(
    X,
    Z,
    *,
    method: Literal["nn", "csls"] = "csls",
    knn_k: int = 10,
    keep_prob: float = 1.0,
    generator: torch.Generator | None = None,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> Matches:
    """Dictionary induction as VecMap's ``map_embeddings.py`` does it (Artetxe et al. 2018 ACL, as released).

    The same scores as :func:`best_matches`, with VecMap's three departures
    from it in stochastic induction:

    * a dropped score counts as 0 (the paper's "set to zero"), on VecMap's
      scale: forward ``cos(x, z) - r_X(z) / 2``, backward ``cos(x, z) -
      r_Z(x) / 2`` (CSLS halved, less the term that is constant along the
      direction). Where every kept score of a row is below 0, its first
      dropped entry, a frequent word, wins. :func:`best_matches` ignores it;
    * each direction has its own mask (one key each from ``generator``);
    * the scores kept are each direction's best *cosine*, unmasked, whose mean
      is VecMap's objective, not the best induction scores.

    Parameters
    ----------
    X : array-like or Tensor of shape (n_x, d)
    Z : array-like or Tensor of shape (n_z, d)
    method : {"nn", "csls"}
    knn_k, keep_prob, generator, batch_size, tile_size, device
        As in :func:`best_matches`; the masks are keyed hashes of each entry's
        row and column as there, so a seed gives the same matches on every
        device and tiling.

    Returns
    -------
    Matches
        ``forward_index``/``backward_index``: each row's match under the
        zeroed masks; ``forward_score``/``backward_score``: each row's best
        cosine over all of Z / X. Use ``.pairs(direction, unique=False)`` for
        VecMap's union.
    """
    knn_k, keep_prob, dev, Xn, Zn = _match_inputs(X, Z, method, ("nn", "csls"), knn_k, keep_prob, device)
    n_x, n_z = Xn.shape[0], Zn.shape[0]
    bq, bt = _sizes(dev, batch_size, tile_size)
    scores = _product(Xn, Zn) if _stores_scores(Xn, Zn) else None
    r_x = r_z = None
    if method == "csls":
        r_x, r_z = _fused_terms(Xn, Zn, knn_k, bq, bt, scores=scores)
        r_x, r_z = r_x / 2, r_z / 2
    best_cos_x, _, best_cos_z, _ = _best_both_ways(Xn, Zn, bq, bt, scores=scores)
    if keep_prob < 1.0:
        key_f, key_b = _mask_key(generator), _mask_key(generator)
    else:
        key_f = key_b = 0
    drop = dict(keep_prob=keep_prob, scores=scores)
    fv, fi, _, _ = _best_both_ways(Xn, Zn, bq, bt, z_bias=r_z, key=key_f, **drop)
    _, _, bv, bi = _best_both_ways(Xn, Zn, bq, bt, x_bias=r_x, key=key_b, **drop)
    if keep_prob < 1.0:
        fi = _with_dropped_as_zero(fv, fi, _first_dropped(key_f, keep_prob, n_x, n_z, dev, per="row"), n_z)
        bi = _with_dropped_as_zero(bv, bi, _first_dropped(key_b, keep_prob, n_x, n_z, dev, per="column"), n_x)
    return Matches(*_cpu(best_cos_x, fi, best_cos_z, bi))


def induce_pairs(
    X,
    Z,
    *,
    method: Method = "csls",
    direction: Direction = "forward",
    max_rank: int | None = None,
    threshold: float | None = None,
    knn_k: int = 10,
    beta: float = 30.0,
    keep_prob: float = 1.0,
    generator: torch.Generator | None = None,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> np.ndarray:
    """Induce a dictionary: pair words with their best translation under ``method``.

    Shorthand for ``best_matches(X[:max_rank], Z[:max_rank], ...).pairs(direction, threshold)``.

    Parameters
    ----------
    X : array-like or Tensor of shape (n_x, d)
        Source vectors (rows sorted by frequency if ``max_rank`` is used).
    Z : array-like or Tensor of shape (n_z, d)
        Target vectors in the same space.
    method : {"nn", "csls", "isf"}
        Score used to pick the best translation (see :func:`best_matches`).
    direction : {"forward", "backward", "union", "intersection"}
        See :meth:`Matches.pairs`.
    max_rank : int, optional
        Only the first ``max_rank`` rows of X and of Z take part (MUSE's
        ``dico_max_rank``, VecMap's vocabulary cutoff).
    threshold : float, optional
        See :meth:`Matches.pairs`.
    knn_k, beta, keep_prob, generator, batch_size, tile_size, device
        As in :func:`best_matches`.

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2), int64
        ``(row in X, row in Z)``, sorted by source then target row, no duplicates.
    """
    _check_direction(direction)  # before any scoring
    if max_rank is not None:
        max_rank = _check_k(max_rank, "max_rank")
        X, Z = X[:max_rank], Z[:max_rank]
    matches = best_matches(X, Z, method=method, knn_k=knn_k, beta=beta, keep_prob=keep_prob, generator=generator,
                           batch_size=batch_size, tile_size=tile_size, device=device)
    pairs = matches.pairs(direction, threshold)
    logger.info("induced %d pairs (%s, %s, max_rank=%s)", len(pairs), method, direction, max_rank)
    return pairs


def mutual_nn_pairs(X, Z, *, method: Method = "csls", **kwargs) -> np.ndarray:
    """Pairs ``(x, z)`` that are each other's best match under ``method``.

    Shorthand for ``induce_pairs(X, Z, method=method, direction="intersection", **kwargs)``.
    """
    return induce_pairs(X, Z, method=method, direction="intersection", **kwargs)


def unsupervised_criterion(
    X,
    Z,
    *,
    knn_k: int = 10,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> float:
    """Mean cosine between the rows of X and their CSLS translations in Z.

    The model-selection criterion of Conneau et al. (2018): X holds the mapped
    vectors of the most frequent source words, Z the target vocabulary, and
    ``r_S`` is taken over X. It needs no dictionary and correlates with
    translation accuracy.

    Parameters
    ----------
    X : array-like or Tensor of shape (n_x, d)
    Z : array-like or Tensor of shape (n_z, d)
    knn_k, batch_size, tile_size, device
        As in :func:`csls`.

    Returns
    -------
    float
        In [-1, 1].
    """
    knn_k = _check_k(knn_k, "knn_k")
    dev = resolve_device(device)
    Xn, Zn = unit_rows(X, "X", dev), unit_rows(Z, "Z", dev)
    _check_pair(Xn, Zn, "X", "Z")
    bq, bt = _sizes(dev, batch_size, tile_size)
    r_z = _fused_terms(Zn, Xn, knn_k, bq, bt, columns=False)[0]
    # r_T(x) is constant along a query's row: the best CSLS key needs only r_S
    _, best, _ = _row_pass(Xn, Zn, 1, bq, bt, scale=2.0, key_bias=r_z)
    return float((Xn * Zn[best[:, 0]]).sum(dim=1).mean())


def translate(
    src_emb,
    tgt_emb,
    words,
    k: int = 5,
    *,
    method: Method = "csls",
    knn_k: int = 10,
    beta: float = 30.0,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
    precision: str | None = None,
) -> list[list[tuple[str, float]]]:
    """Top-k target words for each source word, in a shared (mapped) space.

    Parameters
    ----------
    src_emb, tgt_emb : Embeddings
        Source and target vectors in the same space. The CSLS and inverted
        softmax source terms are taken over all of ``src_emb``.
    words : iterable of str
        Source words to translate; all must be in ``src_emb``.
    k : int
        Translations per word.
    method : {"nn", "csls", "isf", "invnn"}
    knn_k, beta, batch_size, tile_size, device
        As in :func:`retrieve`.
    precision : {"fp16", "fp32", "fp64"}, optional
        See :func:`precision`; None: the current one.

    Returns
    -------
    list of list of (str, float)
        One list per input word, in input order: its translations and scores, best first.

    Raises
    ------
    KeyError
        Some words are not in ``src_emb`` (the message names up to ten).
    """
    rows = translation_rows(src_emb, words)
    if not len(rows):
        return []
    with at_precision(precision):
        scores, idx = retrieve(
            src_emb.vectors[rows], tgt_emb.vectors, k, method=method, knn_k=knn_k, beta=beta,
            sources=src_emb.vectors, batch_size=batch_size, tile_size=tile_size, device=device,
        )
    return translations(tgt_emb, scores, idx)


def translation_rows(src_emb, words) -> np.ndarray:
    """Rows of ``words`` in ``src_emb``, for :func:`translate`; a KeyError names up to ten unknown words."""
    words = list(words)
    unknown = [w for w in words if w not in src_emb.word_to_index]
    if unknown:
        shown = ", ".join(repr(w) for w in unknown[:10])
        raise KeyError(f"Expected words from the source vocabulary, got {len(unknown)} unknown: {shown}")
    return np.array([src_emb.word_to_index[w] for w in words], dtype=np.int64)


def translations(tgt_emb, scores: torch.Tensor, idx: torch.Tensor) -> list[list[tuple[str, float]]]:
    """Retrieved ``(scores, indices)`` (n, k) as lists of ``(target word, score)``, for :func:`translate`."""
    return [
        [(tgt_emb.words[j], float(s)) for s, j in zip(scores[n].tolist(), idx[n].tolist())]
        for n in range(len(idx))
    ]
