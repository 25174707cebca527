"""Monolingual trainers behind one interface (:class:`BaseTrainer`).

``TRAINERS`` maps the names accepted by ``xling train --method`` to classes.
"""

from xling.train._base import BaseTrainer
from xling.train.cbow import CBOW
from xling.train.ppmi import PPMISVD
from xling.train.sgns import SkipGram
from xling.train.spectral import SpectralEmbedding
from xling.train.vocab import Vocabulary

TRAINERS: dict = {"sgns": SkipGram, "cbow": CBOW, "spectral": SpectralEmbedding, "ppmi-svd": PPMISVD}

# Joint bilingual trainers (``xling train-joint --method``); imported after the
# monolingual ones, which they build on.
from xling.train.bilbowa import BilBOWA  # noqa: E402
from xling.train.pseudo import PseudoBilingual  # noqa: E402
from xling.train.transgram import TransGram  # noqa: E402

JOINT_TRAINERS: dict = {"bilbowa": BilBOWA, "transgram": TransGram, "pseudo": PseudoBilingual}

__all__ = ["BaseTrainer", "Vocabulary", "TRAINERS", "SkipGram", "CBOW", "SpectralEmbedding", "PPMISVD", "JOINT_TRAINERS", "BilBOWA", "TransGram", "PseudoBilingual"]
