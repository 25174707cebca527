"""Mapping solvers: one interface (:class:`BaseMapper`), many methods.

``MAPPERS`` maps the names accepted by ``xling align --method`` to classes
whose keyword hyperparameters (``normalize``, ``random_state``, ``device``...)
follow scikit-learn conventions. Named recipes of published methods
(:mod:`xling.map.presets`) are registered under their own names.
"""

from xling.map._base import BaseMapper, check_pairs
from xling.map.adversarial import Adversarial, AdversarialAutoencoder
from xling.map.cca import CCA
from xling.map.lstsq import LeastSquares
from xling.map.maxmargin import MaxMargin
from xling.map.multicca import MultiCCA
from xling.map.multistep import MultiStep
from xling.map.presets import PRESETS
from xling.map.procrustes import Procrustes, orthogonal_procrustes
from xling.map.rcsls import RCSLS
from xling.map.selflearning import SelfLearning, seed_pairs, similarity_distribution_pairs

MAPPERS = {
    "procrustes": Procrustes,
    "lstsq": LeastSquares,
    "cca": CCA,
    "multicca": MultiCCA,
    "multistep": MultiStep,
    "maxmargin": MaxMargin,
    "rcsls": RCSLS,
    "adversarial": Adversarial,
    "adversarial-autoencoder": AdversarialAutoencoder,
    "selflearning": SelfLearning,
    "unsupervised": PRESETS["artetxe2018-unsupervised"],
    **PRESETS,
}

__all__ = [
    "BaseMapper",
    "Procrustes",
    "LeastSquares",
    "CCA",
    "MultiCCA",
    "MultiStep",
    "MaxMargin",
    "RCSLS",
    "Adversarial",
    "AdversarialAutoencoder",
    "SelfLearning",
    "seed_pairs",
    "similarity_distribution_pairs",
    "orthogonal_procrustes",
    "check_pairs",
    "MAPPERS",
    "PRESETS",
]


def __getattr__(name: str):
    # Removed names say what replaced them, rather than a bare AttributeError.
    if name in ("map_to_hub", "HubAlignment"):
        raise AttributeError(
            f"xling.map.{name} was replaced by xling.align(spaces, target, lexicons, method=...), "
            "which returns an AlignResult (alignments, embeddings, report)"
        )
    raise AttributeError(f"module 'xling.map' has no attribute {name!r}")
