"""multiCluster: one skip-gram over clusters of translations (Ammar et al. 2016).

The bilingual lexicons join the words of all languages into a translation
graph (a node per word of a language's vocabulary, an edge per lexicon entry
whose two words are both in their vocabularies). Its connected components are
clusters of words that translate into each other, directly or through other
languages. Every token of every monolingual corpus is replaced by the id of
its cluster, one :class:`xling.train.SkipGram` is trained on all the corpora,
and each word's vector is its cluster's vector, so translations share one
vector in one space. Words in no cluster keep their own, language-tagged id
(``"de:haus"``): they are placed by their contexts only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

from xling._utils import check_random_state
from xling.embeddings import Embeddings
from xling.exceptions import InputError, NotEnoughDataError
from xling.lexicon import Lexicon
from xling.train._base import BaseMultilingualTrainer, check_multilingual_inputs
from xling.train._word2vec import check_word2vec_params
from xling.train.sgns import SkipGram
from xling.train.vocab import Vocabulary

logger = logging.getLogger(__name__)

__all__ = ["MultiCluster", "TranslationClusters", "translation_clusters"]


def _word_token(lang: str, word: str) -> str:
    return f"{lang}:{word}"


def _cluster_token(cluster: int) -> str:
    # Language names are non-empty, so "lang:word" never starts with ":" and the two kinds cannot collide.
    return f":{cluster}"


@dataclass
class TranslationClusters:
    """The clusters of a translation graph (:func:`translation_clusters`).

    Attributes
    ----------
    clusters : list of list of (str, str)
        Each cluster's ``(lang, word)`` members (at least two), by language
        (in the order of the vocabularies) then frequency; clusters ordered by
        their most frequent member.
    cluster_of : dict (str, str) -> int
        The cluster index of every clustered word.
    n_edges : int
        Lexicon entries with both words in their vocabularies (the edges).
    n_edges_oov : int
        Lexicon entries left out because a word is not in its vocabulary.
    n_edges_skipped : int
        Edges left out because their union would exceed ``max_cluster_size``.
    """

    clusters: list = field(default_factory=list)
    cluster_of: dict = field(default_factory=dict)
    n_edges: int = 0
    n_edges_oov: int = 0
    n_edges_skipped: int = 0

    def summary(self) -> dict:
        """Counts for a report: clusters, clustered words per language, sizes and edges."""
        sizes = [len(c) for c in self.clusters]
        per_lang: dict[str, int] = {}
        for lang, _ in self.cluster_of:
            per_lang[lang] = per_lang.get(lang, 0) + 1
        return {"n_clusters": len(sizes), "clustered_words": per_lang, "largest_cluster": max(sizes, default=0),
                "mean_cluster_size": float(np.mean(sizes)) if sizes else 0.0, "n_edges": self.n_edges,
                "n_edges_oov": self.n_edges_oov, "n_edges_skipped": self.n_edges_skipped}


def _check_max_cluster_size(value) -> None:
    if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 2):
        raise InputError(f"Expected max_cluster_size to be an integer >= 2 or None, got {value!r}")


def translation_clusters(vocabularies: Mapping[str, Sequence[str]], lexicons: Mapping[tuple[str, str], Lexicon], *,
                         max_cluster_size: int | None = None) -> TranslationClusters:
    """Connected components of the translation graph, restricted to the vocabularies.

    Parameters
    ----------
    vocabularies : mapping str -> sequence of str
        Each language's words, most frequent first.
    lexicons : mapping (str, str) -> Lexicon
        ``lexicons[(a, b)]`` translates words of ``a`` into words of ``b``.
    max_cluster_size : int, optional
        Largest cluster allowed. Chains of polysemous entries (bank–Bank–banc–
        rive–shore–...) can join thousands of words into one component, which
        would give them all one vector. With a cap, the edges are joined in the
        order of their words' frequency (the pair whose rarer word is most
        frequent first) and a union that would make a cluster larger than the
        cap is skipped, so each over-large component is split into clusters of
        at most ``max_cluster_size`` words around its most frequent words.
        None: plain connected components.

    Returns
    -------
    TranslationClusters

    Examples
    --------
    >>> from xling import Lexicon
    >>> vocab = {"en": ["dog", "cat"], "de": ["hund", "katze"], "fr": ["chien"]}
    >>> lex = {("en", "de"): Lexicon([("dog", "hund"), ("cat", "katze")]), ("de", "fr"): Lexicon([("hund", "chien")])}
    >>> translation_clusters(vocab, lex).clusters
    [[('en', 'dog'), ('de', 'hund'), ('fr', 'chien')], [('en', 'cat'), ('de', 'katze')]]
    """
    _check_max_cluster_size(max_cluster_size)
    langs = list(vocabularies)
    lang_index = {lang: i for i, lang in enumerate(langs)}
    ranks = {lang: {w: r for r, w in enumerate(words)} for lang, words in vocabularies.items()}
    # nodes: (lang, word) -> node id; an edge joins two nodes
    node_of: dict[tuple[str, str], int] = {}
    node_key: list[tuple[int, int]] = []  # (rank, language index) of each node, for the orderings
    edges: list[tuple[int, int, int, int]] = []  # (rarer rank, commoner rank, node a, node b)
    n_oov = 0
    for (a, b), lexicon in lexicons.items():
        for lang in (a, b):
            if lang not in ranks:
                raise InputError(f"Lexicon {a}-{b} names {lang!r}, which has no vocabulary; languages: {', '.join(langs)}")
        ra, rb = ranks[a], ranks[b]
        for s, t in lexicon:
            i, j = ra.get(s), rb.get(t)
            if i is None or j is None:
                n_oov += 1
                continue
            ends = []
            for lang, word, rank in ((a, s, i), (b, t, j)):
                node = node_of.get((lang, word))
                if node is None:
                    node = node_of[(lang, word)] = len(node_key)
                    node_key.append((rank, lang_index[lang]))
                ends.append(node)
            edges.append((max(i, j), min(i, j), ends[0], ends[1]))
    if max_cluster_size is not None:
        edges.sort(key=lambda e: (e[0], e[1]))  # stable: ties keep the lexicons' order

    parent = list(range(len(node_key)))
    size = [1] * len(node_key)

    def root(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]  # path halving
            n = parent[n]
        return n

    skipped = 0
    for _, _, u, v in edges:
        ru, rv = root(u), root(v)
        if ru == rv:
            continue
        if max_cluster_size is not None and size[ru] + size[rv] > max_cluster_size:
            skipped += 1
            continue
        if size[ru] < size[rv]:
            ru, rv = rv, ru
        parent[rv] = ru
        size[ru] += size[rv]

    members: dict[int, list[int]] = {}
    for node in range(len(node_key)):
        members.setdefault(root(node), []).append(node)
    keys = list(node_of)
    groups = [sorted(nodes, key=lambda n: (node_key[n][1], node_key[n][0])) for nodes in members.values() if len(nodes) > 1]
    groups.sort(key=lambda nodes: min(node_key[n] for n in nodes))
    clusters = [[keys[n] for n in nodes] for nodes in groups]
    cluster_of = {member: c for c, cluster in enumerate(clusters) for member in cluster}
    result = TranslationClusters(clusters, cluster_of, n_edges=len(edges), n_edges_oov=n_oov, n_edges_skipped=skipped)
    logger.info("translation clusters: %d clusters of %d words (largest %d) from %d edges; %d edges skipped by "
                "max_cluster_size=%s, %d lexicon entries out of the vocabularies", len(clusters), len(cluster_of),
                max((len(c) for c in clusters), default=0), len(edges), skipped, max_cluster_size, n_oov)
    return result


class _ClusteredCorpus:
    """The corpora as one restartable iterable of token lists, each word replaced by its id.

    Sentences are taken from the languages in turn (one of each, round-robin,
    until every corpus is exhausted): windows never cross sentences, so the
    order changes only the learning-rate schedule, which this way falls
    alike for every language instead of being spent on the first corpus.
    Tokens outside a language's vocabulary are dropped, as the trainer would.
    """

    def __init__(self, corpora: Mapping, tables: Mapping[str, dict]):
        self.corpora, self.tables = corpora, tables

    def __iter__(self) -> Iterator[list[str]]:
        streams = [(iter(self.corpora[lang]), self.tables[lang].get) for lang in self.corpora]
        while streams:
            alive = []
            for stream, get in streams:
                tokens = next(stream, None)
                if tokens is None:
                    continue
                alive.append((stream, get))
                out = [tok for tok in map(get, tokens) if tok is not None]
                if out:
                    yield out
            streams = alive


class MultiCluster(BaseMultilingualTrainer):
    """Multilingual embeddings from clusters of translations (Ammar et al. 2016, multiCluster).

    Ammar, Mulcaire, Tsvetkov, Lample, Dyer & Smith (2016), "Massively
    multilingual word embeddings", §2.1: the words of all languages are joined
    into clusters through the bilingual lexicons (connected components of the
    translation graph, :func:`translation_clusters`), every token of every
    monolingual corpus is replaced by its cluster id, one skip-gram
    (:class:`xling.train.SkipGram`) is trained on all the corpora, and each
    word's vector is its cluster's vector. Words in no cluster keep their own
    language-tagged id, placed by their (cluster) contexts.

    Clusters are capped at ``max_cluster_size`` words. Plain connected
    components chain too much: with the en-es, en-de, en-fr and en-it seed
    lexicons of BENCHMARKS.md over the vocabularies of the five novel corpora,
    one component holds 10,221 of the 22,928 clustered words (function words
    and polysemous entries link up), and would get one vector. The default cap,
    16 (about three words per language for five languages), splits it: 3,597
    clusters of mean size 5.8, with 4,352 of the 22,286 edges left out.

    Parameters
    ----------
    vector_size : int
        Dimension of the vectors.
    window : int
        Largest distance between a centre and a context word.
    min_count : int
        Each language's vocabulary: its words seen at least this often in its
        own corpus (only these join clusters and get vectors).
    max_vocab_size : int, optional
        Keep only this many most frequent words per language (after ``min_count``).
    negative : int
        Noise words per prediction.
    sample : float
        Subsampling threshold of frequent tokens, a cluster counting as one token (0 disables subsampling).
    alpha, min_alpha : float
        Initial and final learning rates.
    epochs : int
        Passes over all the corpora.
    max_cluster_size : int, optional
        Largest cluster: over-large components of the translation graph are
        split around their most frequent words (see :func:`translation_clusters`); None for no cap.
    batch_words : int
        Tokens per unit of work of the skip-gram kernel.
    workers : int
        Threads of the compiled kernel (and torch threads on the CPU).
    device : str or torch.device, optional
        ``None`` picks CUDA when present.
    backend : {"auto", "kernel", "torch"}
        The skip-gram code path (see :class:`xling.train.SkipGram`).
    random_state : int, numpy Generator or None
        Seeds the skip-gram model.
    callbacks : sequence of callables
        Called with the skip-gram model's events (see :class:`xling.train.SkipGram`).
    checkpoint_dir : path, optional
        Where the skip-gram model writes a checkpoint after each epoch.
    resume : bool
        Continue from the checkpoint in ``checkpoint_dir`` when there is one (same corpora and lexicons).

    All but ``min_count``, ``max_vocab_size`` and ``max_cluster_size`` are
    passed to the one :class:`xling.train.SkipGram` model.

    Attributes
    ----------
    embeddings_ : dict str -> Embeddings
        Each language's vocabulary (most frequent first) in the shared space,
        float32; the words of one cluster have the same vector.
    vocabularies_ : dict str -> Vocabulary
        Each language's words and counts.
    clusters_ : TranslationClusters
    model_ : SkipGram
        The fitted model over cluster ids (``":17"``) and language-tagged words (``"de:haus"``).
    history_ : list of dict
        The model's history: one step event per epoch, as in :class:`xling.train.SkipGram`.
    backend_ : str

    Examples
    --------
    >>> from xling import Lexicon
    >>> from xling.train import MultiCluster
    >>> corpora = {"en": [["the", "dog", "runs"]] * 20, "es": [["el", "perro", "corre"]] * 20}
    >>> model = MultiCluster(vector_size=8, min_count=1, epochs=1, random_state=0).fit(
    ...     corpora, {("en", "es"): Lexicon([("dog", "perro")])})
    >>> bool((model.embeddings_["en"]["dog"] == model.embeddings_["es"]["perro"]).all())
    True
    """

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
        max_cluster_size: int | None = 16,
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
        self.max_cluster_size = max_cluster_size
        self.batch_words = batch_words
        self.workers = workers
        self.device = device
        self.backend = backend
        self.random_state = random_state
        self.callbacks = callbacks
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume

    def fit(self, corpora: Mapping[str, object], lexicons: Mapping[tuple[str, str], Lexicon]) -> "MultiCluster":
        """Cluster the vocabularies through the lexicons and train one skip-gram on all corpora.

        Parameters
        ----------
        corpora : mapping str -> iterable of list of str
            Each language's monolingual corpus (restartable: read twice, to
            count and to train), e.g. :class:`xling.LineCorpus`.
        lexicons : mapping (str, str) -> Lexicon
            ``lexicons[(a, b)]``: translations of words of ``a`` into words of
            ``b`` (same case as the corpora); both languages need a corpus.

        Returns
        -------
        self
        """
        check_word2vec_params(self)
        _check_max_cluster_size(self.max_cluster_size)
        check_multilingual_inputs(corpora, lexicons)
        rng = check_random_state(self.random_state)
        vocabularies = {}
        for lang, corpus in corpora.items():
            try:
                vocabularies[lang] = Vocabulary.build(corpus, min_count=self.min_count, max_vocab=self.max_vocab_size)
            except NotEnoughDataError as exc:
                raise NotEnoughDataError(f"The corpus of {lang!r}: {exc}") from None
            logger.info("%s: %d words (min_count=%d) from %d tokens", lang, len(vocabularies[lang]), self.min_count,
                        vocabularies[lang].n_tokens)
        clusters = translation_clusters({lang: v.words for lang, v in vocabularies.items()}, lexicons,
                                        max_cluster_size=self.max_cluster_size)
        if not clusters.clusters:
            raise NotEnoughDataError(
                f"Expected lexicon entries with both words in the vocabularies, got none of {clusters.n_edges_oov} "
                "(do the lexicons and the corpora share case, and the keys the direction of the lexicons?)")
        tables = {}
        for lang, vocab in vocabularies.items():
            get = clusters.cluster_of.get
            tables[lang] = {w: (_word_token(lang, w) if (c := get((lang, w))) is None else _cluster_token(c))
                            for w in vocab.words}
        # Every token the corpus yields is in some vocabulary, so the model keeps them all (min_count=1).
        model = SkipGram(
            vector_size=self.vector_size, window=self.window, min_count=1, max_vocab_size=None,
            negative=self.negative, sample=self.sample, alpha=self.alpha, min_alpha=self.min_alpha, epochs=self.epochs,
            batch_words=self.batch_words, workers=self.workers, device=self.device, backend=self.backend,
            random_state=int(rng.integers(0, 2**63 - 1)), callbacks=self.callbacks,
            checkpoint_dir=self.checkpoint_dir, resume=self.resume,
        ).fit(_ClusteredCorpus(corpora, tables))
        index, vectors = model.embeddings_.word_to_index, model.embeddings_.vectors
        self.embeddings_ = {lang: Embeddings(vocab.words, vectors[[index[tables[lang][w]] for w in vocab.words]])
                            for lang, vocab in vocabularies.items()}
        self.vocabularies_ = vocabularies
        self.clusters_ = clusters
        self.model_ = model
        # The model's own list: its callbacks (ours) received exactly these step events.
        self.history_ = model.history_
        self.backend_ = model.backend_
        return self
