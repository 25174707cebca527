"""Pseudo-bilingual corpora: train one monolingual model on mixed-language text.

Two constructions, both fed to :class:`xling.train.SkipGram` or
:class:`xling.train.CBOW`:

* Gouws & Søgaard (2015): the two monolingual corpora, one after the other,
  where each word that has a translation in a bilingual lexicon is replaced by
  that translation with probability ``replace_prob`` (0.5 in the paper), so a
  word and its translation share contexts.
* Vulić & Moens (2016), merge and shuffle: each pair of aligned documents
  becomes one pseudo-bilingual document holding the words of both, in a
  random order, so that words of both languages fall in each other's window.

Words carry a language prefix inside the shared vocabulary (``"src:no"`` and
``"tgt:no"`` stay distinct); the prefixes are stripped from the two
:class:`~xling.Embeddings` that :class:`PseudoBilingual` returns.
"""

from __future__ import annotations

import logging
from typing import Iterable, Iterator, Sequence

import numpy as np

from xling._utils import check_random_state
from xling.embeddings import Embeddings
from xling.exceptions import InputError, InputTypeError, NotEnoughDataError
from xling.lexicon import Lexicon
from xling.train._base import BaseJointTrainer, check_corpus
from xling.train._word2vec import check_word2vec_params
from xling.train.cbow import CBOW
from xling.train.sgns import SkipGram

logger = logging.getLogger(__name__)

__all__ = ["PseudoBilingual", "PseudoBilingualCorpus", "MergedDocuments", "SRC_PREFIX", "TGT_PREFIX"]

SRC_PREFIX = "src:"
TGT_PREFIX = "tgt:"


def _prefixed_lexicon(lexicon: Lexicon, from_prefix: str, to_prefix: str) -> dict[str, list[str]]:
    return {from_prefix + s: [to_prefix + t for t in lexicon[s]] for s in lexicon.sources}


class PseudoBilingualCorpus:
    """Two corpora concatenated, words replaced by a lexicon translation with probability ``replace_prob``.

    A restartable iterable of token lists: first every sentence of
    ``src_corpus``, then every sentence of ``tgt_corpus``, tokens prefixed with
    ``SRC_PREFIX``/``TGT_PREFIX``. Each token whose word has a translation
    (source words through ``lexicon``, target words through its inverse) is
    replaced, with probability ``replace_prob``, by one of its translations
    chosen uniformly. The draws are seeded: every pass yields the same text.

    Parameters
    ----------
    src_corpus, tgt_corpus : iterable of list of str
    lexicon : Lexicon
        Source -> target translations (same case as the corpora).
    replace_prob : float
        In [0, 1].
    random_state : int or None
        An int makes every pass identical; ``None`` draws one seed at construction.

    Attributes
    ----------
    n_eligible, n_replaced : int
        Tokens that had a translation, and those replaced, in the last full pass.

    Examples
    --------
    >>> from xling import Lexicon
    >>> corpus = PseudoBilingualCorpus([["the", "dog"]], [["el", "perro"]],
    ...                                Lexicon([("dog", "perro")]), replace_prob=1.0, random_state=0)
    >>> list(corpus)
    [['src:the', 'tgt:perro'], ['tgt:el', 'src:dog']]
    """

    def __init__(self, src_corpus, tgt_corpus, lexicon: Lexicon, *, replace_prob: float = 0.5, random_state=None):
        if not 0 <= replace_prob <= 1:
            raise InputError(f"Expected 0 <= replace_prob <= 1, got {replace_prob!r}")
        if not isinstance(lexicon, Lexicon):
            raise InputTypeError(f"Expected lexicon to be an xling.Lexicon, got {type(lexicon).__name__}")
        self.src_corpus, self.tgt_corpus, self.lexicon = src_corpus, tgt_corpus, lexicon
        self.replace_prob = replace_prob
        self.seed = int(check_random_state(random_state).integers(0, 2**63 - 1))
        self._tables = [
            (SRC_PREFIX, _prefixed_lexicon(lexicon, SRC_PREFIX, TGT_PREFIX)),
            (TGT_PREFIX, _prefixed_lexicon(lexicon.inverse(), TGT_PREFIX, SRC_PREFIX)),
        ]
        self.n_eligible = self.n_replaced = 0

    def __iter__(self) -> Iterator[list[str]]:
        rng = np.random.default_rng(self.seed)
        p = self.replace_prob
        eligible = replaced = 0
        for corpus, (prefix, table) in zip((self.src_corpus, self.tgt_corpus), self._tables):
            get = table.get
            for tokens in corpus:
                out = [prefix + t for t in tokens]
                draws = rng.random(len(out))
                for i, word in enumerate(out):
                    translations = get(word)
                    if translations is None:
                        continue
                    eligible += 1
                    if draws[i] < p:
                        replaced += 1
                        out[i] = translations[0] if len(translations) == 1 else translations[rng.integers(len(translations))]
                yield out
        self.n_eligible, self.n_replaced = eligible, replaced
        logger.info("pseudo-bilingual corpus: %d of %d tokens with a translation replaced", replaced, eligible)


class MergedDocuments:
    """Merge-and-shuffle pseudo-bilingual documents (Vulić & Moens 2016).

    Each aligned pair of documents becomes one token list holding the
    prefixed words of both documents in a seeded random order.

    Parameters
    ----------
    documents : iterable of (list of str, list of str)
        Aligned document pairs (e.g. :class:`xling.ParallelCorpus` with one document a line).
    random_state : int or None
        An int makes every pass identical.

    Examples
    --------
    >>> docs = MergedDocuments([(["a", "b"], ["x"])], random_state=0)
    >>> sorted(next(iter(docs)))
    ['src:a', 'src:b', 'tgt:x']
    """

    def __init__(self, documents: Iterable[tuple[Sequence[str], Sequence[str]]], *, random_state=None):
        self.documents = documents
        self.seed = int(check_random_state(random_state).integers(0, 2**63 - 1))

    def __iter__(self) -> Iterator[list[str]]:
        rng = np.random.default_rng(self.seed)
        for src_doc, tgt_doc in self.documents:
            merged = [SRC_PREFIX + t for t in src_doc] + [TGT_PREFIX + t for t in tgt_doc]
            yield [merged[i] for i in rng.permutation(len(merged))]


class _Chain:
    def __init__(self, parts):
        self.parts = parts

    def __iter__(self):
        for part in self.parts:
            yield from part


class PseudoBilingual(BaseJointTrainer):
    """Bilingual embeddings from a pseudo-bilingual corpus (Gouws & Søgaard 2015; Vulić & Moens 2016).

    Parameters
    ----------
    sg : {1, 0}
        1: skip-gram (:class:`xling.train.SkipGram`), 0: CBOW (:class:`xling.train.CBOW`).
    replace_prob : float
        Probability of replacing a word that has a lexicon translation.
    vector_size, window, min_count, max_vocab_size, negative, sample, alpha, min_alpha, epochs,
    batch_words, workers, device, backend, callbacks, checkpoint_dir, resume
        Passed to the monolingual trainer (see :class:`xling.train.SkipGram`);
        ``min_count`` and ``max_vocab_size`` apply to the mixed vocabulary.
    random_state : int, numpy Generator or None
        Seeds the replacements, the shuffles and the trainer.

    The supervision of :meth:`fit` is a :class:`xling.Lexicon`; aligned
    documents, when there are any, come as ``fit(..., documents=...)``.

    Attributes
    ----------
    src_embeddings_, tgt_embeddings_ : Embeddings
        Input vectors of each language's words (prefixes stripped), float32.
    model_ : SkipGram or CBOW
        The fitted monolingual model over the prefixed vocabulary.
    history_ : list of dict
        The model's history: one step event per epoch, as in
        :class:`xling.train.SkipGram` (``loss`` is the loss on the mixed text:
        there is no separate cross-lingual term).
    backend_ : str
    n_replaced_, n_eligible_ : int
        Tokens replaced, and tokens that had a translation.

    Examples
    --------
    >>> from xling import Lexicon
    >>> from xling.train import PseudoBilingual
    >>> en = [["the", "dog", "runs"], ["the", "cat", "sleeps"]] * 20
    >>> es = [["el", "perro", "corre"], ["el", "gato", "duerme"]] * 20
    >>> lex = Lexicon([("dog", "perro"), ("cat", "gato")])
    >>> model = PseudoBilingual(vector_size=8, min_count=1, epochs=1, random_state=0).fit(en, es, lex)
    >>> sorted(model.src_embeddings_.words)
    ['cat', 'dog', 'runs', 'sleeps', 'the']
    """

    supervision_kind = "lexicon"

    def __init__(
        self,
        vector_size: int = 100,
        window: int = 5,
        min_count: int = 5,
        max_vocab_size: int | None = None,
        negative: int = 5,
        sample: float = 1e-3,
        alpha: float = 0.025,
        min_alpha: float = 0.0001,
        epochs: int = 5,
        sg: int = 1,
        replace_prob: float = 0.5,
        batch_words: int = 10000,
        workers: int = 2,
        device=None,
        backend: str = "auto",
        random_state=None,
        callbacks: Sequence = (),
        checkpoint_dir=None,
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
        self.sg = sg
        self.replace_prob = replace_prob
        self.batch_words = batch_words
        self.workers = workers
        self.device = device
        self.backend = backend
        self.random_state = random_state
        self.callbacks = callbacks
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume

    def fit(self, src_corpus: Iterable[Sequence[str]], tgt_corpus: Iterable[Sequence[str]], supervision: Lexicon,
            *, documents: Iterable[tuple[Sequence[str], Sequence[str]]] | None = None) -> "PseudoBilingual":
        """Build the pseudo-bilingual corpus and train on it.

        Parameters
        ----------
        src_corpus, tgt_corpus : iterable of list of str
            Monolingual corpora, mixed through ``supervision`` (Gouws &
            Søgaard); restartable (read once per epoch). Either may be empty
            (``[]``) to train from ``documents`` alone.
        supervision : Lexicon
            Source -> target translations (same case as the corpora); may be
            empty (``Lexicon()``) when ``documents`` are given.
        documents : iterable of (list of str, list of str), optional
            Aligned document pairs (e.g. :class:`xling.ParallelCorpus` with one
            document a line), merged and shuffled (Vulić & Moens), added after
            the mixed corpora. Data, not a setting, so it is an argument of
            ``fit`` (keyword-only: the three positional arguments are those of
            every joint trainer).

        Returns
        -------
        self
        """
        check_word2vec_params(self)
        if self.sg not in (0, 1) or isinstance(self.sg, bool):
            raise InputError(f"Expected sg to be 1 (skip-gram) or 0 (CBOW), got {self.sg!r}")
        check_corpus(src_corpus, "src_corpus")
        check_corpus(tgt_corpus, "tgt_corpus")
        if documents is not None:
            check_corpus(documents, "documents")
        rng = check_random_state(self.random_state)
        mix_seed, doc_seed, model_seed = (int(s) for s in rng.integers(0, 2**63 - 1, size=3))
        # Checks replace_prob and the type of the lexicon before anything is read.
        mixed = PseudoBilingualCorpus(src_corpus, tgt_corpus, supervision, replace_prob=self.replace_prob,
                                      random_state=mix_seed)
        if len(supervision) == 0 and documents is None:
            raise InputError("Expected a non-empty lexicon or aligned documents, got an empty lexicon and no "
                             "documents (nothing would connect the two languages)")
        parts = [mixed] if documents is None else [mixed, MergedDocuments(documents, random_state=doc_seed)]
        model = (SkipGram if self.sg == 1 else CBOW)(
            vector_size=self.vector_size, window=self.window, min_count=self.min_count,
            max_vocab_size=self.max_vocab_size, negative=self.negative, sample=self.sample, alpha=self.alpha,
            min_alpha=self.min_alpha, epochs=self.epochs, batch_words=self.batch_words, workers=self.workers,
            device=self.device, backend=self.backend, random_state=model_seed, callbacks=self.callbacks,
            checkpoint_dir=self.checkpoint_dir, resume=self.resume,
        ).fit(_Chain(parts))
        emb = model.embeddings_
        self.src_embeddings_ = _strip(emb, SRC_PREFIX)
        self.tgt_embeddings_ = _strip(emb, TGT_PREFIX)
        self.model_ = model
        # The model's own list: its callbacks (ours) received exactly these step events.
        self.history_ = model.history_
        self.backend_ = model.backend_
        self.n_eligible_, self.n_replaced_ = mixed.n_eligible, mixed.n_replaced
        return self


def _strip(emb: Embeddings, prefix: str) -> Embeddings:
    rows = [i for i, w in enumerate(emb.words) if w.startswith(prefix)]
    if not rows:
        raise NotEnoughDataError(f"Expected words of both languages in the vocabulary, got none with {prefix!r}")
    n = len(prefix)
    return Embeddings([emb.words[i][n:] for i in rows], emb.vectors[rows])
