"""The one interface shared by monolingual trainers.

Contract: ``__init__`` stores hyperparameters (gensim's names); ``fit(corpus)``
trains on a restartable iterable of token lists (e.g. :class:`xling.LineCorpus`)
and sets ``embeddings_`` (an :class:`xling.Embeddings`), ``vocabulary_`` and
``history_`` (one dict per epoch). ``callbacks`` is a sequence of callables
invoked as ``callback(event: dict)`` with at least the keys ``"epoch"``,
``"progress"`` (0..1 over the whole run), ``"words_per_sec"`` and ``"loss"``;
the CLI draws its progress bar from them.
"""

from __future__ import annotations

from sklearn.base import BaseEstimator

__all__ = ["BaseTrainer"]


class BaseTrainer(BaseEstimator):
    """Base class of all monolingual trainers."""

    def fit(self, corpus) -> "BaseTrainer":  # pragma: no cover - abstract
        raise NotImplementedError

    def _emit(self, event: dict) -> None:
        for callback in getattr(self, "callbacks", ()) or ():
            callback(event)
