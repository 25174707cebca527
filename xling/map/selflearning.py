"""Self-learning around any supervised mapper (Artetxe et al. 2017, 2018; Vulić & Korhonen 2016)."""

from __future__ import annotations

import inspect
import logging
import re
import warnings
from typing import Sequence

import numpy as np
from sklearn.base import clone

from xling import distributed
from xling._utils import check_random_state, resolve_device, torch_generator
from xling.exceptions import ConvergenceWarning, InputError, NotEnoughDataError
from xling.map._base import BaseMapper
from xling.map._diagnosis import conclude, diagnose_dictionary
from xling.map.procrustes import Procrustes
from xling.preprocessing import Normalizer
from xling.retrieval import DIRECTIONS, at_precision, check_precision, induce_pairs, vecmap_matches

logger = logging.getLogger(__name__)

__all__ = ["SelfLearning", "seed_pairs", "similarity_distribution_pairs", "SEEDS"]

SEEDS = ("pairs", "identical", "numerals", "unsupervised")
INDUCTIONS = ("masked", "vecmap")
_NUMERAL = re.compile(r"^[0-9]+([.,:/-][0-9]+)*$")


def seed_pairs(src_words: Sequence[str], tgt_words: Sequence[str], kind: str = "identical") -> np.ndarray:
    """Seed pairs from the vocabularies alone.

    Parameters
    ----------
    src_words, tgt_words : sequence of str
        Row order of X and Z.
    kind : {"identical", "numerals"}
        Words spelled identically in both vocabularies (Smith et al. 2017), or
        only numerals such as "1848" or "3,5" (Artetxe et al. 2017).

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2), int64

    Examples
    --------
    >>> seed_pairs(["the", "1848", "paris"], ["paris", "le", "1848"]).tolist()
    [[1, 2], [2, 0]]
    >>> seed_pairs(["the", "1848", "paris"], ["paris", "le", "1848"], kind="numerals").tolist()
    [[1, 2]]
    """
    if kind not in ("identical", "numerals"):
        raise InputError(f"Expected kind 'identical' or 'numerals', got {kind!r}")
    tgt_index = {w: j for j, w in enumerate(tgt_words)}
    rows = [
        (i, tgt_index[w])
        for i, w in enumerate(src_words)
        if w in tgt_index and (kind == "identical" or _NUMERAL.match(w))
    ]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


def similarity_distribution_pairs(
    X: np.ndarray,
    Z: np.ndarray,
    *,
    cutoff: int = 4000,
    method: str = "csls",
    knn_k: int = 10,
    direction: str = "union",
    normalize=("unit", "center", "unit"),
    device=None,
) -> np.ndarray:
    """An initial dictionary with no bilingual signal (Artetxe et al. 2018 ACL, §3.2).

    Words and their translations have similar *distributions of similarities*
    to the rest of their own vocabulary, whatever the rotation between the two
    spaces. For the first ``cutoff`` rows, each word is described by the sorted
    row of ``sqrt(M)`` where ``M = X Xᵀ`` (the square root, computed as
    ``U S Uᵀ`` from the SVD ``X = U S Vᵀ``, makes the distributions less
    peaked), these descriptors are normalised, and words are matched across
    languages by nearest neighbour (CSLS) between descriptors.

    Parameters
    ----------
    X : ndarray of shape (n_x, d_x)
    Z : ndarray of shape (n_z, d_z)
        Normalised embeddings, rows sorted by frequency.
    cutoff : int
        Most frequent words used on each side.

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2), int64
    """
    n = min(cutoff, len(X), len(Z))
    descriptors = []
    for A in (X[:n], Z[:n]):
        U, s, _ = np.linalg.svd(A.astype(np.float64), full_matrices=False)
        sim = (U * s) @ U.T
        sim.sort(axis=1)
        descriptors.append(Normalizer(normalize).fit_transform(sim.astype(np.float32)))
    return induce_pairs(*descriptors, method=method, knn_k=knn_k, direction=direction, device=device)


class _SeedSupervised:
    """``supervised`` read from ``seed``: on an instance its value, on the class the default."""

    def __get__(self, obj, owner) -> bool:
        seed = obj.seed if obj is not None else inspect.signature(owner.__init__).parameters["seed"].default
        return seed == "pairs"


class _SubMapperSameDim:
    """``same_dim`` of the sub-mappers (of the default ones on the class): whether either needs it."""

    def __get__(self, obj, owner) -> bool:
        obj = obj if obj is not None else owner()
        final = obj._final_sub_mapper()
        return obj._sub_mapper().same_dim or (final is not None and final.same_dim)


def _vecmap_objective(matches, direction: str) -> float:
    """VecMap's objective: the mean best cosine of the direction(s) it induces by (both for intersection)."""
    forward, backward = float(matches.forward_score.mean()), float(matches.backward_score.mean())
    return {"forward": forward, "backward": backward}.get(direction, (forward + backward) / 2)


class SelfLearning(BaseMapper):
    """Iterate: fit the mapper → induce a dictionary → refit, until no improvement.

    Artetxe, Labaka & Agirre (2017, ACL), "Learning bilingual word embeddings
    with (almost) no bilingual data", and (2018, ACL) "A robust self-learning
    method for fully unsupervised cross-lingual mappings of word embeddings".
    Each iteration fits a clone of ``mapper`` on the current dictionary, maps
    the ``vocabulary_cutoff`` most frequent words of each side and takes as new
    dictionary their best matches (CSLS or cosine, forward, backward, their
    union, or only mutual nearest neighbours, the *symmetric* constraint of
    Vulić & Korhonen 2016, "On the role of seed lexicons in learning bilingual
    word embeddings", ACL). The objective is the mean best similarity over
    both directions; the loop stops when it improves by less than ``tol``.

    With ``stochastic_initial < 1`` (stochastic dictionary induction, Artetxe
    et al. 2018 ACL), each similarity is kept with probability p, starting at
    ``stochastic_initial`` and multiplied by ``stochastic_multiplier`` after
    ``stochastic_interval`` iterations without improvement; the loop ends at
    p = 1 with no further improvement.

    Seeds
    -----
    ``"pairs"``: the given ``pairs`` (None: row i with row i).
    ``"identical"`` / ``"numerals"``: identical strings / numerals, from the
    ``src_words``/``tgt_words`` given to :meth:`fit` (plus ``pairs`` if given).
    ``"unsupervised"``: no bilingual signal at all; the initial dictionary
    comes from :func:`similarity_distribution_pairs`. The final dictionary is
    checked for held-out consistency (``diagnosis_``: does a map fitted on half
    of it recover the other half?) and, for the seeds ``"unsupervised"`` and
    ``"numerals"`` when ``fit`` has the words, by the spelling check of
    ``xling.map._diagnosis.spelling_check`` (self-learning from numerals on the
    novels' en-es vectors reached a self-consistent but wrong map: 41% held-out
    agreement, 0.0% of shared spellings translated to themselves, P@1 0). A
    failed run of any seed other than ``"pairs"`` warns (:class:`ConvergenceWarning`).

    Parameters
    ----------
    mapper : BaseMapper, optional
        Supervised solver to iterate (cloned); default ``Procrustes()``. Its
        ``normalize`` is the normalisation of the whole method (the final
        mapper's when there is one).
    final_mapper : BaseMapper, "auto" or None
        Supervised solver fitted once on the final dictionary (cloned): "auto"
        fits the multi-step map after the default Procrustes loop, None keeps
        the last iteration's map. In detail, ``"auto"`` (default) is the
        multi-step map (``artetxe2018-supervised``) when ``mapper`` is None,
        as VecMap's recipes end their Procrustes loop, unless the final
        dictionary has too few pairs to whiten (no more than the dimensions);
        else None. On en-es, en-fr and en-it it adds 0.8-2.2 NN and 1.1-1.5
        CSLS P@1 to the Procrustes loop (BENCHMARKS.md, "Self-learning against
        VecMap's recipes"). Several sources aligned into one hub
        (:func:`xling.align`) keep the last iteration's map instead: the
        multi-step map moves the target space.
    seed : {"pairs", "identical", "numerals", "unsupervised"}
    method : {"csls", "nn"}
        Similarity used for dictionary induction.
    knn_k : int
        CSLS neighbourhood size.
    direction : {"forward", "backward", "union", "intersection"}
    threshold : float, optional
        Induced pairs scoring below it are dropped.
    vocabulary_cutoff : int
        Most frequent words of each side that take part in induction (rows are
        assumed sorted by frequency, as in .vec files).
    max_iter : int
        Upper bound on iterations (a :class:`ConvergenceWarning` when reached).
    tol : float
        Smallest objective improvement that counts.
    stochastic_initial, stochastic_multiplier : float
        Keep probability of each similarity at the start, and its factor after each stall (see above).
    stochastic_interval : int
        Iterations without improvement before the keep probability grows.
    induction : {"masked", "vecmap"}
        Stochastic induction and stopping rule: xling's ("masked") or VecMap's
        to the letter ("vecmap", the ``artetxe2018-*`` recipes' default).
        ``"masked"``: a dropped score is ignored, one mask serves
        both directions, the objective is the mean best kept score, a union
        has no duplicate pairs, and at keep probability 1 the loop ends at the
        first iteration without improvement (induction is then deterministic).
        ``"vecmap"``: VecMap's ``map_embeddings.py`` to the letter
        (:func:`xling.retrieval.vecmap_matches`): a dropped score counts as 0,
        each direction has its own mask, the objective is the mean best
        cosine, a union counts pairs found both ways twice, each stage after
        the first waits ``stochastic_interval + 1`` iterations, and at keep
        probability 1 the loop ends only after ``stochastic_interval``
        iterations without improvement, on the last induced dictionary. Method
        "csls" or "nn"; no ``threshold``. With several processes every rank
        induces the whole dictionary (identically: the masks are seeded alike).
    precision : {"fp16", "fp32", "fp64"}, optional
        Floating-point precision of dictionary induction and of the
        unsupervised initialisation's matching (VecMap's ``--precision``; see
        :func:`xling.retrieval.precision`); None: the one in effect when
        ``fit`` runs (fp32 by default). The sub-mappers keep their own
        precision (Procrustes and the multi-step map solve in float64).
    init_cutoff : int
        Words per side for the unsupervised initialisation.
    device : str, optional
        Where induction runs; None picks CUDA when available.
    random_state : int, optional
        Seeds the stochastic dictionary induction and the diagnosis.
    callbacks : sequence of callables
        Called with one event per iteration (schema of :mod:`xling._progress`,
        ``total`` = ``max_iter``, an upper bound; metrics ``objective``,
        ``n_pairs``, ``keep_prob``, and ``val_nn_p@1``, ``val_csls_p@1`` when
        ``fit`` has ``validation`` pairs), then one with ``phase="diagnosis"``.

    Attributes
    ----------
    mapper_ : BaseMapper
        The sub-mapper (``final_mapper`` if given) fitted on the final dictionary.
    x_map_, z_map_ : ndarray
        Those of ``mapper_``.
    pairs_ : ndarray of shape (n_pairs, 2)
        The final dictionary.
    seed_pairs_ : ndarray of shape (n_seed, 2)
        The initial dictionary.
    diagnosis_ : dict
        ``heldout_agreement``, ``success`` and a ``message`` (see above); set
        for every seed.
    history_ : list of dict
        One entry per iteration, then one with ``phase="diagnosis"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 8)); Q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    >>> m = SelfLearning(random_state=0, device="cpu").fit(X, X @ Q, [[0, 0], [1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [6, 6], [7, 7], [8, 8], [9, 9]])
    >>> float((m.pairs_[:, 0] == m.pairs_[:, 1]).mean())
    1.0
    """

    def __init__(
        self,
        mapper: BaseMapper | None = None,
        final_mapper: BaseMapper | str | None = "auto",
        seed: str = "pairs",
        method: str = "csls",
        knn_k: int = 10,
        direction: str = "union",
        threshold: float | None = None,
        vocabulary_cutoff: int = 20_000,
        max_iter: int = 100,
        tol: float = 1e-6,
        stochastic_initial: float = 1.0,
        stochastic_multiplier: float = 2.0,
        stochastic_interval: int = 50,
        induction: str = "masked",
        precision: str | None = None,
        init_cutoff: int = 4000,
        device=None,
        random_state=None,
        callbacks=(),
    ):
        self.mapper = mapper
        self.final_mapper = final_mapper
        self.seed = seed
        self.method = method
        self.knn_k = knn_k
        self.direction = direction
        self.threshold = threshold
        self.vocabulary_cutoff = vocabulary_cutoff
        self.max_iter = max_iter
        self.tol = tol
        self.stochastic_initial = stochastic_initial
        self.stochastic_multiplier = stochastic_multiplier
        self.stochastic_interval = stochastic_interval
        self.induction = induction
        self.precision = precision
        self.init_cutoff = init_cutoff
        self.device = device
        self.random_state = random_state
        self.callbacks = callbacks

    # pairs=None means "row i with row i" only for seed="pairs"
    supervised = _SeedSupervised()  # type: ignore[assignment]

    same_dim = _SubMapperSameDim()  # type: ignore[assignment]

    # Inside xling.distributed.scope(group), every rank fits: the induction step splits the targets by
    # rows over the ranks, and the closed-form fits run on the first rank, which sends them to the others.
    fits_sharded = True

    def _sub_mapper(self) -> BaseMapper:
        return Procrustes() if self.mapper is None else self.mapper

    def _final_sub_mapper(self) -> BaseMapper | None:
        """The solver of the final map; None: the last iteration's map is the result."""
        if isinstance(self.final_mapper, str):
            if self.final_mapper != "auto":
                raise InputError(f"Expected final_mapper to be a mapper, 'auto' or None, got {self.final_mapper!r}")
            from xling.map.presets import Artetxe2018Supervised  # presets build on this module

            return Artetxe2018Supervised() if self.mapper is None else None
        return self.final_mapper

    uses_validation = True

    def fit(self, X, Z, pairs=None, *, src_words: Sequence[str] | None = None, tgt_words: Sequence[str] | None = None,
            validation=None):
        """Learn the maps.

        Parameters
        ----------
        X : array-like of shape (n_x, d_x)
        Z : array-like of shape (n_z, d_z)
            Rows sorted by frequency (induction uses the first rows).
        pairs : array-like of shape (n_pairs, 2), optional
            Seed pairs (``seed="pairs"``, or added to identical/numeral seeds).
        src_words, tgt_words : sequence of str, optional
            The words of the rows of X and Z; required by ``seed="identical"``
            and ``seed="numerals"`` and unused by the other seeds (so that a
            caller may always pass them).
        validation : array-like of shape (n_val, 2), optional
            Held-out (row in X, row in Z) pairs: each iteration's map is
            scored on them (P@1 by NN and CSLS, in ``history_``).

        Returns
        -------
        self
        """
        if self.seed not in SEEDS:
            raise InputError(f"Expected seed in {SEEDS}, got {self.seed!r}")
        if self.seed in ("identical", "numerals"):
            if src_words is None or tgt_words is None:
                raise InputError(f"Expected src_words and tgt_words for seed={self.seed!r}, got none")
            if len(src_words) != len(X) or len(tgt_words) != len(Z):
                raise InputError(
                    f"Expected one word per row, got {len(src_words)} words for {len(X)} rows of X and "
                    f"{len(tgt_words)} words for {len(Z)} rows of Z"
                )
            found = seed_pairs(src_words, tgt_words, self.seed)
            logger.info("seed=%s: %d pairs from the vocabularies", self.seed, len(found))
            if len(found) == 0 and pairs is None:
                raise NotEnoughDataError(f"Expected some {self.seed} words shared by both vocabularies, found none")
            if pairs is not None:
                found = np.unique(np.concatenate([np.asarray(pairs, dtype=np.int64).reshape(-1, 2), found]), axis=0)
            pairs = found
        if self.seed == "unsupervised" and pairs is not None:
            raise InputError("Expected pairs=None with seed='unsupervised' (it uses no bilingual signal)")
        super().fit(X, Z, pairs, src_words=src_words, tgt_words=tgt_words, validation=validation)
        # Spelling check where it is not circular: identical-string seeds would grade
        # themselves, and numeral seeds are left out of it.
        spelled = self.seed in ("unsupervised", "numerals") and src_words is not None and tgt_words is not None
        conclude(self, X, Z, src_words if spelled else None, tgt_words if spelled else None,
                 cut=self.vocabulary_cutoff, skip_numerals=self.seed == "numerals",
                 warn=self.seed != "pairs", label=f"Self-learning (seed={self.seed!r})")
        return self

    def _fit(self, X, Z, pairs):
        if self.method not in ("csls", "nn"):
            raise InputError(f"Expected method 'csls' or 'nn', got {self.method!r}")
        if self.direction not in DIRECTIONS:
            raise InputError(f"Expected direction in {DIRECTIONS}, got {self.direction!r}")
        if not 0 < self.stochastic_initial <= 1 or self.stochastic_multiplier <= 1 or self.stochastic_interval < 1:
            raise InputError(
                "Expected 0 < stochastic_initial <= 1, stochastic_multiplier > 1, stochastic_interval >= 1, got "
                f"{self.stochastic_initial}, {self.stochastic_multiplier}, {self.stochastic_interval}"
            )
        if self.max_iter < 1:
            raise InputError(f"Expected max_iter >= 1, got {self.max_iter}")
        if self.induction not in INDUCTIONS:
            raise InputError(f"Expected induction in {INDUCTIONS}, got {self.induction!r}")
        if self.precision is not None:
            check_precision(self.precision)
        vecmap = self.induction == "vecmap"
        if vecmap and self.threshold is not None:
            raise InputError(f"Expected threshold=None with induction='vecmap' (VecMap has none), got {self.threshold}")
        rng = check_random_state(self.random_state)
        device = resolve_device(self.device)
        gen = torch_generator(rng, device)  # seeded alike on every rank, so the dropout masks agree
        base, final = self._sub_mapper(), self._final_sub_mapper()
        group = distributed.current_group()  # None: one process
        if pairs is None:
            steps = base.get_params().get("normalize")
            Nx = Normalizer(steps).fit_transform(X[: self.init_cutoff])
            Nz = Normalizer(steps).fit_transform(Z[: self.init_cutoff])
            with at_precision(self.precision):
                pairs = distributed.on_root(lambda: similarity_distribution_pairs(
                    Nx, Nz, cutoff=self.init_cutoff, method=self.method, knn_k=self.knn_k, normalize=steps, device=device
                ), group=group, what="the unsupervised initialisation")
            logger.info("unsupervised initialisation: %d pairs", len(pairs))
        self.seed_pairs_ = pairs
        cut = min(self.vocabulary_cutoff, len(X), len(Z))
        keep_prob = self.stochastic_initial
        best, last_improvement = -np.inf, 0
        converged = False
        for it in range(1, self.max_iter + 1):
            mapper = distributed.on_root(lambda: clone(base).fit(X, Z, pairs), group=group,
                                         what=f"fitting the map of iteration {it}")
            Xc, Zc = mapper.transform(X[:cut]), mapper.transform_target(Z[:cut])
            with at_precision(self.precision):
                if vecmap:
                    matches = vecmap_matches(Xc, Zc, method=self.method, knn_k=self.knn_k, keep_prob=keep_prob,
                                             generator=gen, device=device)
                    new_pairs = matches.pairs(self.direction, unique=False)
                    objective = _vecmap_objective(matches, self.direction)
                else:
                    matches = distributed.split_best_matches(Xc, Zc, method=self.method, knn_k=self.knn_k,
                                                             keep_prob=keep_prob, generator=gen, device=device,
                                                             group=group)
                    new_pairs, objective = matches.pairs(self.direction, self.threshold), matches.objective
            if not np.isfinite(objective):
                raise FloatingPointError(f"SelfLearning diverged at iteration {it}: objective is {objective}")
            improved = objective - best >= self.tol
            if improved:
                best, last_improvement = objective, it
            logger.info("self-learning iteration %d: objective %.5f, %d pairs, keep_prob %.3g", it, objective, len(new_pairs), keep_prob)
            vx, vz = self._validation_rows(len(X), len(Z))  # held-out P@1 of this iteration's map (VecMap's --validation)
            val = self._validation_metrics(mapper.transform(X[:vx]), mapper.transform_target(Z[:vz]), device) if vx else {}
            self._emit("self-learning", it, self.max_iter, it / self.max_iter, objective=objective,
                       n_pairs=int(len(new_pairs)), keep_prob=keep_prob, **val)
            if len(new_pairs) < base.min_pairs:
                raise NotEnoughDataError(
                    f"SelfLearning induced only {len(new_pairs)} pairs at iteration {it} (threshold {self.threshold}?); "
                    f"{type(base).__name__} needs {base.min_pairs}"
                )
            stalled = it - last_improvement >= self.stochastic_interval if vecmap else not improved
            if keep_prob >= 1.0 and stalled:
                converged = True
                if vecmap:  # VecMap's final map takes the dictionary of its last induction
                    pairs = new_pairs
                break
            pairs = new_pairs
            if keep_prob < 1.0 and it - last_improvement >= self.stochastic_interval:
                keep_prob = min(1.0, keep_prob * self.stochastic_multiplier)
                # VecMap counts a stage from the iteration after the raise
                last_improvement = it + 1 if vecmap else it
        if not converged:
            warnings.warn(
                f"SelfLearning stopped after max_iter={self.max_iter} iterations before the objective converged",
                ConvergenceWarning,
                stacklevel=3,
            )
        if self.final_mapper == "auto" and final is not None and len(np.unique(pairs, axis=0)) <= max(X.shape[1], Z.shape[1]):
            logger.info("final_mapper='auto': %d pairs are too few to whiten %d dimensions; the last iteration's "
                        "map is the result", len(pairs), max(X.shape[1], Z.shape[1]))
            final = None
        if final is not None or not converged or vecmap:  # else the last map was fitted on ``pairs`` already
            mapper = distributed.on_root(lambda: clone(base if final is None else final).fit(X, Z, pairs), group=group,
                                         what="fitting the final map")
        self.mapper_ = mapper
        self.pairs_ = pairs
        self.n_iter_ = it
        self.diagnosis_ = diagnose_dictionary(X[:cut], Z[:cut], pairs, rng=rng, knn_k=self.knn_k, device=device)
        # The whole method's state is the final sub-mapper's (SelfLearning itself
        # normalises nothing: its sub-mapper's ``normalize`` is the method's).
        self.x_map_, self.z_map_ = mapper.x_map_, mapper.z_map_
        self.x_mean_, self.z_mean_ = mapper.x_mean_, mapper.z_mean_
        self.x_normalizer_, self.z_normalizer_ = mapper.x_normalizer_, mapper.z_normalizer_
