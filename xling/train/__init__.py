"""Monolingual trainers behind one interface (:class:`BaseTrainer`).

``TRAINERS`` maps the names accepted by ``xling train --method`` to classes.
"""

from xling.train._base import BaseTrainer
from xling.train.vocab import Vocabulary

TRAINERS: dict = {}

__all__ = ["BaseTrainer", "Vocabulary", "TRAINERS"]
