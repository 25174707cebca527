"""The one interface shared by every mapping solver.

A mapper learns linear maps ``x_map_`` (d_x, k) and ``z_map_`` (d_z, k) that
send the (normalised) source space X and target space Z into one shared space
of dimension k. One-sided solvers keep ``z_map_`` the identity.

Contract (scikit-learn style)
-----------------------------
* ``__init__`` only stores hyperparameters.
* ``fit(X, Z, pairs=None, *, src_words=None, tgt_words=None, validation=None) -> self``
  for every mapper: X (n_x, d_x), Z (n_z, d_z); ``pairs`` an (n, 2) int array of
  (row in X, row in Z). ``None`` pairs row i with row i for supervised solvers
  and means "no supervision" for unsupervised ones. ``src_words``/``tgt_words``
  (the words of the rows) are used by the solvers that need them (seeds from
  identical spellings, the spelling check) and ignored by the others, so a
  caller can always pass them. ``validation``, row pairs of a held-out
  lexicon, is the same: the iterative solvers (``uses_validation``) record
  its P@1 by NN and CSLS in every iteration's ``history_`` entry
  (``val_nn_p@1``, ``val_csls_p@1``; VecMap's ``--validation``), the others
  ignore it. All validation happens here.
* The fitted state of every mapper is, per side, a normalisation, an optional
  shift and a matrix (:class:`xling.alignment.AlignmentSide`):
  ``x_normalizer_``, ``x_mean_`` (None when there is no shift) and ``x_map_``
  (``z_...`` for the target). ``transform(X)`` / ``transform_target(Z)`` apply
  exactly that state (no subclass overrides them), check the input width
  against ``n_features_in_`` / ``n_target_features_in_``, and return float32
  of the same kind as the input (ndarray or Tensor). :meth:`to_alignment`
  packs it into an :class:`xling.Alignment` that can be saved and loaded.
* Learned attributes end in ``_``: ``x_map_``, ``z_map_``, ``x_normalizer_``,
  ``z_normalizer_``, ``x_mean_``, ``z_mean_``, ``n_features_in_``,
  ``n_target_features_in_``, ``n_iter_``, ``history_``.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from xling._progress import emit, make_event
from xling._utils import check_matrix, settings_of
from xling.alignment import Alignment, AlignmentSide
from xling.exceptions import InputError, InputTypeError, NotEnoughDataError
from xling.preprocessing import Normalizer

logger = logging.getLogger(__name__)

__all__ = ["BaseMapper", "check_pairs", "VALIDATION_ROWS"]

# Validation P@1 retrieves among the first rows of each side: this many, or up to
# the rarest validation word (a full 200k x 200k CSLS pass per iteration would
# cost more than most iterations themselves).
VALIDATION_ROWS = 20_000


def check_pairs(pairs, n_x: int, n_z: int, min_pairs: int = 1) -> np.ndarray:
    """Validate an (n, 2) array of row pairs against the sizes of X and Z."""
    arr = np.asarray(pairs)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(f"Expected pairs of shape (n_pairs, 2), got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InputTypeError(f"Expected integer row indices in pairs, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if len(arr) < min_pairs:
        raise NotEnoughDataError(f"Expected at least {min_pairs} seed pairs, got {len(arr)}")
    if arr.size and (arr[:, 0].min() < 0 or arr[:, 0].max() >= n_x or arr[:, 1].min() < 0 or arr[:, 1].max() >= n_z):
        raise InputError(f"Expected pair indices within X rows [0, {n_x}) and Z rows [0, {n_z}), got out-of-range indices")
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
    uses_validation : bool
        True for the iterative solvers, which log the P@1 of ``fit``'s
        ``validation`` pairs per iteration.
    """

    supervised = True
    min_pairs = 2
    same_dim = True
    uses_validation = False

    def fit(self, X, Z, pairs=None, *, src_words=None, tgt_words=None, validation=None) -> "BaseMapper":
        """Learn the maps.

        Parameters
        ----------
        X : array-like of shape (n_x, d_x)
        Z : array-like of shape (n_z, d_z)
        pairs : array-like of shape (n_pairs, 2) or None
        src_words, tgt_words : sequence of str, optional
            The words of the rows of X and Z; ignored by solvers that do not use them.
        validation : array-like of shape (n_val, 2), optional
            Held-out (row in X, row in Z) pairs, several per source row for
            several translations; solvers with ``uses_validation`` record
            their P@1 in ``history_`` after every iteration, the others ignore them.

        Returns
        -------
        self
        """
        X = check_matrix(X, "X")
        Z = check_matrix(Z, "Z")
        if self.same_dim and X.shape[1] != Z.shape[1]:
            raise InputError(
                f"Expected source and target vectors of the same dimension for {type(self).__name__}, "
                f"got {X.shape[1]} and {Z.shape[1]}"
            )
        if pairs is None and self.supervised:
            if len(X) != len(Z):
                raise InputError(
                    f"Expected X and Z with the same number of rows when pairs=None, got {len(X)} and {len(Z)}"
                )
            pairs = np.stack([np.arange(len(X)), np.arange(len(X))], axis=1)
        if pairs is not None:
            pairs = check_pairs(pairs, len(X), len(Z), self.min_pairs)
        self._validation = None
        if validation is not None:
            try:
                self._validation = check_pairs(validation, len(X), len(Z), 1)
            except (InputError, NotEnoughDataError) as exc:
                raise type(exc)(f"validation: {exc}") from None
        steps = getattr(self, "normalize", None)
        self.x_normalizer_ = Normalizer(steps)
        self.z_normalizer_ = Normalizer(steps)
        Xn = self.x_normalizer_.fit_transform(X)
        Zn = self.z_normalizer_.fit_transform(Z)
        self.history_ = []
        self.n_iter_ = 0
        self.x_mean_ = self.z_mean_ = None
        self._fit(Xn, Zn, pairs)
        self.n_features_in_ = int(X.shape[1])
        self.n_target_features_in_ = int(Z.shape[1])
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

    def _emit(self, phase: str, step: int, total: int | None, progress: float, **metrics) -> None:
        """Record one finished iteration in ``history_`` and pass it to ``callbacks``.

        The event has the schema of every iterative estimator
        (:func:`xling._progress.make_event`): ``phase``, ``step`` (1-based),
        ``total`` (planned steps, an upper bound for runs that may stop early),
        ``progress`` (0..1) and the metrics of the step.
        """
        emit(self, make_event(phase, step, total, progress, **metrics))

    def _validation_rows(self, n_x: int, n_z: int) -> tuple[int, int]:
        """Leading rows of X and Z that the validation step maps ((0, 0) without validation pairs).

        ``VALIDATION_ROWS`` of each side, or up to the rarest validation word.
        """
        V = getattr(self, "_validation", None)
        if V is None:
            return 0, 0
        return (min(n_x, max(VALIDATION_ROWS, int(V[:, 0].max()) + 1)),
                min(n_z, max(VALIDATION_ROWS, int(V[:, 1].max()) + 1)))

    def _validation_metrics(self, Y, W, device=None) -> dict:
        """P@1 of the validation pairs by NN and CSLS: ``{"val_nn_p@1", "val_csls_p@1"}``; {} without them.

        ``Y`` and ``W`` are the current mapped first rows of X and Z (see
        :meth:`_validation_rows`); the CSLS terms are taken within them.
        """
        V = getattr(self, "_validation", None)
        if V is None:
            return {}
        from xling.evaluate import pairs_precision

        scores = pairs_precision(Y, W, V, methods=("nn", "csls"), knn_k=getattr(self, "knn_k", 10), device=device)
        logger.info("validation P@1: nn %.4f, csls %.4f (%d pairs)", scores["nn"], scores["csls"], len(V))
        return {f"val_{method}_p@1": value for method, value in scores.items()}

    def transform(self, X):
        """Map source vectors, shape (n, d_x) -> (n, k)."""
        return self._fitted_side("x").apply(X, name="source vectors")

    def transform_target(self, Z):
        """Map target vectors, shape (n, d_z) -> (n, k)."""
        return self._fitted_side("z").apply(Z, name="target vectors")

    def _fitted_side(self, side: str) -> AlignmentSide:
        check_is_fitted(self, f"{side}_map_")
        mean = getattr(self, f"{side}_mean_", None)
        return AlignmentSide(getattr(self, f"{side}_normalizer_").stats_, getattr(self, f"{side}_map_"), mean)

    def to_alignment(self, src_lang: str | None = None, tgt_lang: str | None = None, method: str | None = None) -> Alignment:
        """The fitted state as an :class:`xling.Alignment` (apply, save, load).

        Parameters
        ----------
        src_lang, tgt_lang : str, optional
            Names recorded in the alignment.
        method : str, optional
            Registry name recorded in it (default: the class name).
        """
        return Alignment(self._fitted_side("x"), self._fitted_side("z"), method=method or type(self).__name__,
                         settings=settings_of(self), src_lang=src_lang, tgt_lang=tgt_lang)
