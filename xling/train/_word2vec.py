"""Shared machinery of the word2vec trainers (:class:`SkipGram`, :class:`CBOW`, and the joint ones).

Two interchangeable paths train the same model:

``kernel``
    A compiled C++ Hogwild kernel (``xling/_kernels/word2vec.cpp``, compiled
    when xling is installed, one module per instruction set) that runs
    ``workers`` threads in place on the two embedding matrices. The default on
    the CPU.
``torch``
    Batched PyTorch: pairs are generated with tensor operations on the
    training device and applied with ``index_add_``, touching only the rows in
    the batch. Used on CUDA, and on the CPU when the compiled extension is missing.

Which path ran is logged and recorded in ``history_`` (key ``"backend"``).

The pieces every word2vec-based trainer shares live here once: the
hyperparameter checks (:func:`check_word2vec_params`), the choice of path
(:func:`choose_backend`) and the checkpoints (:func:`resume_key`,
:func:`save_checkpoint`, :func:`load_checkpoint`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import numbers
import time
from pathlib import Path

import numpy as np
import torch

from xling._kernels import kernel_error, load_word2vec
from xling._progress import emit, make_event
from xling._utils import PathLike, atomic_output, check_random_state, resolve_device, torch_generator
from xling.embeddings import Embeddings
from xling.exceptions import InputError, XlingError
from xling.train._base import BaseTrainer, check_corpus
from xling.train.vocab import EncodedCorpus, Vocabulary, alias_table, encode_corpus

logger = logging.getLogger(__name__)

__all__ = ["MAX_NEGATIVE", "BACKENDS", "check_word2vec_params", "choose_backend", "resume_key", "save_checkpoint",
           "load_checkpoint", "Word2VecTrainer"]

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = 2  # 2: history_ in the xling._progress schema
BACKENDS = ("auto", "kernel", "torch")
# The compiled kernel keeps the rows of one prediction on the stack, at most
# kMaxNegative noise words (xling/_kernels/kernels.hpp, used by word2vec.cpp).
# The limit holds on every path, so that a setting trains the same model
# wherever it runs; it is known here without building the kernel.
MAX_NEGATIVE = 64
# Pairs per update of the torch path, the same on every device so that CPU and
# GPU run the same algorithm. Gradients of a row repeated in one update are
# summed, computed at the same point; bigger updates learn measurably less per
# epoch (frequent words' summed steps overshoot), and on the CPU temporaries of
# more than a few MB page-fault.
_TORCH_PAIRS = 4096
# Settings that do not change the model (where it runs, how it reports) may differ
# on resume; the random state is restored from the checkpoint itself.
_NOT_IN_RESUME_KEY = {"callbacks", "checkpoint_dir", "device", "resume", "workers", "backend", "random_state"}


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_word2vec_params(est) -> None:
    """Check the hyperparameters that every word2vec-based trainer shares.

    Called at the start of ``fit`` by :class:`SkipGram`, :class:`CBOW`,
    :class:`xling.train.BilBOWA`, :class:`xling.train.TransGram` and
    :class:`xling.train.PseudoBilingual`, before any text is read or any kernel
    runs.

    Raises
    ------
    ValueError
        One line naming the setting, its accepted range and the value given.
    """
    for name in ("vector_size", "window", "min_count", "epochs", "batch_words", "workers"):
        value = getattr(est, name)
        if not _is_int(value) or value < 1:
            raise InputError(f"Expected {name} to be an integer >= 1, got {value!r}")
    if not _is_int(est.negative) or not 1 <= est.negative <= MAX_NEGATIVE:
        raise InputError(f"Expected negative to be an integer in 1..{MAX_NEGATIVE} (the limit of the compiled "
                         f"word2vec kernel), got {est.negative!r}")
    if est.max_vocab_size is not None and (not _is_int(est.max_vocab_size) or est.max_vocab_size < 1):
        raise InputError(f"Expected max_vocab_size to be an integer >= 1 or None, got {est.max_vocab_size!r}")
    if not isinstance(est.sample, numbers.Real) or not 0 <= est.sample < 1:
        raise InputError(f"Expected 0 <= sample < 1, got {est.sample!r}")
    if (not isinstance(est.alpha, numbers.Real) or not isinstance(est.min_alpha, numbers.Real)
            or not 0 < est.alpha or not 0 <= est.min_alpha <= est.alpha):
        raise InputError(f"Expected alpha > 0 and 0 <= min_alpha <= alpha, got alpha={est.alpha!r}, "
                         f"min_alpha={est.min_alpha!r}")
    if est.backend not in BACKENDS:
        raise InputError(f"Expected backend in {BACKENDS}, got {est.backend!r}")
    if est.resume and est.checkpoint_dir is None:
        raise InputError("Expected checkpoint_dir with resume=True, got checkpoint_dir=None")


def choose_backend(backend: str, device: torch.device):
    """The word2vec path for ``backend`` on ``device``: ``("kernel", module)`` or ``("torch", None)``."""
    if backend == "torch" or (backend == "auto" and device.type != "cpu"):
        return "torch", None
    if device.type != "cpu":
        raise InputError(f"Expected device 'cpu' with backend='kernel', got {device}")
    module = load_word2vec()
    if module is not None:
        return "kernel", module
    if backend == "kernel":
        raise XlingError(f"Expected the compiled word2vec kernel, but it is not available: {kernel_error()}")
    return "torch", None


# ---------------------------------------------------------------- checkpoints
def resume_key(trainer, vocabularies: list[Vocabulary], n_tokens: list[int]) -> dict:
    """What a checkpoint must match to be resumed: the trainer, its model settings and the corpus.

    Returns
    -------
    dict
        ``trainer`` (class name), ``settings`` (repr of each setting that
        changes the model), ``corpus`` (digest of the vocabularies and their
        counts) and ``n_tokens`` (training tokens per language).
    """
    h = hashlib.sha256()
    for vocab in vocabularies:
        h.update("\x00".join(vocab.words).encode("utf-8") + b"\x01")
        h.update(np.ascontiguousarray(vocab.counts, dtype=np.int64).tobytes())
    params = trainer.get_params(deep=False)
    return {
        "trainer": type(trainer).__name__,
        "settings": {k: repr(v) for k, v in sorted(params.items()) if k not in _NOT_IN_RESUME_KEY},
        "corpus": h.hexdigest(),
        "n_tokens": [int(n) for n in n_tokens],
    }


def save_checkpoint(path: Path, key: dict, epoch: int, history: list, **payload) -> None:
    """Write a checkpoint after ``epoch`` atomically: an interruption keeps the previous one."""
    state = {"format": CHECKPOINT_FORMAT, "key": key, "epoch": int(epoch), "history": list(history), **payload}
    with atomic_output(path, "wb") as fh:
        torch.save(state, fh)
    logger.info("checkpoint after epoch %d written to %s", epoch, path)


def load_checkpoint(path: Path, key: dict) -> dict | None:
    """The checkpoint at ``path`` when it matches ``key``; None when there is none.

    Raises
    ------
    XlingError
        The file is not a readable checkpoint.
    ValueError
        It comes from another trainer, other settings or another corpus (the message says which).
    """
    if not path.exists():
        logger.info("no checkpoint at %s; training from the start", path)
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise XlingError(f"Expected a readable xling checkpoint at {path}, got {type(exc).__name__}: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise InputError(f"Expected a checkpoint of format {CHECKPOINT_FORMAT} in {path}, got format {got!r}; "
                         "use another checkpoint_dir or resume=False")
    old = state["key"]
    if old["corpus"] != key["corpus"] or old["n_tokens"] != key["n_tokens"]:
        raise InputError(f"Expected the corpus of the checkpoint {path} ({old['n_tokens']} training tokens), got "
                         f"{key['n_tokens']} tokens or another vocabulary; use another checkpoint_dir or resume=False")
    if old["trainer"] != key["trainer"] or old["settings"] != key["settings"]:
        diff = sorted(k for k in set(old["settings"]) | set(key["settings"])
                      if old["settings"].get(k) != key["settings"].get(k))
        raise InputError(f"Expected a checkpoint of {key['trainer']} with the same settings in {path}, got one of "
                         f"{old['trainer']} differing in {diff or 'nothing'}; use another checkpoint_dir or resume=False")
    return state


class Word2VecTrainer(BaseTrainer):
    """Negative-sampling word2vec (Mikolov et al. 2013); see :class:`SkipGram` and :class:`CBOW`."""

    _cbow = False

    def __init__(
        self,
        vector_size: int = 300,
        window: int = 5,
        min_count: int = 5,
        max_vocab_size: int | None = None,
        negative: int = 5,
        sample: float = 1e-3,
        alpha: float = 0.025,
        min_alpha: float = 0.0001,
        epochs: int = 5,
        batch_words: int = 10000,
        workers: int = 2,
        device=None,
        backend: str = "auto",
        random_state=None,
        callbacks=(),
        checkpoint_dir: PathLike | None = None,
        resume: bool = False,
    ):
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.negative = negative
        self.sample = sample
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.epochs = epochs
        self.batch_words = batch_words
        self.workers = workers
        self.device = device
        self.backend = backend
        self.random_state = random_state
        self.callbacks = callbacks
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume

    # -------------------------------------------------------------------- fit
    def fit(self, corpus) -> "Word2VecTrainer":
        """Train on ``corpus``.

        Parameters
        ----------
        corpus : iterable of list of str
            A :class:`xling.LineCorpus` (fastest) or a restartable iterable of
            token lists; one list per sentence, windows never cross sentences.

        Returns
        -------
        self
            With ``embeddings_`` (input vectors, shape (n_words, vector_size)),
            ``context_vectors_`` (ndarray, output vectors of the same shape),
            ``vocabulary_``, ``history_`` (one step event per epoch, see
            :mod:`xling._progress`: ``phase`` "train", ``step`` the epoch,
            ``total`` = ``epochs``, ``progress``, ``loss`` (mean
            negative-sampling loss per prediction), ``words``, ``words_kept``,
            ``seconds``, ``words_per_sec``, ``backend``) and ``backend_``.
        """
        check_word2vec_params(self)
        check_corpus(corpus)
        device = resolve_device(self.device)
        backend, module = choose_backend(self.backend, device)
        rng = check_random_state(self.random_state)
        ckpt_path = None if self.checkpoint_dir is None else Path(self.checkpoint_dir) / CHECKPOINT_NAME

        t0 = time.perf_counter()
        vocab, encoded = encode_corpus(corpus, min_count=self.min_count, max_vocab_size=self.max_vocab_size)
        key = resume_key(self, [vocab], [len(encoded)])
        state = load_checkpoint(ckpt_path, key) if self.resume else None
        if state is None:
            dim = int(self.vector_size)
            gen = torch_generator(rng)
            # word2vec's initialisation: inputs uniform in [-0.5, 0.5) / dim, outputs zero.
            syn0 = (torch.rand(len(vocab), dim, generator=gen) - 0.5) / dim
            syn1 = torch.zeros(len(vocab), dim)
            start_epoch, self.history_ = 0, []
        else:
            syn0, syn1 = state["syn0"], state["syn1"]
            rng.bit_generator.state = state["rng_state"]
            start_epoch, self.history_ = int(state["epoch"]), list(state["history"])
            logger.info("resuming from %s after epoch %d", ckpt_path, start_epoch)
        logger.info(
            "%s: %d words, %d training tokens, %d sentences (encoded in %.1fs); %s path on %s with %d worker(s)",
            type(self).__name__, len(vocab), len(encoded), encoded.n_sentences, time.perf_counter() - t0,
            backend, device, self.workers,
        )
        if backend == "torch":
            syn0, syn1 = syn0.to(device), syn1.to(device)
        syn0, syn1 = syn0.contiguous(), syn1.contiguous()

        keep = vocab.keep_probabilities(self.sample)
        alias_prob, alias_idx = alias_table(vocab.negative_distribution(0.75))
        runner = (_KernelRunner if backend == "kernel" else _TorchRunner)(
            self, module, encoded, syn0, syn1, keep, alias_prob, alias_idx, device
        )
        threads = torch.get_num_threads()
        if backend == "torch" and device.type == "cpu":
            torch.set_num_threads(int(self.workers))
        try:
            for epoch in range(start_epoch, self.epochs):
                record = self._train_epoch(runner, encoded, rng, epoch, backend)
                if ckpt_path is not None:
                    save_checkpoint(ckpt_path, key, epoch + 1, [*self.history_, record], syn0=syn0.detach().cpu().clone(),
                                    syn1=syn1.detach().cpu().clone(), rng_state=rng.bit_generator.state)
                emit(self, record)
        finally:
            torch.set_num_threads(threads)

        self.vocabulary_ = vocab
        self.embeddings_ = Embeddings(vocab.words, syn0.detach().cpu().numpy())
        self.context_vectors_ = syn1.detach().cpu().numpy()
        self.backend_ = backend
        return self

    def _train_epoch(self, runner, encoded: EncodedCorpus, rng, epoch: int, backend: str) -> dict:
        """One epoch, with progress events; returns its step event (not yet emitted)."""
        n = len(encoded)
        total = max(n, 1) * self.epochs
        e0 = time.perf_counter()
        loss_sum, terms, words = 0.0, 0, 0
        for done, (l_sum, n_terms, n_words) in runner.epoch(epoch, total, rng):
            loss_sum, terms, words = loss_sum + l_sum, terms + n_terms, words + n_words
            elapsed = time.perf_counter() - e0
            emit(self, make_event("train", epoch + 1, self.epochs, (epoch * n + done) / total, partial=True,
                                  loss=loss_sum / max(terms, 1),
                                  words_per_sec=done / elapsed if elapsed > 0 else 0.0))
        seconds = time.perf_counter() - e0
        loss = loss_sum / max(terms, 1)
        if not math.isfinite(loss):
            raise FloatingPointError(f"Loss became {loss} in epoch {epoch + 1}; lower alpha")
        record = make_event("train", epoch + 1, self.epochs, (epoch + 1) / self.epochs, loss=loss, words=n,
                            words_kept=words, seconds=seconds,
                            words_per_sec=n / seconds if seconds > 0 else float("inf"), backend=backend)
        logger.info("epoch %d/%d: loss %.4f, %.0f words/s (%s path, %.1fs)",
                    epoch + 1, self.epochs, loss, record["words_per_sec"], backend, seconds)
        return record


def _alpha_at(trainer: Word2VecTrainer, position, total: int):
    """Linear decay from ``alpha`` to ``min_alpha`` over the whole run (``position`` in tokens)."""
    return trainer.alpha - (trainer.alpha - trainer.min_alpha) * (np.asarray(position, dtype=np.float64) / total)


class _KernelRunner:
    """Feeds jobs of about ``batch_words`` tokens to the compiled kernel, about 1% of an epoch per call."""

    def __init__(self, trainer, module, encoded: EncodedCorpus, syn0, syn1, keep, alias_prob, alias_idx, device):
        self.t, self.module = trainer, module
        self.syn0, self.syn1 = syn0, syn1
        self.ids = torch.from_numpy(encoded.ids)
        self.offsets = torch.from_numpy(encoded.offsets)
        self.keep = torch.from_numpy(keep)
        self.alias_prob, self.alias_idx = torch.from_numpy(alias_prob), torch.from_numpy(alias_idx)
        offsets = encoded.offsets
        n = int(offsets[-1])
        # Job bounds: the first sentence starting at or after each multiple of batch_words.
        bounds = np.unique(np.searchsorted(offsets, np.arange(0, n, trainer.batch_words), side="left"))
        self.bounds = np.unique(np.concatenate([bounds, [len(offsets) - 1]])).astype(np.int64)
        n_jobs = len(self.bounds) - 1
        self.jobs_per_call = max(8 * trainer.workers, -(-n_jobs // 100))
        self.encoded = encoded

    def epoch(self, epoch: int, total: int, rng: np.random.Generator):
        offsets, n = self.encoded.offsets, len(self.encoded)
        n_jobs = len(self.bounds) - 1
        for j0 in range(0, n_jobs, self.jobs_per_call):
            sel = self.bounds[j0 : min(j0 + self.jobs_per_call, n_jobs) + 1]
            alphas = _alpha_at(self.t, epoch * n + offsets[sel], total).astype(np.float32)
            seed = int(rng.integers(0, 2**63 - 1))
            loss, terms, words = self.module.train(
                self.syn0, self.syn1, self.ids, self.offsets, torch.from_numpy(sel), torch.from_numpy(alphas),
                self.keep, self.alias_prob, self.alias_idx, int(self.t.window), int(self.t.negative),
                bool(self.t._cbow), int(self.t.workers), seed,
            )
            yield int(offsets[sel[-1]]), (loss, int(terms), int(words))


class _TorchRunner:
    """Batched PyTorch updates on any device; each step touches only the rows of its batch."""

    def __init__(self, trainer, module, encoded: EncodedCorpus, syn0, syn1, keep, alias_prob, alias_idx, device):
        self.t, self.device = trainer, device
        self.syn0, self.syn1 = syn0, syn1
        self.ids = torch.from_numpy(encoded.ids).to(device=device, dtype=torch.int64)
        lengths = torch.from_numpy(np.diff(encoded.offsets))
        self.sentence = torch.repeat_interleave(torch.arange(len(lengths)), lengths).to(device)
        self.keep = torch.from_numpy(keep).to(device)
        self.alias_prob = torch.from_numpy(alias_prob).to(device)
        self.alias_idx = torch.from_numpy(alias_idx).to(device=device, dtype=torch.int64)
        self.max_pairs = _TORCH_PAIRS
        self.n = len(encoded)

    def _negatives(self, shape, gen):
        i = torch.randint(0, len(self.alias_prob), shape, device=self.device, generator=gen)
        u = torch.rand(shape, device=self.device, generator=gen)
        return torch.where(u < self.alias_prob[i], i, self.alias_idx[i])

    def _pairs(self, a: int, b: int, gen):
        """(centre position, context position, kept tokens) of the dynamic windows in tokens [a, b)."""
        tok, sid = self.ids[a:b], self.sentence[a:b]
        kept = torch.rand(len(tok), device=self.device, generator=gen) < self.keep[tok]
        tok, sid = tok[kept], sid[kept]
        n = len(tok)
        reach = torch.randint(1, self.t.window + 1, (n,), device=self.device, generator=gen)
        pos = torch.arange(n, device=self.device)
        centres, contexts = [], []
        for o in range(1, min(self.t.window, n - 1) + 1):
            same = sid[o:] == sid[:-o]
            left = same & (reach[:-o] >= o)  # centre i, context i + o
            right = same & (reach[o:] >= o)  # centre i + o, context i
            centres += [pos[:-o][left], pos[o:][right]]
            contexts += [pos[o:][left], pos[:-o][right]]
        if not centres:
            return None
        return torch.cat(centres), torch.cat(contexts), tok

    def _step(self, inputs, targets, alpha, gen):
        """One negative-sampling update. inputs: (P, D) input vectors; targets: (P,) positive words."""
        k = int(self.t.negative)
        negs = self._negatives((len(targets), k), gen)
        out_idx = torch.cat([targets[:, None], negs], dim=1)  # (P, 1 + K)
        out = self.syn1[out_idx]  # (P, 1 + K, D)
        f = torch.bmm(out, inputs[:, :, None]).squeeze(2)
        valid = torch.ones_like(f)
        valid[:, 1:] = (negs != targets[:, None]).to(f.dtype)
        labels = torch.zeros_like(f)
        labels[:, 0] = 1
        loss = (torch.nn.functional.softplus(torch.where(labels > 0, -f, f)) * valid).sum()
        g = (labels - torch.sigmoid(f)) * valid * alpha  # (P, 1 + K)
        grad_in = torch.bmm(g[:, None, :], out).squeeze(1)  # (P, D)
        grad_out = (g[:, :, None] * inputs[:, None, :]).reshape(-1, inputs.shape[1])
        flat = out_idx.reshape(-1)
        self.syn1.index_add_(0, flat, grad_out)
        return grad_in, loss

    def epoch(self, epoch: int, total: int, rng: np.random.Generator):
        gen = torch_generator(rng, self.device)
        step = int(self.t.batch_words)
        report_every = max(self.n // 100, step)  # progress about every 1% of an epoch
        # The loss stays on the device between reports (no synchronisation per step).
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        terms, words, reported = 0, 0, 0
        for a in range(0, self.n, step):
            b = min(a + step, self.n)
            alpha = float(_alpha_at(self.t, epoch * self.n + a, total))
            made = self._pairs(a, b, gen)
            if made is not None:
                centre, context, tok = made
                words += len(tok)
                if not self.t._cbow:
                    for s in range(0, len(centre), self.max_pairs):
                        c, x = tok[centre[s : s + self.max_pairs]], tok[context[s : s + self.max_pairs]]
                        grad_in, loss = self._step(self.syn0[c], x, alpha, gen)
                        self.syn0.index_add_(0, c, grad_in)
                        loss_sum += loss
                        terms += len(c)
                else:
                    terms += self._cbow_step(centre, context, tok, alpha, gen, loss_sum)
            if b - reported >= report_every or b == self.n:
                yield b, (float(loss_sum), terms, words)
                loss_sum.zero_()
                terms, words, reported = 0, 0, b

    def _cbow_step(self, centre, context, tok, alpha, gen, loss_sum) -> int:
        """CBOW updates for the kept tokens ``tok``; adds the loss to ``loss_sum``, returns the predictions."""
        terms = 0
        order = torch.argsort(centre, stable=True)
        centre, context = centre[order], context[order]
        # Split at centre boundaries so that each centre's whole context is in one update.
        n_pos = len(tok)
        per_update = max(self.max_pairs // (2 * self.t.window), 1)  # centres, at most 2 * window pairs each
        for s in range(0, n_pos, per_update):
            e = min(s + per_update, n_pos)
            lo, hi = torch.searchsorted(centre, torch.tensor([s, e], device=self.device)).tolist()
            if hi == lo:
                continue
            c_pos, x_pos = centre[lo:hi] - s, context[lo:hi]
            x_words = tok[x_pos]
            n_c = e - s
            count = torch.bincount(c_pos, minlength=n_c).to(self.syn0.dtype)
            has = count > 0
            hidden = torch.zeros(n_c, self.syn0.shape[1], device=self.device, dtype=self.syn0.dtype)
            hidden.index_add_(0, c_pos, self.syn0[x_words])
            hidden = hidden[has] / count[has, None]
            targets = tok[s:e][has]
            grad_h, loss = self._step(hidden, targets, alpha, gen)
            # Every context row gets the full gradient of the mean (as word2vec.c).
            slot = torch.cumsum(has.to(torch.int64), 0) - 1
            self.syn0.index_add_(0, x_words, grad_h[slot[c_pos]])
            loss_sum += loss
            terms += len(targets)
        return terms
