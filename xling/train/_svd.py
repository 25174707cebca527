"""The truncated SVD of the count-based trainers (PPMI-SVD, the inverted index, TILSA).

One function, two solvers: ARPACK (exact to a tolerance) and a seeded
randomised range finder (a fixed number of block products). Both return the
singular values in decreasing order and the same sign convention, so a
trainer's result depends on the solver only through its accuracy.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse.linalg as sla
from threadpoolctl import threadpool_limits

from xling._utils import check_random_state
from xling.exceptions import InputError

__all__ = ["truncated_svd", "SVD_ALGORITHMS"]

#: The values of ``algorithm`` of :func:`truncated_svd`.
SVD_ALGORITHMS = ("randomized", "arpack")


def truncated_svd(M, k: int, *, algorithm: str = "randomized", n_iter: int = 10, tol: float = 1e-4,
                  random_state=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top ``k`` singular triplets of a sparse matrix or a LinearOperator.

    Parameters
    ----------
    M : sparse matrix or scipy LinearOperator of shape (m, n)
        Anything with ``M @ X`` and ``M.T @ X`` for dense ``X``.
    k : int
        ``1 <= k < min(m, n)``.
    algorithm : {"randomized", "arpack"}
        ``"randomized"``: the randomised range finder with ``n_iter`` power
        iterations (Halko, Martinsson & Tropp 2011, Alg. 4.4), each a product
        with a block of ``k + oversampling`` vectors, so the cost is a few
        dozen sparse-times-dense products whatever the spectrum; accurate to
        a few digits on the leading triplets, which is all embeddings need,
        and it is the seeded draw that makes ``random_state`` matter.
        ``"arpack"``: :func:`scipy.sparse.linalg.svds` (exact to ``tol``,
        start vector from ``random_state``; many more, thinner products).
        scikit-learn's ``randomized_svd`` cannot take a LinearOperator, which
        :class:`xling.train.TranslationInvariantLSA` needs.
    n_iter : int
        Power iterations of ``"randomized"``.
    tol : float
        ARPACK's relative accuracy (0: machine precision).
    random_state : int, numpy Generator or None
        Seeds the random block (or ARPACK's start vector).

    Returns
    -------
    U : ndarray of shape (m, k)
    sigma : ndarray of shape (k,)
        Decreasing.
    V : ndarray of shape (n, k)
        ``M ≈ U diag(sigma) Vᵀ``; each column of ``U`` has its largest-magnitude
        entry positive (``V`` flipped with it), so the result does not depend
        on the solver's sign choice.
    """
    rng = check_random_state(random_state)
    if algorithm == "arpack":
        v0 = rng.standard_normal(min(M.shape))
        # One BLAS thread: ARPACK's many small BLAS-2 calls gain nothing from more (see xling.train.spectral).
        with threadpool_limits(1, user_api="blas"):
            U, sigma, Vt = sla.svds(M, k=k, v0=v0, tol=tol, solver="arpack")
        V = Vt.T
    elif algorithm == "randomized":
        # Oversampled, but never the whole column space: a block that spans it makes the result an exact
        # SVD (then ``random_state`` would not matter; the draw is what the seed is for).
        size = min(k + max(10, k // 10), min(M.shape) - 1)
        Q = _orthonormal(M @ rng.standard_normal((M.shape[1], size)))
        for _ in range(n_iter):
            # Re-orthonormalise after every product: without it the block collapses onto the top direction.
            Q = _orthonormal(M @ _orthonormal(M.T @ Q))
        B = np.asarray(M.T @ Q).T  # (size, n): Q Qᵀ M = Q B
        Ub, sigma, Vt = scipy.linalg.svd(B, full_matrices=False)
        U, sigma, V = Q @ Ub[:, :k], sigma[:k], Vt[:k].T
    else:
        raise InputError(f"Expected algorithm in {SVD_ALGORITHMS}, got {algorithm!r}")
    order = np.argsort(sigma)[::-1]
    sigma, U, V = sigma[order], U[:, order], V[:, order]
    signs = np.sign(U[np.abs(U).argmax(axis=0), np.arange(k)])
    signs[signs == 0] = 1.0
    return U * signs, sigma, V * signs


def _orthonormal(Y) -> np.ndarray:
    """An orthonormal basis of the columns of ``Y`` (thin QR)."""
    return scipy.linalg.qr(np.asarray(Y), mode="economic", overwrite_a=True, check_finite=False)[0]
