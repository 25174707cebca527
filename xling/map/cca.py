"""Canonical correlation analysis (Faruqui & Dyer 2014)."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from xling.exceptions import InputError, NotEnoughDataError
from xling.map._base import BaseMapper

__all__ = ["CCA", "canonical_directions"]


def inverse_sqrt(C: np.ndarray, reg: float = 0.0) -> np.ndarray:
    """``(C + reg·mean_eig·I)^(-1/2)`` of a symmetric PSD matrix, by eigendecomposition.

    The ridge is relative to the mean eigenvalue (trace / d), so ``reg`` does
    not depend on the scale of the vectors.
    """
    d = C.shape[0]
    C = C + reg * (np.trace(C) / d) * np.eye(d)
    w, V = scipy.linalg.eigh(C)
    return (V / np.sqrt(w)) @ V.T


def sqrtm_psd(C: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix (negative round-off clipped)."""
    w, V = scipy.linalg.eigh(C)
    return (V * np.sqrt(np.clip(w, 0, None))) @ V.T


def canonical_directions(A: np.ndarray, B: np.ndarray, reg: float = 0.0):
    """Regularised CCA of paired rows: the shift and the canonical directions of each side.

    The one CCA solver of xling (:class:`CCA`, :class:`xling.map.MultiCCA`).
    The rows are centred by their means (rounded to float32, the shift that
    ``transform`` applies), both covariance matrices are regularised by
    ``reg · (tr C / d) · I`` and whitened, and the SVD of the whitened
    cross-covariance gives the directions, in decreasing order of correlation.

    Parameters
    ----------
    A : ndarray of shape (n, d_a)
    B : ndarray of shape (n, d_b)
        Row i of ``A`` is paired with row i of ``B``.
    reg : float
        Relative ridge >= 0.

    Returns
    -------
    a_mean : ndarray of shape (d_a,), float32
    b_mean : ndarray of shape (d_b,), float32
    Ta : ndarray of shape (d_a, r), float64
    Tb : ndarray of shape (d_b, r), float64
        Projections onto the r = min(d_a, d_b) canonical directions:
        ``(A - a_mean) @ Ta`` and ``(B - b_mean) @ Tb`` have identity
        covariance (up to the ridge) and column-wise correlations ``s``.
    s : ndarray of shape (r,)
        Canonical correlations, decreasing.

    Raises
    ------
    NotEnoughDataError
        ``reg == 0`` with no more pairs than dimensions.
    """
    if reg < 0:
        raise InputError(f"Expected reg >= 0, got {reg}")
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if reg == 0 and len(A) <= max(A.shape[1], B.shape[1]):
        raise NotEnoughDataError(
            f"Expected more pairs ({len(A)}) than dimensions ({max(A.shape[1], B.shape[1])}) for "
            "unregularised CCA; set reg > 0"
        )
    a_mean, b_mean = A.mean(axis=0).astype(np.float32), B.mean(axis=0).astype(np.float32)
    A, B = A - a_mean, B - b_mean
    Wa = inverse_sqrt(A.T @ A, reg)
    Wb = inverse_sqrt(B.T @ B, reg)
    # canonical directions: SVD of the whitened cross-covariance
    U, s, Vt = scipy.linalg.svd(Wa @ (A.T @ B) @ Wb, full_matrices=False, lapack_driver="gesdd")
    return a_mean, b_mean, Wa @ U, Wb @ Vt.T, s


class CCA(BaseMapper):
    """Project both spaces onto their most correlated directions.

    Faruqui & Dyer (2014), "Improving vector space word representations using
    multilingual correlation" (EACL): canonical correlation analysis on the
    seed pairs gives projections ``x_map_`` (d_x, k) and ``z_map_`` (d_z, k)
    into a shared space, keeping the ``keep`` fraction of directions with the
    highest canonical correlation (0.8 in the paper).

    The covariance matrices are regularised, ``C + reg · (tr C / d) · I``, so
    that CCA stays defined with fewer pairs than dimensions (regularised CCA,
    Vinod 1976); the pair means are removed before fitting and kept in
    ``x_mean_``/``z_mean_`` so that ``transform`` applies the same shift.

    Parameters
    ----------
    normalize : str or sequence of str, optional
        Normalisation steps applied before CCA (Faruqui & Dyer: unit length).
    keep : float
        Fraction of the min(d_x, d_z) canonical directions kept, in (0, 1].
    reg : float
        Relative ridge >= 0 added to both covariance matrices.

    Attributes
    ----------
    x_map_, z_map_ : ndarray of shape (d_x, k), (d_z, k)
    x_mean_, z_mean_ : ndarray of shape (d_x,), (d_z,)
        Means of the paired rows (removed before the projection).
    correlations_ : ndarray of shape (k,)
        Canonical correlations of the kept directions, decreasing.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> S = rng.normal(size=(500, 3))
    >>> X = np.hstack([S, rng.normal(size=(500, 2))]); Z = np.hstack([S @ rng.normal(size=(3, 3)), rng.normal(size=(500, 3))])
    >>> m = CCA(normalize=None, keep=0.6, reg=0.0).fit(X, Z)
    >>> m.x_map_.shape, bool(m.correlations_.min() > 0.99)
    ((5, 3), True)
    """

    same_dim = False

    def __init__(self, normalize="unit", keep: float = 0.8, reg: float = 1e-3):
        self.normalize = normalize
        self.keep = keep
        self.reg = reg

    def _fit(self, X, Z, pairs):
        if not 0.0 < self.keep <= 1.0:
            raise InputError(f"Expected keep in (0, 1], got {self.keep}")
        # kept as the fitted shift of each side: transform applies (normalise(A) - mean) @ map
        self.x_mean_, self.z_mean_, Ta, Tb, s = canonical_directions(X[pairs[:, 0]], Z[pairs[:, 1]], self.reg)
        k = max(1, int(round(self.keep * len(s))))
        self.correlations_ = s[:k]
        self.x_map_ = Ta[:, :k]
        self.z_map_ = Tb[:, :k]
        self.n_iter_ = 1
