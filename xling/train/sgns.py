"""Skip-gram with negative sampling (Mikolov et al. 2013)."""

from __future__ import annotations

from xling.train._word2vec import Word2VecTrainer

__all__ = ["SkipGram"]


class SkipGram(Word2VecTrainer):
    """Skip-gram word2vec with negative sampling.

    Each kept token predicts every word of its dynamic window (size uniform in
    ``1..window``) against ``negative`` noise words drawn from the unigram
    distribution raised to 0.75. Frequent words are subsampled with the
    word2vec rule (see :meth:`xling.train.Vocabulary.keep_probabilities`) and
    the learning rate falls linearly from ``alpha`` to ``min_alpha`` over all
    epochs. The two matrices are dense; every update touches only the rows it
    uses.

    Parameters
    ----------
    vector_size : int
        Dimension of the vectors.
    window : int
        Largest distance between a centre and a context word.
    min_count : int
        Ignore words seen fewer times.
    max_vocab_size : int, optional
        Keep only this many most frequent words (after ``min_count``).
    negative : int
        Noise words per prediction.
    sample : float
        Subsampling threshold (0 disables subsampling).
    alpha, min_alpha : float
        Initial and final learning rates.
    epochs : int
        Passes over the corpus.
    batch_words : int
        Tokens per unit of work: a job a kernel thread takes, or a step of the
        torch path (whose pairs are applied in updates of 4,096 pairs on
        every device).
    workers : int
        Threads of the compiled kernel (and torch threads on the CPU).
    device : str or torch.device, optional
        ``None`` picks CUDA when present. CUDA always uses the torch path.
    backend : {"auto", "kernel", "torch"}
        ``"auto"``: the compiled kernel on the CPU when it builds, else torch.
        ``"kernel"`` raises :class:`xling.XlingError` when it cannot be built.
    random_state : int, numpy Generator or None
        Seeds initialisation, subsampling, windows and negatives. With
        ``workers=1`` a seeded run is exactly reproducible (several Hogwild
        threads interleave their updates nondeterministically).
    callbacks : sequence of callables
        Called with event dicts: ``event`` ("progress" about every 1% of an
        epoch, or "epoch_end"), ``epoch`` (1-based), ``progress`` (0..1 over
        the run), ``words_per_sec`` and ``loss`` (mean loss per prediction so
        far in the epoch).
    checkpoint_dir : path, optional
        Where to write ``checkpoint.pt`` after each epoch (atomically: an
        interruption keeps the last complete one): both matrices, the
        vocabulary, the random state, the epoch and the history.
    resume : bool
        Continue from the checkpoint in ``checkpoint_dir`` when there is one
        (the corpus must be the same); train from the start otherwise.

    Attributes
    ----------
    embeddings_ : xling.Embeddings
        Input vectors, shape (n_words, vector_size), words by descending count.
    context_vectors_ : ndarray of shape (n_words, vector_size)
        Output (context) vectors.
    vocabulary_ : xling.train.Vocabulary
    history_ : list of dict
        One per epoch: ``epoch``, ``loss``, ``words``, ``words_kept``,
        ``seconds``, ``words_per_sec``, ``backend`` ("kernel" or "torch").
    backend_ : str
        The path that ran.

    Examples
    --------
    >>> from xling.train import SkipGram
    >>> corpus = [["the", "cat", "sat"], ["the", "dog", "sat"]] * 50
    >>> model = SkipGram(vector_size=8, min_count=1, epochs=1, random_state=0).fit(corpus)
    >>> model.embeddings_.vectors.shape
    (4, 8)
    """

    _cbow = False
