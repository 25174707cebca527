"""PPMI-SVD embeddings (Levy & Goldberg 2014; Levy, Goldberg & Dagan 2015).

The classic count-based baseline: positive pointwise mutual information of
windowed co-occurrences, with the context distribution smoothed by an
exponent (0.75, as word2vec's negative sampling) and an optional shift by
log k (k = number of negatives; SGNS implicitly factorises the PMI matrix
shifted by log k), factorised by a truncated SVD.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp

from xling._utils import check_random_state
from xling.exceptions import InputError, NotEnoughDataError
from xling.train._svd import truncated_svd
from xling.train.cooccurrence import CooccurrenceTrainer

logger = logging.getLogger(__name__)

__all__ = ["PPMISVD", "ppmi_matrix"]


def ppmi_matrix(C: sp.spmatrix, *, context_smoothing: float = 0.75, shift: float = 1.0) -> sp.csr_matrix:
    """Shifted positive PMI with context-distribution smoothing.

    ``PPMI_wc = max(log(P(w,c) / (P(w) P_α(c))) - log k, 0)`` with
    ``P(w,c) = C_wc / N``, ``P(w) = Σ_c C_wc / N`` and the smoothed context
    distribution ``P_α(c) = (Σ_w C_wc)^α / Σ_c' (Σ_w C_wc')^α``. Unobserved
    pairs (PMI = -inf) are 0, so the result keeps C's sparsity.

    Parameters
    ----------
    C : sparse matrix of shape (n_words, n_contexts)
        Non-negative co-occurrence counts.
    context_smoothing : float
        The exponent α (1 disables smoothing).
    shift : float
        k >= 1; log k is subtracted before clipping at 0.

    Returns
    -------
    csr_matrix of shape (n_words, n_contexts), float64, without explicit zeros

    Examples
    --------
    >>> import numpy as np
    >>> C = sp.csr_matrix(np.array([[0., 2.], [2., 1.]]))
    >>> np.round(ppmi_matrix(C, context_smoothing=1.0).toarray(), 3)
    array([[0.   , 0.511],
           [0.511, 0.   ]])
    """
    if not context_smoothing > 0:
        raise InputError(f"Expected context_smoothing > 0, got {context_smoothing!r}")
    if not shift >= 1:
        raise InputError(f"Expected shift (the k of log k) >= 1, got {shift!r}")
    C = sp.csr_matrix(C, dtype=np.float64)
    if C.nnz == 0 or C.sum() <= 0:
        raise NotEnoughDataError("Expected at least one co-occurring pair, got an empty co-occurrence matrix")
    if C.data.min() < 0:
        raise InputError("Expected non-negative co-occurrence counts, got a negative entry")
    row_sums = np.asarray(C.sum(axis=1)).ravel()
    col_sums = np.asarray(C.sum(axis=0)).ravel()
    smoothed = col_sums ** context_smoothing
    coo = C.tocoo()
    # log P(w,c) - log P(w) - log P_α(c) = log C_wc - log C_w* - log (C_*c^α / Σ C_*c'^α)
    pmi = (np.log(coo.data) - np.log(row_sums[coo.row]) - np.log(smoothed[coo.col]) + np.log(smoothed.sum())
           - np.log(shift))
    keep = pmi > 0
    out = sp.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=C.shape)
    out.sort_indices()
    return out


class PPMISVD(CooccurrenceTrainer):
    """Truncated SVD of the (shifted, smoothed) PPMI matrix.

    With ``PPMI ≈ U Σ Vᵀ`` (top ``vector_size`` singular triplets), word
    vectors are ``W = U Σ^p`` (``eig=p``; Levy et al. 2015 find p = 0.5 or 0
    better than the textbook p = 1), and with ``add_context=True`` the
    context vectors ``C = V Σ^p`` are added (``W + C``).

    The SVD is ARPACK's (:func:`xling.train._svd.truncated_svd`,
    ``algorithm="arpack"``) on the sparse PPMI matrix: exact top singular
    triplets, memory O(nnz + n_words · ncv), start vector from
    ``random_state``. Signs are fixed so that each column of U has its
    largest-magnitude entry positive.

    Parameters
    ----------
    vector_size : int
        Number of singular triplets (the dimension).
    window : int
        Largest distance between co-occurring words, on each side.
    min_count : int
        Ignore words seen fewer times.
    max_vocab_size : int, optional
        Keep only this many most frequent words (after ``min_count``).
    weighting : {"linear", "harmonic", "uniform"}
        Weight of a pair at distance d (see :mod:`xling.train.cooccurrence`);
        "linear" is word2vec's dynamic window in expectation (Levy et al.'s
        "dyn").
    context_smoothing : float
        Exponent α of the context distribution ("cds", 0.75).
    shift : float
        k of the shift by log k ("neg"; 1 = no shift).
    eig : float
        Exponent p of the singular values in ``W = U Σ^p``.
    add_context : bool
        Return ``W + C`` instead of ``W``.
    tol : float
        ARPACK's relative accuracy (0: machine precision).
    random_state : int, numpy Generator or None
        Seeds ARPACK's start vector.
    callbacks : sequence of callables
        Called with one step event per phase (see
        :class:`xling.train.cooccurrence.CooccurrenceTrainer`).

    Attributes
    ----------
    embeddings_ : xling.Embeddings
        Shape (n_words, vector_size); words by descending count.
    singular_values_ : ndarray of shape (vector_size,)
        Decreasing.
    vocabulary_ : xling.train.Vocabulary
    history_ : list of dict
        One step event per phase (:mod:`xling._progress`; ``phase`` is
        ``vocabulary``, ``cooccurrence``, ``ppmi`` or ``svds``), each with
        ``seconds`` and sizes.

    Examples
    --------
    >>> sents = [["the", "cat", "sat"], ["the", "dog", "sat"], ["a", "cat", "ran"]] * 5
    >>> model = PPMISVD(vector_size=2, window=2, min_count=1, random_state=0).fit(sents)
    >>> model.embeddings_.vectors.shape
    (6, 2)
    """

    def __init__(
        self,
        vector_size: int = 300,
        window: int = 5,
        min_count: int = 5,
        max_vocab_size: int | None = None,
        weighting: str = "linear",
        context_smoothing: float = 0.75,
        shift: float = 1.0,
        eig: float = 0.5,
        add_context: bool = False,
        tol: float = 1e-4,
        random_state=None,
        callbacks=(),
    ):
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.weighting = weighting
        self.context_smoothing = context_smoothing
        self.shift = shift
        self.eig = eig
        self.add_context = add_context
        self.tol = tol
        self.random_state = random_state
        self.callbacks = callbacks

    _phases = ("vocabulary", "cooccurrence", "ppmi", "svds")

    def _check_params(self) -> None:
        if not self.context_smoothing > 0:
            raise InputError(f"Expected context_smoothing > 0, got {self.context_smoothing!r}")
        if not self.shift >= 1:
            raise InputError(f"Expected shift (the k of log k) >= 1, got {self.shift!r}")
        if not np.isfinite(self.eig):
            raise InputError(f"Expected a finite eig exponent, got {self.eig!r}")
        if not self.tol >= 0:
            raise InputError(f"Expected tol >= 0, got {self.tol!r}")

    def _fit_counts(self, vocabulary, C) -> np.ndarray:
        n_words, d = C.shape[0], self.vector_size
        if d >= n_words:
            raise NotEnoughDataError(
                f"Expected a vocabulary larger than vector_size={d}, got {n_words} words; "
                "lower vector_size or min_count, or give more text"
            )
        rng = check_random_state(self.random_state)
        start = time.perf_counter()
        M = ppmi_matrix(C, context_smoothing=self.context_smoothing, shift=self.shift)
        self._phase("ppmi", start, 0.45, nnz=int(M.nnz))
        logger.info("PPMI: %d x %d, %d positive entries (%.1f%% of the pairs)", n_words, n_words, M.nnz,
                    100.0 * M.nnz / max(C.nnz, 1))
        if M.nnz == 0:
            raise NotEnoughDataError("Expected some positive PMI entries, got none (lower shift)")

        start = time.perf_counter()
        # ARPACK, not the randomised solver: a PPMI spectrum decays slowly, and on the full English novels
        # (33,774 words, 300 dims) 10 power iterations took 136 s against ARPACK's 122 s and still moved
        # the trailing singular values by up to 2% and a quarter of the words' 10 nearest neighbours.
        U, sigma, V = truncated_svd(M, d, algorithm="arpack", tol=self.tol, random_state=rng)
        self._phase("svds", start, 1.0, top_singular_value=float(sigma[0]), last_singular_value=float(sigma[-1]))
        logger.info("svds: top %d singular values from %.4g to %.4g, %.1f s", d, sigma[0], sigma[-1],
                    self.history_[-1]["seconds"])
        scale = sigma ** self.eig
        vectors = U * scale
        if self.add_context:
            vectors = vectors + V * scale
        self.singular_values_ = sigma
        return vectors
