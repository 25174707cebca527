"""Least-squares linear map (Mikolov et al. 2013)."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from xling.exceptions import InputError
from xling.map._base import BaseMapper

__all__ = ["LeastSquares"]


class LeastSquares(BaseMapper):
    """Unconstrained linear map fitted by (ridge) least squares.

    Solves ``min_W Σ_i ||x_i W − z_i||² + α ||W||²_F`` on the seed pairs in
    closed form, in float64 (Mikolov, Le & Sutskever 2013, "Exploiting
    similarities among languages for machine translation", arXiv:1309.4168).

    Parameters
    ----------
    normalize : str or sequence of str, optional
        Normalisation steps applied to both spaces before fitting. Mikolov et
        al. used raw vectors (None).
    alpha : float
        Ridge penalty α >= 0; 0 gives ordinary least squares (minimum-norm
        solution when the pairs do not determine W).

    Attributes
    ----------
    x_map_ : ndarray of shape (d_x, d_z)
        W.
    z_map_ : ndarray of shape (d_z, d_z)
        The identity.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, W = rng.normal(size=(100, 5)), rng.normal(size=(5, 3))
    >>> m = LeastSquares(normalize=None).fit(X, X @ W)
    >>> bool(np.allclose(m.x_map_, W, atol=1e-4))
    True
    """

    same_dim = False

    def __init__(self, normalize=None, alpha: float = 0.0):
        self.normalize = normalize
        self.alpha = alpha

    def _fit(self, X, Z, pairs):
        if self.alpha < 0:
            raise InputError(f"Expected alpha >= 0, got {self.alpha}")
        A = X[pairs[:, 0]].astype(np.float64)
        B = Z[pairs[:, 1]].astype(np.float64)
        if self.alpha > 0:
            # normal equations with the ridge term: (AᵀA + αI) W = AᵀB
            G = A.T @ A + self.alpha * np.eye(A.shape[1])
            self.x_map_ = scipy.linalg.solve(G, A.T @ B, assume_a="pos")
        else:
            self.x_map_ = scipy.linalg.lstsq(A, B, lapack_driver="gelsd")[0]
        self.z_map_ = np.eye(Z.shape[1])
        self.n_iter_ = 1
