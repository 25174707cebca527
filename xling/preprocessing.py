"""Normalisation of embedding matrices, as ordered steps (Artetxe et al. 2016, 2018).

Steps
-----
``unit``        scale every row to unit length (zero rows stay zero).
``center``      subtract the mean row.
``unit_dim``    scale every column to unit variance (after centering, in practice).
``center_emb``  subtract the mean column value of each row (centre each embedding).
``none``        do nothing.

The classic recipe for orthogonal mapping is ``("unit", "center", "unit")``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from xling._utils import check_matrix
from xling.exceptions import InputError

__all__ = ["Normalizer", "normalize", "apply_steps", "STEPS", "parse_steps"]

STEPS = ("unit", "center", "unit_dim", "center_emb", "none")
_EPS = 1e-12


def parse_steps(steps: str | Sequence[str] | None) -> tuple[str, ...]:
    """Accept ``"unit,center,unit"``, a sequence, or None (no steps); validate names."""
    if steps is None:
        return ()
    if isinstance(steps, str):
        steps = [s.strip() for s in steps.split(",") if s.strip()]
    steps = tuple(s.replace("-", "_") for s in steps)
    for s in steps:
        if s not in STEPS:
            raise InputError(f"Expected normalisation steps from {STEPS}, got {s!r}")
    return tuple(s for s in steps if s != "none")


class Normalizer(TransformerMixin, BaseEstimator):
    """Apply normalisation steps in order; statistics are learned in ``fit``.

    ``center`` and ``unit_dim`` use the means and scales seen by ``fit`` (so the
    same shift is applied to words added later); ``unit`` and ``center_emb`` are
    per-row and need no statistics.

    Parameters
    ----------
    steps : str or sequence of str
        E.g. ``"unit,center,unit"``.

    Attributes
    ----------
    stats_ : list of (step, ndarray or None)
        The per-step statistic: the mean row for ``center``, the column scale for
        ``unit_dim``.
    """

    def __init__(self, steps=("unit", "center", "unit")):
        self.steps = steps

    def fit(self, X, y=None) -> "Normalizer":
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        X = check_matrix(X, "X").copy()
        stats = []
        for step in parse_steps(self.steps):
            stat = None
            if step == "center":
                stat = X.mean(axis=0)
            elif step == "unit_dim":
                stat = np.maximum(X.std(axis=0), _EPS)
            X = _apply(step, X, stat)
            stats.append((step, stat))
        self.stats_ = stats
        self.n_features_in_ = X.shape[1]
        return X

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "stats_")
        return apply_steps(check_matrix(X, "X").copy(), self.stats_)


def apply_steps(X: np.ndarray, stats) -> np.ndarray:
    """Replay fitted steps ``[(step, statistic or None), ...]`` on X (n, d) float32, in place; returns X."""
    for step, stat in stats:
        X = _apply(step, X, stat)
    return X


def _apply(step: str, X: np.ndarray, stat) -> np.ndarray:
    if step == "unit":
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        X /= np.maximum(norms, _EPS)  # guard zero rows: they stay zero
    elif step == "center":
        X -= stat
    elif step == "unit_dim":
        X /= stat
    elif step == "center_emb":
        X -= X.mean(axis=1, keepdims=True)
    return X


def normalize(X, steps="unit,center,unit") -> np.ndarray:
    """Functional form: ``Normalizer(steps).fit_transform(X)``; returns a new float32 array."""
    return Normalizer(steps).fit_transform(X)
