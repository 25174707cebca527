"""Closed-form spectral embeddings: the eigenvectors word2vec learns.

Karkada et al. (2025, arXiv:2502.09863, which solves the training dynamics
of word2vec analytically) show that
word2vec-style training, under a quartic approximation of its loss, converges
to the top-d eigenspace of the target matrix

    M*_ij = (P(i,j) - P(i) P(j)) / (½ (P(i,j) + P(i) P(j)))

where P(i,j) are co-occurrence probabilities and P(i) their marginals: the
learned embeddings W satisfy W Wᵀ = the best rank-d approximation of M*
restricted to its positive eigenvalues. This module computes that solution
directly from windowed counts.
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from threadpoolctl import threadpool_limits

from xling._utils import check_random_state
from xling.exceptions import ConvergenceWarning, InputError, NotEnoughDataError
from xling.train.cooccurrence import CooccurrenceTrainer

logger = logging.getLogger(__name__)

__all__ = ["SpectralEmbedding", "target_matrix_sparse_part", "target_operator"]


def target_matrix_sparse_part(C: sp.spmatrix) -> sp.csr_matrix:
    """The sparse part S of the target matrix, ``M* = S - 2·11ᵀ``.

    With P(i,j) = C_ij / N (N the total count) and P(i) = Σ_j C_ij / N, an
    entry with no co-occurrence has ``M*_ij = -P(i)P(j) / (½ P(i)P(j)) = -2``
    exactly, and an observed one ``M*_ij = 2 (P - q) / (P + q)`` with
    ``q = P(i)P(j)``. Adding 2 everywhere therefore leaves the zero pattern
    of C intact: ``S_ij = M*_ij + 2 = 4 P(i,j) / (P(i,j) + P(i)P(j))`` on the
    support of C (values in (0, 4)) and 0 elsewhere. So M* is a sparse matrix
    plus a rank-one constant, and never needs to be formed densely.

    Parameters
    ----------
    C : sparse matrix of shape (n_words, n_words)
        Symmetric non-negative co-occurrence counts.

    Returns
    -------
    S : csr_matrix of shape (n_words, n_words), float64
    """
    C = sp.csr_matrix(C, dtype=np.float64)
    if C.shape[0] != C.shape[1]:
        raise InputError(f"Expected a square co-occurrence matrix, got shape {C.shape}")
    total = C.sum()
    if C.nnz == 0 or total <= 0:
        raise NotEnoughDataError("Expected at least one co-occurring pair, got an empty co-occurrence matrix")
    if C.data.min() < 0:
        raise InputError("Expected non-negative co-occurrence counts, got a negative entry")
    marginal = np.asarray(C.sum(axis=1)).ravel() / total
    coo = C.tocoo()
    joint = coo.data / total
    independent = marginal[coo.row] * marginal[coo.col]
    S = sp.csr_matrix((4.0 * joint / (joint + independent), (coo.row, coo.col)), shape=C.shape)
    S.sort_indices()
    return S


def target_operator(S: sp.csr_matrix) -> sla.LinearOperator:
    """``M* = S - 2·11ᵀ`` as a symmetric LinearOperator (never dense).

    A product costs one sparse product plus a sum: ``M* x = S x - 2 (Σ_i x_i) 1``.

    Parameters
    ----------
    S : csr_matrix of shape (n_words, n_words)
        From :func:`target_matrix_sparse_part`.

    Returns
    -------
    LinearOperator of shape (n_words, n_words), float64
    """
    def matvec(x):
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        return S @ x - 2.0 * x.sum()

    def matmat(X):
        X = np.asarray(X, dtype=np.float64)
        return S @ X - 2.0 * X.sum(axis=0, keepdims=True)

    return sla.LinearOperator(S.shape, matvec=matvec, matmat=matmat, rmatvec=matvec, rmatmat=matmat,
                              dtype=np.float64)


def _flip_signs(U: np.ndarray) -> np.ndarray:
    """Make each column's largest-magnitude entry positive (deterministic signs)."""
    rows = np.abs(U).argmax(axis=0)
    signs = np.sign(U[rows, np.arange(U.shape[1])])
    signs[signs == 0] = 1.0
    return U * signs


class SpectralEmbedding(CooccurrenceTrainer):
    """Top-d eigenvectors of word2vec's target matrix M* (Karkada et al. 2025).

    ``fit`` builds the vocabulary, counts windowed co-occurrences
    (:func:`xling.train.cooccurrence.cooccurrence_matrix`), forms
    ``M*_ij = (P(i,j) - P(i)P(j)) / (½(P(i,j) + P(i)P(j)))`` implicitly and
    returns ``W = U_d diag(sqrt(λ_d))``, the eigenvectors of its ``d`` largest
    eigenvalues scaled by their square roots, so that ``W Wᵀ`` is the best
    rank-d positive semi-definite approximation of M* (the solution the
    quartic word2vec loss converges to). Signs are fixed so that each
    eigenvector's largest entry is positive.

    Eigen-solve design
    ------------------
    M* is dense (every unobserved pair is -2) but exactly
    ``M* = S - 2·11ᵀ`` with S sparse on the observed pairs (see
    :func:`target_matrix_sparse_part`). A :class:`scipy.sparse.linalg.LinearOperator`
    applies it in O(nnz(C)) per product, and ARPACK's implicitly restarted
    Lanczos (:func:`scipy.sparse.linalg.eigsh`, ``which="LA"``: largest
    *algebraic*, because M* is indefinite — the constant term alone
    contributes an eigenvalue near ``-2 n_words``) finds the top ``d``
    eigenpairs. This is exact for the whole vocabulary, uses memory
    O(nnz(C) + n_words · ncv), and avoids the O(n_words²) memory and
    O(n_words³) time of a dense ``eigh``. The start vector comes from
    ``random_state``. Eigenvalues that are not positive (a vocabulary too
    small for ``vector_size``) give zero columns and a
    :class:`xling.ConvergenceWarning`.

    Parameters
    ----------
    vector_size : int
        Number of eigenvectors d (the dimension).
    window : int
        Largest distance between co-occurring words, on each side.
    min_count : int
        Ignore words seen fewer times.
    max_vocab_size : int, optional
        Keep only this many most frequent words (after ``min_count``).
    weighting : {"linear", "harmonic", "uniform"}
        Weight of a pair at distance d (see :mod:`xling.train.cooccurrence`);
        "linear" reproduces the expected counts of word2vec's dynamic window.
    tol : float
        ARPACK's relative accuracy of the eigenvalues (0: machine precision).
    ncv : int, optional
        Lanczos vectors kept between restarts (ARPACK's ``ncv``); None picks
        ``max(2 d + 1, 20)``. More vectors, fewer restarts and more memory.
    random_state : int, numpy Generator or None
        Seeds ARPACK's start vector.
    callbacks : sequence of callables
        Called with one step event per phase (see
        :class:`xling.train.cooccurrence.CooccurrenceTrainer`).

    Attributes
    ----------
    embeddings_ : xling.Embeddings
        Shape (n_words, vector_size); words by descending count.
    eigenvalues_ : ndarray of shape (vector_size,)
        The top eigenvalues of M*, in decreasing order.
    vocabulary_ : xling.train.Vocabulary
    history_ : list of dict
        One step event per phase (:mod:`xling._progress`; ``phase`` is
        ``vocabulary``, ``cooccurrence``, ``target`` (sparse part of M*) or
        ``eigsh`` (with ``n_matvec`` and the largest relative residual
        ``max_residual``)), each with ``seconds``.

    Examples
    --------
    >>> sents = [["the", "cat", "sat"], ["the", "dog", "sat"], ["a", "cat", "ran"]] * 5
    >>> model = SpectralEmbedding(vector_size=1, window=2, min_count=1, random_state=0).fit(sents)
    >>> model.embeddings_.vectors.shape, bool(model.eigenvalues_[0] > 0)
    ((6, 1), True)
    """

    def __init__(
        self,
        vector_size: int = 300,
        window: int = 5,
        min_count: int = 5,
        max_vocab_size: int | None = None,
        weighting: str = "linear",
        tol: float = 1e-4,
        ncv: int | None = None,
        random_state=None,
        callbacks=(),
    ):
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.weighting = weighting
        self.tol = tol
        self.ncv = ncv
        self.random_state = random_state
        self.callbacks = callbacks

    _phases = ("vocabulary", "cooccurrence", "target", "eigsh")

    def _check_params(self) -> None:
        if not self.tol >= 0:
            raise InputError(f"Expected tol >= 0, got {self.tol!r}")
        if self.ncv is not None and self.ncv <= self.vector_size:
            raise InputError(f"Expected ncv > vector_size ({self.vector_size}) or None, got {self.ncv!r}")

    def _fit_counts(self, vocabulary, C) -> np.ndarray:
        n_words, d = C.shape[0], self.vector_size
        if d >= n_words:
            raise NotEnoughDataError(
                f"Expected a vocabulary larger than vector_size={d}, got {n_words} words; "
                "lower vector_size or min_count, or give more text"
            )
        rng = check_random_state(self.random_state)
        start = time.perf_counter()
        S = target_matrix_sparse_part(C)
        self._phase("target", start, 0.45, nnz=int(S.nnz))
        logger.info("target matrix M* = S - 2·11ᵀ: %d x %d, S has %d entries", n_words, n_words, S.nnz)

        start = time.perf_counter()
        operator = target_operator(S)
        counter = {"n": 0}

        def counted(x):
            counter["n"] += 1
            return operator.matvec(x)

        counted_op = sla.LinearOperator(operator.shape, matvec=counted, rmatvec=counted, dtype=np.float64)
        ncv = min(n_words, self.ncv if self.ncv is not None else max(2 * d + 1, 20))
        v0 = rng.standard_normal(n_words)
        # ARPACK drives many small BLAS-2 calls between products; threaded OpenBLAS
        # spins on them and was 3-5x slower than one thread on the 2-core machine.
        with threadpool_limits(1, user_api="blas"):
            values, vectors = sla.eigsh(counted_op, k=d, which="LA", v0=v0, tol=self.tol, ncv=ncv)
        order = np.argsort(values)[::-1]
        values, vectors = values[order], _flip_signs(vectors[:, order])
        residual = np.linalg.norm(operator.matmat(vectors) - vectors * values, axis=0)
        max_residual = float(np.max(residual / np.maximum(np.abs(values), 1e-12)))
        self._phase("eigsh", start, 1.0, n_matvec=counter["n"], ncv=ncv, max_residual=max_residual,
                    top_eigenvalue=float(values[0]), last_eigenvalue=float(values[-1]))
        logger.info(
            "eigsh: top %d eigenvalues of M* from %.4g to %.4g, %d products, max relative residual %.2g, %.1f s",
            d, values[0], values[-1], counter["n"], max_residual, self.history_[-1]["seconds"],
        )
        n_nonpositive = int((values <= 0).sum())
        if n_nonpositive:
            warnings.warn(
                f"{n_nonpositive} of the top {d} eigenvalues of M* are not positive; their columns are zero "
                "(lower vector_size)",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.eigenvalues_ = values
        return vectors * np.sqrt(np.clip(values, 0.0, None))
