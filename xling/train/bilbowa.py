"""BilBOWA: bilingual bag-of-words without alignments (Gouws, Bengio & Corrado 2015).

Skip-gram with negative sampling on each language's monolingual text, plus the
cross-lingual term on aligned sentence pairs ``(s^e, s^f)``::

    Ω(s^e, s^f) = || (1/m) Σ_{w ∈ s^e} r_w − (1/n) Σ_{v ∈ s^f} r_v ||²

(``m = |s^e|``, ``n = |s^f|``, ``r`` the input vectors), weighted by ``λ`` and
minimised by SGD alongside the monolingual updates. Its gradient is
``∂Ω/∂r_w = 2 δ / m`` for each occurrence of ``w`` in ``s^e`` and
``−2 δ / n`` for each occurrence of ``v`` in ``s^f``, with ``δ`` the difference
of the two means. Every pair's term depends on that pair alone, so each pair
is gathered as a unit (a batch is a list of pair indices, and both sides'
tokens carry the pair's position in the batch): however the pairs are split
into batches, each pair's gradient pulls exactly its own two means together.
"""

from __future__ import annotations

import torch

from xling.exceptions import InputError
from xling.train._joint import JointTrainer, _row_scale

__all__ = ["BilBOWA", "omega", "omega_gradient"]


def _means(W, s_ids, s_seg, t_ids, t_seg, n_pairs):
    d = W.shape[1]
    s_len = torch.bincount(s_seg, minlength=n_pairs).to(W.dtype)
    t_len = torch.bincount(t_seg, minlength=n_pairs).to(W.dtype)
    if bool((s_len == 0).any()) or bool((t_len == 0).any()):
        raise InputError("Expected every sentence pair to have at least one token on each side, got an empty side")
    mean_s = W.new_zeros(n_pairs, d).index_add_(0, s_seg, W[s_ids]) / s_len.unsqueeze(1)
    mean_t = W.new_zeros(n_pairs, d).index_add_(0, t_seg, W[t_ids]) / t_len.unsqueeze(1)
    return mean_s, mean_t, s_len, t_len


def omega(W: torch.Tensor, s_ids, s_seg, t_ids, t_seg, n_pairs: int) -> torch.Tensor:
    """The BilBOWA term of each sentence pair.

    Parameters
    ----------
    W : Tensor of shape (n_rows, dim)
        Word vectors; source and target words index rows of the same matrix.
    s_ids, s_seg : Tensor of shape (n_s,), int64
        Source tokens (rows of ``W``) and the pair each belongs to (``0 .. n_pairs-1``).
    t_ids, t_seg : Tensor of shape (n_t,), int64
        Target tokens and their pairs.
    n_pairs : int

    Returns
    -------
    Tensor of shape (n_pairs,)
        ``|| mean(W[source words of pair p]) - mean(W[target words of pair p]) ||²``.
    """
    mean_s, mean_t, _, _ = _means(W, s_ids, s_seg, t_ids, t_seg, n_pairs)
    return ((mean_s - mean_t) ** 2).sum(1)


def omega_gradient(W: torch.Tensor, s_ids, s_seg, t_ids, t_seg, n_pairs: int):
    """Ω per pair and its gradient with respect to each token's vector.

    Parameters are those of :func:`omega`.

    Returns
    -------
    loss : Tensor of shape (n_pairs,)
    grad_s : Tensor of shape (n_s, dim)
        ``∂Ω_p / ∂r`` for each source token (summing rows of equal ids gives the
        gradient with respect to the word vector).
    grad_t : Tensor of shape (n_t, dim)
    """
    mean_s, mean_t, s_len, t_len = _means(W, s_ids, s_seg, t_ids, t_seg, n_pairs)
    delta = mean_s - mean_t
    grad_s = (2.0 * delta / s_len.unsqueeze(1))[s_seg]
    grad_t = (-2.0 * delta / t_len.unsqueeze(1))[t_seg]
    return (delta**2).sum(1), grad_s, grad_t


def omega_step(W: torch.Tensor, s_ids, s_seg, t_ids, t_seg, n_pairs: int, lr: float) -> float:
    """One SGD step on ``Σ_p Ω_p`` in place; returns the summed Ω before the step.

    All gradients are taken before any update, and a word that occurs ``k``
    times in the batch moves by the mean of its ``k`` gradients: with the plain
    sum, a frequent word shared by many pairs of a batch takes ``k`` steps at
    once and the pair means overshoot (measured: divergence from ``λ·alpha ≈
    0.25`` with 256 pairs a batch). The step of a pair with
    ``lr·(2/m + 2/n) > 1`` is scaled down to close its gap exactly instead of
    overshooting. Otherwise a word seen once per batch, as every word of a pair
    whose words are unique, takes exactly the SGD step ``-lr · ∂Ω_p/∂r_w``.
    """
    loss, grad_s, grad_t = omega_gradient(W, s_ids, s_seg, t_ids, t_seg, n_pairs)
    # A step of lr on pair p alone shrinks δ_p by the factor 1 - lr·(2/m + 2/n); past
    # lr·(2/m + 2/n) = 1 the means would cross and oscillate (short pairs at large λ),
    # so such a pair's step is cut to exactly close its gap.
    inv_m = 1.0 / torch.bincount(s_seg, minlength=n_pairs).to(W.dtype)
    inv_n = 1.0 / torch.bincount(t_seg, minlength=n_pairs).to(W.dtype)
    cap = (1.0 / (lr * 2.0 * (inv_m + inv_n))).clamp(max=1.0).unsqueeze(1)
    grad_s, grad_t = grad_s * cap[s_seg], grad_t * cap[t_seg]
    n_rows = W.shape[0]
    W.index_add_(0, s_ids, grad_s * _row_scale(s_ids, n_rows, W.dtype), alpha=-lr)
    W.index_add_(0, t_ids, grad_t * _row_scale(t_ids, n_rows, W.dtype), alpha=-lr)
    return float(loss.sum())


class BilBOWA(JointTrainer):
    """BilBOWA bilingual word embeddings (Gouws, Bengio & Corrado 2015).

    Parameters
    ----------
    vector_size : int
        Dimension of both spaces.
    window : int
        Largest skip-gram window (a random effective window ``1..window`` per word).
    min_count : int
        Drop words seen fewer times in their language (monolingual text plus its parallel side).
    max_vocab_size : int, optional
        Then keep only this many most frequent words per language.
    negative : int
        Noise words per skip-gram prediction (drawn from the word's own language).
    sample : float
        Frequent-word subsampling threshold (word2vec's ``t``; 0 disables);
        applies to the parallel sentences too.
    alpha, min_alpha : float
        Learning rate, decayed linearly from ``alpha`` to ``min_alpha`` over the run.
    cross_weight : float, optional
        Weight ``λ`` of Ω (``None``: 100): its updates use learning rate ``λ · lr``
        (capped per pair so that a step never moves the two means past each
        other, see :func:`omega_step`). ``0`` gives two unrelated monolingual
        skip-gram models (a control). On 12k Bible verses (en-es), P@10 rose
        from 0.01 (λ=0) and 0.18 (λ=10) to 0.39 at λ=100 and stayed there up
        to λ=1000. The weight a pair needs grows with the monolingual text that
        one pass over the pairs is spread along: on full novel corpora (10-25x
        the parallel text) λ=1000 beat λ=100 (BENCHMARKS.md, joint
        objectives). Called ``lambda_`` before; that name is still accepted,
        with a FutureWarning, until the next release.
    epochs : int
        Passes over the monolingual corpora; each pass also makes one pass over
        the parallel pairs, spread evenly along it.
    batch_words : int
        Tokens per unit of monolingual work (see :class:`xling.train.SkipGram`).
    workers : int
        Threads of the compiled monolingual kernel.
    device : str or torch.device, optional
        ``None`` picks CUDA when present (everything then runs in PyTorch on it).
    backend : {"auto", "kernel", "torch"}
        Monolingual path, as in :class:`xling.train.SkipGram`.
    random_state : int, numpy Generator or None
        Seeds initialisation, subsampling, windows, negatives and the order of the parallel pairs.
    callbacks : sequence of callables
        Called with the events of :mod:`xling._progress`: a progress event
        about every 1% of an epoch and each epoch's step event (the one
        appended to ``history_``), with ``words_per_sec``, ``loss`` and
        ``mono_loss`` (mean monolingual loss per prediction so far in the
        epoch) and ``cross_loss`` (mean Ω per pair).
    checkpoint_dir : path, optional
        Where to write ``bilbowa.pt`` after each epoch (atomically: an
        interruption keeps the last complete one).
    resume : bool
        Continue from the checkpoint in ``checkpoint_dir`` when there is one
        (same data and hyperparameters, else ``ValueError``).

    Attributes
    ----------
    src_embeddings_, tgt_embeddings_ : Embeddings
        Input vectors of each vocabulary, float32, shape (n_words, vector_size).
    src_vocabulary_, tgt_vocabulary_ : Vocabulary
    history_ : list of dict
        One step event per epoch (:mod:`xling._progress`: ``phase`` "train",
        ``step`` the epoch, ``total`` = ``epochs``, ``progress``) with
        ``loss`` = ``mono_loss`` (mean skip-gram loss per prediction),
        ``cross_loss`` (mean Ω per parallel pair, before its update),
        ``parallel_pairs``, ``words``, ``seconds``, ``words_per_sec``, ``backend``.
    cross_weight_ : float
        The weight used (``cross_weight``, or the default when None).
    n_parallel_pairs_ : int
        Parallel pairs kept; ``n_parallel_dropped_`` pairs had a side with no in-vocabulary word.
    backend_ : str

    Examples
    --------
    >>> from xling.train import BilBOWA
    >>> en = [["the", "dog", "runs"], ["the", "cat", "sleeps"]] * 20
    >>> es = [["el", "perro", "corre"], ["el", "gato", "duerme"]] * 20
    >>> model = BilBOWA(vector_size=8, min_count=1, epochs=1, random_state=0)
    >>> model.fit(en, es, list(zip(en, es))).src_embeddings_.vectors.shape
    (5, 8)
    """

    _checkpoint_name = "bilbowa.pt"
    _default_cross_weight = 100.0

    def _cross_step(self, W, C, s_ids, s_seg, t_ids, t_seg, n_pairs, lr, generator):
        if self._weight == 0:
            return float(omega(W, s_ids, s_seg, t_ids, t_seg, n_pairs).sum()), n_pairs
        return omega_step(W, s_ids, s_seg, t_ids, t_seg, n_pairs, lr * self._weight), n_pairs
