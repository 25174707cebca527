"""Named recipes: published methods as configurations of the solvers.

Each recipe is a small subclass whose constructor defaults are the published
settings, so ``xling align --method NAME`` and ``MAPPERS[NAME]()`` give the
method as described, and every setting can still be overridden.

========================  ==================================================
name                      recipe
========================  ==================================================
mikolov2013               least squares on raw vectors
xing2015                  unit length + orthogonal map
artetxe2016               unit, center, unit + orthogonal map
faruqui2014               unit length + CCA keeping 80% of the directions
artetxe2018-supervised    multi-step: unit, center, unit; whitening;
                          re-weighting S^0.5 on both sides; de-whitening
artetxe2018-semi-         stochastic self-learning (CSLS, union) around
supervised                Procrustes, then the multi-step map on the final
                          dictionary, from the given pairs
artetxe2018-identical     the same, from identically spelled words
artetxe2018-unsupervised  the same, from a similarity-distribution
                          initialisation
========================  ==================================================
"""

from __future__ import annotations

from xling.map.cca import CCA
from xling.map.lstsq import LeastSquares
from xling.map.multistep import MultiStep
from xling.map.procrustes import Procrustes
from xling.map.selflearning import SelfLearning

__all__ = ["Mikolov2013", "Xing2015", "Artetxe2016", "Faruqui2014", "Artetxe2018Supervised",
           "Artetxe2018SemiSupervised", "Artetxe2018Identical", "Artetxe2018Unsupervised", "PRESETS"]


class Mikolov2013(LeastSquares):
    """Mikolov, Le & Sutskever (2013): least squares on raw vectors."""

    def __init__(self, normalize=None, alpha: float = 0.0):
        super().__init__(normalize=normalize, alpha=alpha)


class Xing2015(Procrustes):
    """Xing, Wang, Liu & Lin (2015, NAACL): unit-length vectors, orthogonal map."""

    def __init__(self, normalize=("unit",)):
        super().__init__(normalize=normalize)


class Artetxe2016(Procrustes):
    """Artetxe, Labaka & Agirre (2016, EMNLP): unit, center, unit, then orthogonal map."""

    def __init__(self, normalize=("unit", "center", "unit")):
        super().__init__(normalize=normalize)


class Faruqui2014(CCA):
    """Faruqui & Dyer (2014, EACL): unit-length vectors, CCA keeping 80% of the directions."""

    def __init__(self, normalize=("unit",), keep: float = 0.8, reg: float = 1e-3):
        super().__init__(normalize=normalize, keep=keep, reg=reg)


class Artetxe2018Supervised(MultiStep):
    """Artetxe, Labaka & Agirre (2018, AAAI): the best supervised multi-step recipe.

    Unit, center, unit; whitening; orthogonal map; re-weighting of both sides
    by the square root of the singular values; each side de-whitened with its
    own covariance.
    """

    def __init__(
        self,
        normalize=("unit", "center", "unit"),
        whiten=True,
        src_reweight: float = 0.5,
        tgt_reweight: float = 0.5,
        src_dewhiten: str | None = "src",
        tgt_dewhiten: str | None = "tgt",
        dim_reduction: int | None = None,
    ):
        super().__init__(
            normalize=normalize, whiten=whiten, src_reweight=src_reweight, tgt_reweight=tgt_reweight,
            src_dewhiten=src_dewhiten, tgt_dewhiten=tgt_dewhiten, dim_reduction=dim_reduction,
        )


class Artetxe2018SemiSupervised(SelfLearning):
    """Artetxe, Labaka & Agirre (2018): VecMap's recommended recipe for a small seed dictionary.

    Self-learning from the given pairs with stochastic dictionary induction
    (keep probability 0.1, doubled after 50 iterations without improvement),
    CSLS, forward and backward pairs (union) among the 20,000 most frequent
    words, iterating Procrustes (unit, center, unit), then the multi-step map
    of :class:`Artetxe2018Supervised` fitted once on the final dictionary
    (VecMap's ``--semi_supervised``: its loop maps orthogonally until the end),
    with VecMap's own induction and stopping rule (``induction="vecmap"``).
    Hundreds of iterations: the stochastic schedule alone needs 4 × 50 of them
    to reach keep probability 1.
    """

    def __init__(
        self,
        mapper=None,
        final_mapper="auto",
        seed: str = "pairs",
        method: str = "csls",
        knn_k: int = 10,
        direction: str = "union",
        threshold: float | None = None,
        vocabulary_cutoff: int = 20_000,
        max_iter: int = 1000,
        tol: float = 1e-6,
        stochastic_initial: float = 0.1,
        stochastic_multiplier: float = 2.0,
        stochastic_interval: int = 50,
        induction: str = "vecmap",
        precision: str | None = None,
        init_cutoff: int = 4000,
        device=None,
        random_state=None,
        callbacks=(),
    ):
        super().__init__(
            mapper=mapper, final_mapper=final_mapper, seed=seed, method=method, knn_k=knn_k, direction=direction,
            threshold=threshold, vocabulary_cutoff=vocabulary_cutoff, max_iter=max_iter, tol=tol,
            stochastic_initial=stochastic_initial, stochastic_multiplier=stochastic_multiplier,
            stochastic_interval=stochastic_interval, induction=induction, precision=precision,
            init_cutoff=init_cutoff, device=device, random_state=random_state, callbacks=callbacks,
        )


# The two recipes below differ from the semi-supervised one only in the seed; scikit-learn's convention
# (parameters read from the constructor's signature) is why each repeats the constructor.
class Artetxe2018Identical(Artetxe2018SemiSupervised):
    """VecMap's ``--identical``: the semi-supervised recipe seeded by identically spelled words."""

    def __init__(
        self,
        mapper=None,
        final_mapper="auto",
        seed: str = "identical",
        method: str = "csls",
        knn_k: int = 10,
        direction: str = "union",
        threshold: float | None = None,
        vocabulary_cutoff: int = 20_000,
        max_iter: int = 1000,
        tol: float = 1e-6,
        stochastic_initial: float = 0.1,
        stochastic_multiplier: float = 2.0,
        stochastic_interval: int = 50,
        induction: str = "vecmap",
        precision: str | None = None,
        init_cutoff: int = 4000,
        device=None,
        random_state=None,
        callbacks=(),
    ):
        super().__init__(
            mapper=mapper, final_mapper=final_mapper, seed=seed, method=method, knn_k=knn_k, direction=direction,
            threshold=threshold, vocabulary_cutoff=vocabulary_cutoff, max_iter=max_iter, tol=tol,
            stochastic_initial=stochastic_initial, stochastic_multiplier=stochastic_multiplier,
            stochastic_interval=stochastic_interval, induction=induction, precision=precision,
            init_cutoff=init_cutoff, device=device, random_state=random_state, callbacks=callbacks,
        )


class Artetxe2018Unsupervised(Artetxe2018SemiSupervised):
    """Artetxe, Labaka & Agirre (2018, ACL): fully unsupervised robust self-learning.

    Similarity-distribution initialisation on the 4,000 most frequent words,
    then the semi-supervised recipe's self-learning (VecMap's
    ``--unsupervised``). Needs no lexicon.
    """

    def __init__(
        self,
        mapper=None,
        final_mapper="auto",
        seed: str = "unsupervised",
        method: str = "csls",
        knn_k: int = 10,
        direction: str = "union",
        threshold: float | None = None,
        vocabulary_cutoff: int = 20_000,
        max_iter: int = 1000,
        tol: float = 1e-6,
        stochastic_initial: float = 0.1,
        stochastic_multiplier: float = 2.0,
        stochastic_interval: int = 50,
        induction: str = "vecmap",
        precision: str | None = None,
        init_cutoff: int = 4000,
        device=None,
        random_state=None,
        callbacks=(),
    ):
        super().__init__(
            mapper=mapper, final_mapper=final_mapper, seed=seed, method=method, knn_k=knn_k, direction=direction,
            threshold=threshold, vocabulary_cutoff=vocabulary_cutoff, max_iter=max_iter, tol=tol,
            stochastic_initial=stochastic_initial, stochastic_multiplier=stochastic_multiplier,
            stochastic_interval=stochastic_interval, induction=induction, precision=precision,
            init_cutoff=init_cutoff, device=device, random_state=random_state, callbacks=callbacks,
        )


PRESETS = {
    "mikolov2013": Mikolov2013,
    "xing2015": Xing2015,
    "artetxe2016": Artetxe2016,
    "faruqui2014": Faruqui2014,
    "artetxe2018-supervised": Artetxe2018Supervised,
    "artetxe2018-semi-supervised": Artetxe2018SemiSupervised,
    "artetxe2018-identical": Artetxe2018Identical,
    "artetxe2018-unsupervised": Artetxe2018Unsupervised,
}
