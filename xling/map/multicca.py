"""multiCCA: every language mapped into the hub's own space (Ammar et al. 2016)."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from xling.exceptions import InputError
from xling.map._base import BaseMapper
from xling.map.cca import canonical_directions

__all__ = ["MultiCCA"]


class MultiCCA(BaseMapper):
    """CCA with the hub, then back into the hub's original space.

    Ammar, Mulcaire, Tsvetkov, Lample, Dyer & Smith (2016), "Massively
    multilingual word embeddings", §2.2: for each language m, canonical
    correlation analysis between m and the hub (English) on the seed pairs
    gives projections ``T_m`` (d_x, r) and ``T_en`` (d_z, r) into a shared
    space (:func:`xling.map.cca.canonical_directions`, the solver of
    :class:`xling.map.CCA`); m is then mapped into the hub's *original* space
    by ``W = T_m · T_en⁻¹``, so that all languages share the hub's space and
    the hub's vectors are not changed at all (``z_map_`` is the identity and
    the target has no shift). Fitted once per source with
    :func:`xling.align`, the sources land in one space and any two of them can
    be compared directly.

    CCA centres both sides by the means of the paired rows, so the full map is
    affine: ``x ↦ (x − μ_m) W + μ_en``. It is stored as the one shift the
    alignment format has, ``x_mean_ = μ_m − μ_en W⁺`` (``W⁺`` the
    pseudo-inverse), which is exact when W has full column rank: all
    directions kept (``keep=1``) and d_x >= d_z. Otherwise (fewer directions,
    or a source of smaller dimension) ``T_en⁻¹`` is the pseudo-inverse, the
    source lands in an r-dimensional subspace of the hub's space, and the part
    of μ_en outside that subspace cannot be represented; its norm is kept in
    ``shift_residual_``.

    With every direction kept, ``W = C_m^(-1/2) U Vᵀ C_en^(1/2)`` (whitening,
    an orthogonal map between the whitened spaces, de-whitening into the hub):
    the canonical correlations select directions but do not weight them.

    Parameters
    ----------
    normalize : str or sequence of str, optional
        Normalisation steps applied to both spaces before CCA; the hub's vectors
        in the shared space are its vectors after these steps (None: exactly the input).
    keep : float
        Fraction of the min(d_x, d_z) canonical directions kept, in (0, 1]; 1
        keeps them all, so that T_en is square and inverted exactly, as in the paper.
    reg : float
        Relative ridge >= 0 added to both covariance matrices (see :class:`xling.map.CCA`).

    Attributes
    ----------
    x_map_ : ndarray of shape (d_x, d_z)
        ``W = T_m · T_en⁻¹``.
    z_map_ : ndarray of shape (d_z, d_z)
        The identity.
    x_mean_ : ndarray of shape (d_x,)
        The shift that also carries the hub's pair mean (see above).
    z_mean_ : None
    correlations_ : ndarray of shape (k,)
        Canonical correlations of the kept directions, decreasing.
    shift_residual_ : float
        Norm of the part of the hub's pair mean the stored shift misses (0 up
        to round-off when W has full column rank).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(300, 4)); A = rng.normal(size=(4, 4))
    >>> m = MultiCCA(normalize=None, reg=0.0).fit(Z @ A + 1.0, Z)
    >>> bool(np.allclose(m.transform(Z @ A + 1.0), Z, atol=1e-4)), bool(np.allclose(m.transform_target(Z), Z))
    (True, True)
    """

    same_dim = False

    def __init__(self, normalize=("unit", "center", "unit"), keep: float = 1.0, reg: float = 1e-3):
        self.normalize = normalize
        self.keep = keep
        self.reg = reg

    def _fit(self, X, Z, pairs):
        if not 0.0 < self.keep <= 1.0:
            raise InputError(f"Expected keep in (0, 1], got {self.keep}")
        x_mean, z_mean, Tx, Tz, s = canonical_directions(X[pairs[:, 0]], Z[pairs[:, 1]], self.reg)
        k = max(1, int(round(self.keep * len(s))))
        self.correlations_ = s[:k]
        # T_en⁻¹: the inverse when T_en is square (all directions, d_x >= d_z), else the pseudo-inverse
        Tz_inv = np.linalg.inv(Tz) if k == Tz.shape[0] else scipy.linalg.pinv(Tz[:, :k])
        W = Tx[:, :k] @ Tz_inv
        # (x - μ_m) W + μ_en  ==  (x - x_mean_) W  with  x_mean_ W = μ_m W - μ_en
        z_mean = z_mean.astype(np.float64)
        v = z_mean @ scipy.linalg.pinv(W)
        self.shift_residual_ = float(np.linalg.norm(v @ W - z_mean))
        self.x_mean_ = (x_mean - v).astype(np.float32)
        self.x_map_ = W
        self.z_map_ = np.eye(Z.shape[1])
        self.n_iter_ = 1
