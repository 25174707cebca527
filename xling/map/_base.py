"""The one interface shared by every mapping solver.

A mapper learns linear maps ``x_map_`` (d_x, k) and ``z_map_`` (d_z, k) that
send the (normalised) source space X and target space Z into one shared space
of dimension k. One-sided solvers keep ``z_map_`` the identity.

Contract (scikit-learn style)
-----------------------------
* ``__init__`` only stores hyperparameters.
* ``fit(X, Z, pairs=None) -> self``: X (n_x, d_x), Z (n_z, d_z); ``pairs`` an
  (n, 2) int array of (row in X, row in Z). ``None`` pairs row i with row i for
  supervised solvers and means "no supervision" for unsupervised ones.
  All validation happens here.
* ``transform(X)`` / ``transform_target(Z)`` re-apply the fitted normalisation
  and the map, and return float32 of the same kind as the input (ndarray or
  Tensor).
* Learned attributes end in ``_``: ``x_map_``, ``z_map_``, ``x_normalizer_``,
  ``z_normalizer_``, ``n_iter_``, ``history_``.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from xling._utils import check_matrix
from xling.exceptions import NotEnoughDataError
from xling.preprocessing import Normalizer

__all__ = ["BaseMapper", "check_pairs"]


def check_pairs(pairs, n_x: int, n_z: int, min_pairs: int = 1) -> np.ndarray:
    """Validate an (n, 2) array of row pairs against the sizes of X and Z."""
    arr = np.asarray(pairs)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"Expected pairs of shape (n_pairs, 2), got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"Expected integer row indices in pairs, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if len(arr) < min_pairs:
        raise NotEnoughDataError(f"Expected at least {min_pairs} seed pairs, got {len(arr)}")
    if arr.size and (arr[:, 0].min() < 0 or arr[:, 0].max() >= n_x or arr[:, 1].min() < 0 or arr[:, 1].max() >= n_z):
        raise ValueError(f"Expected pair indices within X rows [0, {n_x}) and Z rows [0, {n_z}), got out-of-range indices")
    return arr


class BaseMapper(BaseEstimator):
    """Base class of all mappers: validation, normalisation and transform.

    Subclasses set ``normalize`` (steps as accepted by :class:`Normalizer`) in
    ``__init__`` and implement ``_fit(X, Z, pairs)`` on the normalised float32
    matrices, setting ``x_map_`` and ``z_map_`` (numpy float32).

    Class attributes
    ----------------
    supervised : bool
        True when ``pairs=None`` means "row i pairs with row i"; False when it
        means "no seed lexicon" (adversarial, unsupervised self-learning).
    min_pairs : int
        Fewest seed pairs accepted.
    same_dim : bool
        True when the solver needs d_x == d_z.
    """

    supervised = True
    min_pairs = 2
    same_dim = True

    def fit(self, X, Z, pairs=None) -> "BaseMapper":
        """Learn the maps.

        Parameters
        ----------
        X : array-like of shape (n_x, d_x)
        Z : array-like of shape (n_z, d_z)
        pairs : array-like of shape (n_pairs, 2) or None

        Returns
        -------
        self
        """
        X = check_matrix(X, "X")
        Z = check_matrix(Z, "Z")
        if self.same_dim and X.shape[1] != Z.shape[1]:
            raise ValueError(
                f"Expected source and target vectors of the same dimension for {type(self).__name__}, "
                f"got {X.shape[1]} and {Z.shape[1]}"
            )
        if pairs is None and self.supervised:
            if len(X) != len(Z):
                raise ValueError(
                    f"Expected X and Z with the same number of rows when pairs=None, got {len(X)} and {len(Z)}"
                )
            pairs = np.stack([np.arange(len(X)), np.arange(len(X))], axis=1)
        if pairs is not None:
            pairs = check_pairs(pairs, len(X), len(Z), self.min_pairs)
        steps = getattr(self, "normalize", None)
        self.x_normalizer_ = Normalizer(steps)
        self.z_normalizer_ = Normalizer(steps)
        Xn = self.x_normalizer_.fit_transform(X)
        Zn = self.z_normalizer_.fit_transform(Z)
        self.history_ = []
        self.n_iter_ = 0
        self._fit(Xn, Zn, pairs)
        for name in ("x_map_", "z_map_"):
            M = getattr(self, name)
            if not np.isfinite(M).all():
                raise FloatingPointError(
                    f"{type(self).__name__} diverged: the learned {name} has NaN or inf values "
                    "(try a smaller learning rate or more seed pairs)"
                )
            setattr(self, name, np.ascontiguousarray(M, dtype=np.float32))
        return self

    def _fit(self, X: np.ndarray, Z: np.ndarray, pairs: np.ndarray | None) -> None:  # pragma: no cover
        raise NotImplementedError

    def _emit(self, event: dict) -> None:
        """Record one iteration of an iterative solver and pass it to ``callbacks``.

        ``event`` has at least ``"iteration"`` and ``"progress"`` (0..1, an
        upper bound of the run); it is appended to ``history_``.
        """
        self.history_.append(event)
        for callback in getattr(self, "callbacks", ()) or ():
            callback(event)

    def transform(self, X):
        """Map source vectors, shape (n, d_x) -> (n, k)."""
        check_is_fitted(self, "x_map_")
        return self._apply(X, self.x_normalizer_, self.x_map_)

    def transform_target(self, Z):
        """Map target vectors, shape (n, d_z) -> (n, k)."""
        check_is_fitted(self, "z_map_")
        return self._apply(Z, self.z_normalizer_, self.z_map_)

    @staticmethod
    def _apply(A, normalizer, M):
        is_tensor = isinstance(A, torch.Tensor)
        out = normalizer.transform(A) @ M
        if is_tensor:
            return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32)).to(A.device)
        return np.ascontiguousarray(out, dtype=np.float32)
