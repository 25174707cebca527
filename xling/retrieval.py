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

Speed
-----
On the CPU the top-k of a tile is found from group maxima (a cheap vectorised
reduction selects the only groups that can hold the top k, then a small top-k
runs over their members), which costs a fraction of ``torch.topk`` over the
whole tile. The CSLS terms (values only, no indices) of large problems go
through a compiled scanner instead (``xling/_kernels/topk.cpp``), which folds
each tile into running row and column top-k sets in one read of the tile;
it is built at first use, and ``XLING_NO_KERNEL=1`` keeps the PyTorch path. A faster matrix-product precision (oneDNN's ``fp32_precision``) is
used only if, measured once at run time on a sample, its error against float64
is below 1e-5; otherwise plain float32 products are used. Results are exact
float32 cosine scores either way.

All functions accept numpy arrays or torch tensors and return CPU tensors.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from typing import Iterator, Literal

import numpy as np
import torch

from xling._kernels import load_topk
from xling._utils import resolve_device

logger = logging.getLogger(__name__)

__all__ = [
    "knn",
    "topk_mean",
    "csls_terms",
    "csls",
    "inverted_softmax",
    "retrieve",
    "induce_pairs",
    "mutual_nn_pairs",
    "translate",
    "METHODS",
]

METHODS = ("nn", "csls", "isf")
Method = Literal["nn", "csls", "isf"]

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


# ---------------------------------------------------------------------------
# inputs, devices, precision
# ---------------------------------------------------------------------------
def _unit_rows(A, name: str, device: torch.device) -> torch.Tensor:
    """Float32 copy of ``A`` on ``device`` with unit-length rows (zero rows stay zero)."""
    if isinstance(A, torch.Tensor):
        T = A.detach()
    else:
        T = torch.from_numpy(np.ascontiguousarray(np.asarray(A, dtype=np.float32)))
    if T.ndim != 2:
        raise ValueError(f"Expected {name} to be a 2-D matrix (n, dim), got shape {tuple(T.shape)}")
    if T.shape[0] == 0 or T.shape[1] == 0:
        raise ValueError(f"Expected {name} to be non-empty, got shape {tuple(T.shape)}")
    T = T.to(device=device, dtype=torch.float32)
    # One pass for the norms; a non-finite norm flags NaN/inf entries (or float32
    # overflow of the squares, which float64 norms then avoid).
    norms = torch.linalg.vector_norm(T, dim=1, keepdim=True)
    if not bool(torch.isfinite(norms).all()):
        rows = (~torch.isfinite(norms[:, 0])).nonzero()[:, 0]
        bad = rows[~torch.isfinite(T[rows]).all(dim=1)]
        if len(bad):
            raise ValueError(f"Expected finite values in {name}, got NaN or inf in row {int(bad[0])}")
        norms = torch.linalg.vector_norm(T.double(), dim=1, keepdim=True)
        return (T.double() / norms.clamp_min(_EPS)).float().contiguous()
    return (T / norms.clamp_min(_EPS)).contiguous()


def _check_pair(Q: torch.Tensor, K: torch.Tensor, qname: str, kname: str) -> None:
    if Q.shape[1] != K.shape[1]:
        raise ValueError(
            f"Expected {qname} and {kname} of the same dimension, got {Q.shape[1]} and {K.shape[1]}"
        )


def _check_k(k: int, name: str = "k") -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"Expected {name} to be a positive integer, got {k!r}")
    return int(k)


def _sizes(device: torch.device, batch_size: int | None, tile_size: int | None) -> tuple[int, int]:
    gpu = device.type == "cuda"
    bq = batch_size if batch_size is not None else (_GPU_BATCH if gpu else _CPU_BATCH)
    bt = tile_size if tile_size is not None else (_GPU_TILE if gpu else _CPU_TILE)
    for name, value in (("batch_size", bq), ("tile_size", bt)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"Expected {name} to be a positive integer, got {value!r}")
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
def _precision(device: torch.device) -> Iterator[None]:
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
    with _precision(Q.device):
        for q0 in range(0, Q.shape[0], bq):
            qs = slice(q0, min(q0 + bq, Q.shape[0]))
            Qb = Q[qs] if scale == 1.0 else Q[qs] * scale
            for k0 in range(0, K.shape[0], bt):
                ks = slice(k0, min(k0 + bt, K.shape[0]))
                n, m = qs.stop - qs.start, ks.stop - ks.start
                S = buf[: n * m].view(n, m)
                torch.mm(Qb, K[ks].T, out=S)
                yield qs, ks, S


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


def _topk_kernel(device: torch.device, n_scores: int):
    """The compiled tile scanner for a CPU problem of ``n_scores`` cosines, else None.

    Small problems keep the PyTorch path: they are fast anyway, and the first use
    of the kernel compiles it (tens of seconds, then cached).
    """
    if device.type != "cpu" or n_scores < _KERNEL_MIN_SCORES:
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
    out_v = torch.empty(n_q, k, device=Q.device)
    out_i = torch.empty(n_q, k, dtype=torch.int64, device=Q.device)
    r = torch.empty(n_q, device=Q.device) if cos_k else None
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


def _fused_terms(X: torch.Tensor, Z: torch.Tensor, knn_k: int, bq: int, bt: int, *, columns: bool = True):
    """Mean of the knn_k largest cosines per row of X Zᵀ and (if ``columns``) per column, in one pass.

    Returns ``(r_x, r_z)``; ``r_z`` is None without ``columns``.
    """
    n_x, n_z = X.shape[0], Z.shape[0]
    kx, kz = min(knn_k, n_z), (min(knn_k, n_x) if columns else 0)
    kernel = _topk_kernel(X.device, n_x * n_z)
    if kernel is None and not columns:
        return _row_pass(X, Z, kx, bq, bt)[0].mean(dim=1), None
    r_x = torch.empty(n_x, device=X.device)
    col_top = torch.full((n_z, kz), -math.inf, device=X.device)
    if kernel is not None:
        threads = torch.get_num_threads()
        for qs, ks, S in _tiles(X, Z, bq, bt):
            if ks.start == 0:
                row_top = torch.full((qs.stop - qs.start, kx), -math.inf)
            kernel.fold_tile(S, row_top, col_top[ks], threads)
            if ks.stop == n_z:
                r_x[qs] = row_top.mean(dim=1)
    else:
        row_top = None
        for qs, ks, S in _tiles(X, Z, bq, bt):
            v, _ = _topk_rows(S, kx)
            row_top = v if ks.start == 0 else _merge(row_top, None, v, None, kx)[0]
            if ks.stop == n_z:
                r_x[qs] = row_top.mean(dim=1)
            cv = _topk_cols(S, kz)
            col_top[ks] = _merge(col_top[ks], None, cv, None, kz)[0]
    return r_x, (col_top.mean(dim=1) if columns else None)


def _column_logsumexp(X: torch.Tensor, Z: torch.Tensor, beta: float, bq: int, bt: int) -> torch.Tensor:
    """``log sum_x exp(beta cos(x, z))`` for every row z of Z, sources X (online, stable)."""
    n_z = Z.shape[0]
    run_max = torch.full((n_z,), -math.inf, device=X.device)
    run_sum = torch.zeros(n_z, device=X.device)
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
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact k nearest keys of each query by cosine similarity.

    Parameters
    ----------
    queries : array-like or Tensor of shape (n_q, d)
    keys : array-like or Tensor of shape (n_k, d)
    k : int
        Neighbours per query (at most n_k are returned).
    batch_size : int, optional
        Queries per block (default 4096 on the CPU, 8192 on CUDA).
    tile_size : int, optional
        Keys per tile (default 8192 on the CPU, 32768 on CUDA). Memory for
        scores is bounded by ``4 * batch_size * tile_size`` bytes.
    device : str or torch.device, optional
        Where to compute; None picks CUDA when available.

    Returns
    -------
    scores : Tensor of shape (n_q, min(k, n_k)), float32, CPU
        Cosine similarities, descending along each row.
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
    dev = resolve_device(device)
    Q, K = _unit_rows(queries, "queries", dev), _unit_rows(keys, "keys", dev)
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
    r : Tensor of shape (n_q,), float32, CPU
    """
    k = _check_k(k)
    dev = resolve_device(device)
    Q, K = _unit_rows(queries, "queries", dev), _unit_rows(keys, "keys", dev)
    _check_pair(Q, K, "queries", "keys")
    bq, bt = _sizes(dev, batch_size, tile_size)
    return _fused_terms(Q, K, k, bq, bt, columns=False)[0].cpu()


def csls_terms(
    X,
    Z,
    knn_k: int = 10,
    *,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
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
    batch_size, tile_size, device
        As in :func:`knn` (X is split in blocks, Z in tiles).

    Returns
    -------
    r_x : Tensor of shape (n_x,), float32, CPU
        Mean cosine of each x to its knn_k nearest rows of Z (r_T in the paper).
    r_z : Tensor of shape (n_z,), float32, CPU
        Mean cosine of each z to its knn_k nearest rows of X (r_S in the paper).
    """
    knn_k = _check_k(knn_k, "knn_k")
    dev = resolve_device(device)
    Xn, Zn = _unit_rows(X, "X", dev), _unit_rows(Z, "Z", dev)
    _check_pair(Xn, Zn, "X", "Z")
    bq, bt = _sizes(dev, batch_size, tile_size)
    return _cpu(*_fused_terms(Xn, Zn, knn_k, bq, bt))


def _source_terms(Q, K, sources, knn_k, bq, bt, dev) -> torch.Tensor:
    """r_S of every key against ``sources`` (default: the queries themselves)."""
    if sources is None:
        S = Q
    else:
        S = _unit_rows(sources, "sources", dev)
        _check_pair(S, K, "sources", "keys")
    return _fused_terms(K, S, knn_k, bq, bt, columns=False)[0]


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
    scores : Tensor of shape (n_q, min(k, n_k)), float32, CPU
        Full CSLS values (r_T included), descending.
    indices : Tensor of shape (n_q, min(k, n_k)), int64, CPU
    """
    k, knn_k = _check_k(k), _check_k(knn_k, "knn_k")
    dev = resolve_device(device)
    Q, K = _unit_rows(queries, "queries", dev), _unit_rows(keys, "keys", dev)
    _check_pair(Q, K, "queries", "keys")
    bq, bt = _sizes(dev, batch_size, tile_size)
    r_k = _key_terms(key_terms, K.shape[0], dev)
    if r_k is None:
        r_k = _source_terms(Q, K, sources, knn_k, bq, bt, dev)
    v, i, r_q = _row_pass(Q, K, k, bq, bt, scale=2.0, key_bias=r_k, cos_k=knn_k)
    return _cpu(v - r_q[:, None], i)


def _key_terms(terms, n_k: int, dev: torch.device) -> torch.Tensor | None:
    if terms is None:
        return None
    t = terms.detach() if isinstance(terms, torch.Tensor) else torch.from_numpy(np.asarray(terms, dtype=np.float32))
    if t.shape != (n_k,):
        raise ValueError(f"Expected key_terms of shape ({n_k},), got {tuple(t.shape)}")
    return t.to(dev, torch.float32)


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
    scores : Tensor of shape (n_q, min(k, n_k)), float32, CPU
        Log-probabilities ``log P(x | y)``, descending.
    indices : Tensor of shape (n_q, min(k, n_k)), int64, CPU
    """
    k = _check_k(k)
    beta = float(beta)
    if not math.isfinite(beta) or beta <= 0:
        raise ValueError(f"Expected beta > 0, got {beta}")
    dev = resolve_device(device)
    Q, K = _unit_rows(queries, "queries", dev), _unit_rows(keys, "keys", dev)
    _check_pair(Q, K, "queries", "keys")
    bq, bt = _sizes(dev, batch_size, tile_size)
    log_z = _key_terms(key_terms, K.shape[0], dev)
    if log_z is None:
        S = Q if sources is None else _unit_rows(sources, "sources", dev)
        _check_pair(S, K, "sources", "keys")
        log_z = _column_logsumexp(S, K, beta, bq, bt)
    v, i, _ = _row_pass(Q, K, k, bq, bt, scale=beta, key_bias=log_z)
    return _cpu(v, i)


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
    """Top-k keys per query by ``method`` ("nn" cosine, "csls" or "isf").

    ``knn_k`` is used by CSLS only, ``beta`` by inverted softmax only; ``sources``
    by both (see :func:`csls`). Returns ``(scores, indices)`` of shape
    (n_q, min(k, n_k)) as CPU tensors.
    """
    _check_method(method)
    common = dict(batch_size=batch_size, tile_size=tile_size, device=device)
    if method == "nn":
        return knn(queries, keys, k, **common)
    if method == "csls":
        return csls(queries, keys, k, knn_k=knn_k, sources=sources, **common)
    return inverted_softmax(queries, keys, k, beta=beta, sources=sources, **common)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"Expected method to be one of {', '.join(METHODS)}, got {method!r}")


class _Scorer:
    """A method's scores of queries Q against keys K: ``scale * cos - key_bias`` (minus r_T(x) for CSLS).

    Precomputes the per-key and per-query terms so that several passes (top-k,
    rank counting) see the same numbers.
    """

    def __init__(self, Q, K, method, knn_k, beta, sources, bq, bt, dev):
        self.Q, self.K, self.bq, self.bt = Q, K, bq, bt
        self.scale, self.key_bias = 1.0, None
        self.knn_k = knn_k if method == "csls" else 0
        if method == "csls":
            self.scale = 2.0
            self.key_bias = _source_terms(Q, K, sources, knn_k, bq, bt, dev)
        elif method == "isf":
            self.scale = beta
            S = Q if sources is None else _unit_rows(sources, "sources", dev)
            _check_pair(S, K, "sources", "keys")
            self.key_bias = _column_logsumexp(S, K, beta, bq, bt)

    def top(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        v, i, r_q = _row_pass(
            self.Q, self.K, k, self.bq, self.bt, scale=self.scale, key_bias=self.key_bias, cos_k=self.knn_k
        )
        return (v - r_q[:, None] if r_q is not None else v), i

    def count_above(self, rows: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
        """How many keys score above ``thresholds`` for the queries ``rows``.

        Thresholds are on the scale ``scale * cos - key_bias`` (without the
        per-query term, which does not change a query's ranking).
        """
        return _count_above(
            self.Q[rows], self.K, thresholds, self.bq, self.bt, scale=self.scale, key_bias=self.key_bias
        )


def _best_both_ways(Xn, Zn, bq, bt, *, scale=1.0, z_bias=None, x_bias=None):
    """Best z per x of ``scale cos - z_bias[z]`` and best x per z of ``scale cos - x_bias[x]``.

    One matrix product per tile serves both directions: the row maxima are read
    after subtracting ``z_bias``, the column maxima after swapping it for ``x_bias``.
    """
    n_x, n_z = Xn.shape[0], Zn.shape[0]
    fv = torch.empty(n_x, device=Xn.device)
    fi = torch.empty(n_x, dtype=torch.int64, device=Xn.device)
    bv = torch.full((n_z,), -math.inf, device=Xn.device)
    bi = torch.zeros(n_z, dtype=torch.int64, device=Xn.device)
    for qs, ks, S in _tiles(Xn, Zn, bq, bt, scale):
        if z_bias is not None:
            S.sub_(z_bias[ks])
        v, i = S.max(dim=1)
        i += ks.start
        if ks.start == 0:
            row_v, row_i = v, i
        else:
            better = v > row_v
            row_v, row_i = torch.where(better, v, row_v), torch.where(better, i, row_i)
        if ks.stop == n_z:
            fv[qs], fi[qs] = row_v, row_i
        if z_bias is not None:
            S.add_(z_bias[ks])
        if x_bias is not None:
            S.sub_(x_bias[qs, None])
        v, i = S.max(dim=0)
        better = v > bv[ks]
        bv[ks] = torch.where(better, v, bv[ks])
        bi[ks] = torch.where(better, i + qs.start, bi[ks])
    return fv, fi, bv, bi


def _best_pairs(Xn, Zn, method, knn_k, beta, bq, bt) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best z for each x and best x for each z under ``method``, with their scores."""
    if method == "csls":
        r_x, r_z = _fused_terms(Xn, Zn, knn_k, bq, bt)
        fv, fi, bv, bi = _best_both_ways(Xn, Zn, bq, bt, scale=2.0, z_bias=r_z, x_bias=r_x)
        return fv - r_x, fi, bv - r_z, bi
    if method == "isf":
        # Forward retrieval normalises over X, backward over Z.
        lz = _column_logsumexp(Xn, Zn, beta, bq, bt)
        lx = _column_logsumexp(Zn, Xn, beta, bq, bt)
        return _best_both_ways(Xn, Zn, bq, bt, scale=beta, z_bias=lz, x_bias=lx)
    return _best_both_ways(Xn, Zn, bq, bt)


def induce_pairs(
    X,
    Z,
    *,
    method: Method = "csls",
    direction: Literal["forward", "backward", "union", "intersection"] = "forward",
    max_rank: int | None = None,
    threshold: float | None = None,
    knn_k: int = 10,
    beta: float = 30.0,
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
) -> np.ndarray:
    """Induce a dictionary: pair words with their best translation under ``method``.

    Parameters
    ----------
    X : array-like or Tensor of shape (n_x, d)
        Source vectors (rows sorted by frequency if ``max_rank`` is used).
    Z : array-like or Tensor of shape (n_z, d)
        Target vectors in the same space.
    method : {"nn", "csls", "isf"}
        Score used to pick the best translation. For "csls" both neighbourhood
        terms are taken within the (rank-limited) X and Z; for "isf" forward
        retrieval normalises over X and backward over Z.
    direction : {"forward", "backward", "union", "intersection"}
        "forward": each x with its best z; "backward": each z with its best x;
        "union"/"intersection" of both sets ("intersection" = mutual nearest
        neighbours).
    max_rank : int, optional
        Only the first ``max_rank`` rows of X and of Z take part (MUSE's
        ``dico_max_rank``, VecMap's vocabulary cutoff).
    threshold : float, optional
        Keep only pairs whose score (in the chosen direction; in both for the
        intersection, in either for the union) is at least this.
    knn_k, beta, batch_size, tile_size, device
        As in :func:`retrieve`.

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2), int64
        ``(row in X, row in Z)``, sorted by source then target row, no duplicates.
    """
    _check_method(method)
    if direction not in ("forward", "backward", "union", "intersection"):
        raise ValueError(f"Expected direction forward, backward, union or intersection, got {direction!r}")
    knn_k = _check_k(knn_k, "knn_k")
    dev = resolve_device(device)
    Xn, Zn = _unit_rows(X, "X", dev), _unit_rows(Z, "Z", dev)
    _check_pair(Xn, Zn, "X", "Z")
    if max_rank is not None:
        max_rank = _check_k(max_rank, "max_rank")
        Xn, Zn = Xn[:max_rank], Zn[:max_rank]
    bq, bt = _sizes(dev, batch_size, tile_size)
    fv, fi, bv, bi = (t.cpu().numpy() for t in _best_pairs(Xn, Zn, method, knn_k, beta, bq, bt))
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
    pairs = np.unique(pairs.astype(np.int64).reshape(-1, 2), axis=0)
    logger.info("induced %d pairs (%s, %s, max_rank=%s)", len(pairs), method, direction, max_rank)
    return pairs


def mutual_nn_pairs(X, Z, *, method: Method = "csls", **kwargs) -> np.ndarray:
    """Pairs ``(x, z)`` that are each other's best match under ``method``.

    Shorthand for ``induce_pairs(X, Z, method=method, direction="intersection", **kwargs)``.
    """
    return induce_pairs(X, Z, method=method, direction="intersection", **kwargs)


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
    method : {"nn", "csls", "isf"}
    knn_k, beta, batch_size, tile_size, device
        As in :func:`retrieve`.

    Returns
    -------
    list of list of (str, float)
        One list per input word, in input order: its translations and scores, best first.

    Raises
    ------
    KeyError
        Some words are not in ``src_emb`` (the message names up to ten).
    """
    words = list(words)
    unknown = [w for w in words if w not in src_emb.word_to_index]
    if unknown:
        shown = ", ".join(repr(w) for w in unknown[:10])
        raise KeyError(f"Expected words from the source vocabulary, got {len(unknown)} unknown: {shown}")
    if not words:
        return []
    rows = np.array([src_emb.word_to_index[w] for w in words])
    scores, idx = retrieve(
        src_emb.vectors[rows], tgt_emb.vectors, k, method=method, knn_k=knn_k, beta=beta,
        sources=src_emb.vectors, batch_size=batch_size, tile_size=tile_size, device=device,
    )
    return [
        [(tgt_emb.words[j], float(s)) for s, j in zip(scores[n].tolist(), idx[n].tolist())]
        for n in range(len(words))
    ]
