"""The multi-step framework of Artetxe, Labaka & Agirre (2018, AAAI)."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from xling.exceptions import InputError, NotEnoughDataError
from xling.map._base import BaseMapper
from xling.map.cca import inverse_sqrt, sqrtm_psd

__all__ = ["MultiStep", "multistep_maps"]

_SIDES = ("src", "tgt")


def _whiten_sides(whiten) -> tuple[bool, bool]:
    if whiten in (True, "both", "true", "True"):
        return True, True
    if whiten in (False, None, "none", "false", "False"):
        return False, False
    if whiten == "src":
        return True, False
    if whiten == "tgt":
        return False, True
    raise InputError(f"Expected whiten in (True, False, 'src', 'tgt'), got {whiten!r}")


def multistep_maps(
    A: np.ndarray,
    B: np.ndarray,
    *,
    whiten=False,
    src_reweight: float = 0.0,
    tgt_reweight: float = 0.0,
    src_dewhiten: str | None = None,
    tgt_dewhiten: str | None = None,
    dim_reduction: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two linear maps of the framework, fitted on aligned rows A[i] ↔ B[i].

    Steps (Artetxe et al. 2018 AAAI, section 3), in float64:

    1. whitening: ``W1x = (AᵀA)^(-1/2)``, ``W1z = (BᵀB)^(-1/2)`` (per side);
    2. orthogonal mapping: ``U S Vᵀ = (A W1x)ᵀ (B W1z)``; source gets U, target V;
    3. re-weighting: source columns times ``S^src_reweight``, target ``S^tgt_reweight``;
    4. de-whitening: a side is multiplied by ``Uᵀ (AᵀA)^(1/2) U`` ("src") or
       ``Vᵀ (BᵀB)^(1/2) V`` ("tgt");
    5. dimensionality reduction: keep the first ``dim_reduction`` components.

    Returns
    -------
    x_map : ndarray of shape (d_x, k)
    z_map : ndarray of shape (d_z, k)
    s : ndarray of shape (r,)
        Singular values of step 2, decreasing.
    """
    A = A.astype(np.float64)
    B = B.astype(np.float64)
    wx, wz = _whiten_sides(whiten)
    for name, value in (("src_dewhiten", src_dewhiten), ("tgt_dewhiten", tgt_dewhiten)):
        if value not in (None, "none", *_SIDES):
            raise InputError(f"Expected {name} in (None, 'src', 'tgt'), got {value!r}")
    if (wx or wz) and len(A) <= max(A.shape[1], B.shape[1]):
        raise NotEnoughDataError(
            f"Expected more seed pairs ({len(A)}) than dimensions ({max(A.shape[1], B.shape[1])}) to whiten; "
            "use whiten=False or more pairs"
        )
    Ca, Cb = A.T @ A, B.T @ B
    W1x = inverse_sqrt(Ca) if wx else np.eye(A.shape[1])
    W1z = inverse_sqrt(Cb) if wz else np.eye(B.shape[1])
    U, s, Vt = scipy.linalg.svd((A @ W1x).T @ (B @ W1z), full_matrices=False, lapack_driver="gesdd")
    V = Vt.T
    x_map = W1x @ U * s**src_reweight
    z_map = W1z @ V * s**tgt_reweight
    dewhiten = {"src": lambda: U.T @ sqrtm_psd(Ca) @ U, "tgt": lambda: V.T @ sqrtm_psd(Cb) @ V}
    if src_dewhiten in _SIDES:
        x_map = x_map @ dewhiten[src_dewhiten]()
    if tgt_dewhiten in _SIDES:
        z_map = z_map @ dewhiten[tgt_dewhiten]()
    if dim_reduction is not None:
        if not 1 <= dim_reduction <= len(s):
            raise InputError(f"Expected dim_reduction in [1, {len(s)}] or None, got {dim_reduction}")
        x_map, z_map = x_map[:, :dim_reduction], z_map[:, :dim_reduction]
    return x_map, z_map, s


class MultiStep(BaseMapper):
    """Whitening, orthogonal map, re-weighting, de-whitening, dimensionality reduction.

    Artetxe, Labaka & Agirre (2018), "Generalizing and improving bilingual word
    embedding mappings with a multi-step framework of linear transformations"
    (AAAI). Least squares, CCA and orthogonal mapping are special cases:

    * orthogonal (Xing et al. 2015; Artetxe et al. 2016): all steps off;
    * least squares (Mikolov et al. 2013): ``whiten="src"``, ``src_reweight=1``
      (same nearest neighbours as :class:`LeastSquares`);
    * CCA (Faruqui & Dyer 2014): ``whiten=True`` plus ``dim_reduction``;
    * the paper's best supervised recipe: unit, center, unit; whitening;
      re-weighting by ``S^0.5`` on both sides; each side de-whitened with its
      own covariance (see :mod:`xling.map.presets`).

    Every step uses the seed pairs only, as in the paper.

    Parameters
    ----------
    normalize : str or sequence of str, optional
        Normalisation steps applied before fitting.
    whiten : bool or {"src", "tgt"}
        Whiten both sides, none, or one.
    src_reweight, tgt_reweight : float
        Exponent of the singular values multiplying each side (0: none).
    src_dewhiten, tgt_dewhiten : {None, "src", "tgt"}
        De-whiten a side with the source or target covariance.
    dim_reduction : int, optional
        Keep this many leading components.

    Attributes
    ----------
    x_map_ : ndarray of shape (d_x, k)
    z_map_ : ndarray of shape (d_z, k)
    singular_values_ : ndarray of shape (r,)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 6)); Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    >>> m = MultiStep(normalize=None, whiten=True, src_reweight=0.5, tgt_reweight=0.5).fit(X, X @ Q)
    >>> bool(np.allclose(m.transform(X), m.transform_target(X @ Q), atol=1e-4))
    True
    """

    same_dim = False

    def __init__(
        self,
        normalize=("unit", "center", "unit"),
        whiten=False,
        src_reweight: float = 0.0,
        tgt_reweight: float = 0.0,
        src_dewhiten: str | None = None,
        tgt_dewhiten: str | None = None,
        dim_reduction: int | None = None,
    ):
        self.normalize = normalize
        self.whiten = whiten
        self.src_reweight = src_reweight
        self.tgt_reweight = tgt_reweight
        self.src_dewhiten = src_dewhiten
        self.tgt_dewhiten = tgt_dewhiten
        self.dim_reduction = dim_reduction

    def _fit(self, X, Z, pairs):
        self.x_map_, self.z_map_, self.singular_values_ = multistep_maps(
            X[pairs[:, 0]],
            Z[pairs[:, 1]],
            whiten=self.whiten,
            src_reweight=self.src_reweight,
            tgt_reweight=self.tgt_reweight,
            src_dewhiten=self.src_dewhiten,
            tgt_dewhiten=self.tgt_dewhiten,
            dim_reduction=self.dim_reduction,
        )
        self.n_iter_ = 1
