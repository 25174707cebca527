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
from xling.train.biskip import BiSkip  # noqa: E402
from xling.train.duong import DictionaryCBOW  # noqa: E402
from xling.train.projection import AlignmentProjection  # noqa: E402
# Cross-lingual training from aligned sentences, documents or a dictionary alone (no word alignments).
from xling.train.bae import BilingualAutoencoder  # noqa: E402
from xling.train.bicvm import BiCVM  # noqa: E402
from xling.train.inverted_index import InvertedIndex  # noqa: E402
from xling.train.tilsa import TranslationInvariantLSA  # noqa: E402

JOINT_TRAINERS: dict = {"bilbowa": BilBOWA, "transgram": TransGram, "pseudo": PseudoBilingual}
JOINT_TRAINERS.update({"biskip": BiSkip, "guo": AlignmentProjection, "duong": DictionaryCBOW})
JOINT_TRAINERS.update({"bicvm": BiCVM, "bae": BilingualAutoencoder, "inverted-index": InvertedIndex,
                       "tilsa": TranslationInvariantLSA})

# Multilingual trainers (``xling train-multi --method``): many languages in one space at once.
from xling.train.multicluster import MultiCluster  # noqa: E402

MULTILINGUAL_TRAINERS: dict = {"multicluster": MultiCluster}

__all__ = ["BaseTrainer", "Vocabulary", "TRAINERS", "SkipGram", "CBOW", "SpectralEmbedding", "PPMISVD", "JOINT_TRAINERS", "BilBOWA", "TransGram", "PseudoBilingual"]
__all__ += ["BiSkip", "AlignmentProjection", "DictionaryCBOW"]
__all__ += ["BiCVM", "BilingualAutoencoder", "InvertedIndex", "TranslationInvariantLSA"]
__all__ += ["MULTILINGUAL_TRAINERS", "MultiCluster"]
