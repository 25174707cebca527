"""Continuous bag of words with negative sampling (Mikolov et al. 2013)."""

from __future__ import annotations

from xling.train._word2vec import Word2VecTrainer

__all__ = ["CBOW"]


class CBOW(Word2VecTrainer):
    """CBOW word2vec with negative sampling.

    The mean of the input vectors of a token's dynamic window predicts the
    token against ``negative`` noise words; as in word2vec.c, every context
    word receives the full gradient of the mean. Everything else (parameters,
    paths, subsampling, learning-rate decay, checkpoints, attributes) is as in
    :class:`xling.train.SkipGram`.

    Examples
    --------
    >>> from xling.train import CBOW
    >>> corpus = [["the", "cat", "sat"], ["the", "dog", "sat"]] * 50
    >>> CBOW(vector_size=8, min_count=1, epochs=1, random_state=0).fit(corpus).embeddings_.dim
    8
    """

    _cbow = True
