"""The three interfaces of the trainers: monolingual, joint bilingual and multilingual.

Contract (scikit-learn style), for every class in ``xling.train.TRAINERS``,
``xling.train.JOINT_TRAINERS`` and ``xling.train.MULTILINGUAL_TRAINERS``:

* ``__init__`` stores keyword hyperparameters verbatim (gensim's names) and
  trains nothing; every check happens in ``fit``, before any training.
* Monolingual: ``fit(corpus)``, a restartable iterable of token lists (e.g.
  :class:`xling.LineCorpus`); sets ``embeddings_`` (an :class:`xling.Embeddings`),
  ``vocabulary_`` and ``history_``.
* Joint: ``fit(src_corpus, tgt_corpus, supervision)``: two monolingual
  corpora and the bilingual signal, one documented type per method, named by
  the class attribute ``supervision_kind`` (a :class:`xling.ParallelCorpus`
  of sentence pairs for BilBOWA and Trans-gram, of aligned documents for the
  document-based methods, a :class:`xling.Lexicon` for the pseudo-bilingual
  corpora); sets ``src_embeddings_``, ``tgt_embeddings_`` and ``history_``.
  Methods that learn from the bilingual signal alone (cross-lingual training
  from aligned sentences or documents) set ``uses_monolingual = False`` and
  are called as ``fit(None, None, supervision)``.
* Multilingual: ``fit(corpora, lexicons)``: ``corpora`` maps each language
  name to its monolingual corpus, ``lexicons`` maps ``(lang_a, lang_b)`` to an
  :class:`xling.Lexicon` of lang_a -> lang_b translations (both languages
  must have a corpus); sets ``embeddings_`` (language -> :class:`xling.Embeddings`,
  all in one space) and ``history_``.
* ``history_`` and the events sent to ``callbacks`` follow the one schema of
  :mod:`xling._progress`: ``history_`` is the list of step events (one per
  epoch or phase), and the callbacks receive those same dicts plus progress
  reports from inside long epochs.
* An unfitted trainer fails :func:`sklearn.utils.validation.check_is_fitted`.
"""

from __future__ import annotations
from xling.exceptions import InputError, InputTypeError
from xling.lexicon import Lexicon

import warnings
from collections.abc import Iterable, Mapping

from sklearn.base import BaseEstimator

__all__ = ["BaseTrainer", "BaseJointTrainer", "BaseMultilingualTrainer", "SUPERVISION_KINDS", "check_corpus",
           "check_multilingual_inputs"]

#: What ``BaseJointTrainer.supervision`` can be: the values of ``supervision_kind``.
SUPERVISION_KINDS = ("parallel", "documents", "lexicon")


def check_corpus(corpus, name: str = "corpus") -> None:
    """Raise ``TypeError`` unless ``corpus`` can be an iterable of token lists (a path or string cannot)."""
    if isinstance(corpus, (str, bytes)) or not isinstance(corpus, Iterable):
        raise InputTypeError(f"Expected {name} to be an iterable of token lists (e.g. xling.LineCorpus), "
                        f"got {type(corpus).__name__}")


def check_multilingual_inputs(corpora, lexicons) -> None:
    """Raise unless ``corpora`` is ``{lang: corpus}`` for two or more languages and ``lexicons`` is
    ``{(lang_a, lang_b): Lexicon}`` between distinct languages that have a corpus.

    The inputs of :meth:`BaseMultilingualTrainer.fit`; corpus objects are
    checked with :func:`check_corpus`, the lexicons' entries are not read.
    """
    if not isinstance(corpora, Mapping):
        raise InputTypeError(f"Expected corpora to be a dict {{lang: corpus}}, got {type(corpora).__name__}")
    if len(corpora) < 2:
        raise InputError(f"Expected corpora of at least two languages, got {sorted(corpora)}")
    for lang, corpus in corpora.items():
        if not isinstance(lang, str) or not lang or ":" in lang:
            raise InputError(f"Expected language names that are non-empty strings without ':', got {lang!r}")
        check_corpus(corpus, f"the corpus of {lang!r}")
        if iter(corpus) is corpus:  # a generator: the second pass (training) would find it empty
            raise InputTypeError(f"Expected a restartable corpus for {lang!r} (a list or xling.LineCorpus; it is "
                                 f"read twice), got a one-shot {type(corpus).__name__}")
    if not isinstance(lexicons, Mapping):
        raise InputTypeError(f"Expected lexicons to be a dict {{(lang_a, lang_b): Lexicon}}, got {type(lexicons).__name__}")
    if not lexicons:
        raise InputError("Expected at least one lexicon, got none (nothing would connect the languages)")
    for key, lexicon in lexicons.items():
        if not isinstance(key, tuple) or len(key) != 2 or key[0] == key[1]:
            raise InputError(f"Expected lexicon keys (lang_a, lang_b) naming two distinct languages, got {key!r}")
        missing = [lang for lang in key if lang not in corpora]
        if missing:
            raise InputError(f"Lexicon {key[0]}-{key[1]} names {missing[0]!r}, which has no corpus; "
                             f"languages with a corpus: {', '.join(corpora)}")
        if not isinstance(lexicon, Lexicon):
            raise InputTypeError(f"Expected lexicon {key[0]}-{key[1]} to be an xling.Lexicon, got {type(lexicon).__name__}")


class _Trainer(BaseEstimator):
    #: Old hyperparameter names still accepted for one release: old name -> new name.
    _deprecated_params: dict[str, str] = {}
    #: The attribute whose presence means "fitted".
    _fitted_attribute = "embeddings_"

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, self._fitted_attribute)

    def _take_deprecated(self, given: dict) -> None:
        """Store hyperparameters that ``__init__`` received under a deprecated name under their new name.

        ``given`` is ``__init__``'s ``**kwargs``; any other name is a ``TypeError``
        as for a plain signature. A deprecated name overrides its new name.
        """
        unknown = sorted(set(given) - set(self._deprecated_params))
        if unknown:
            raise InputTypeError(f"{type(self).__name__}.__init__() got an unexpected keyword argument {unknown[0]!r}")
        for name, value in self._renamed(given, stacklevel=4).items():
            setattr(self, name, value)

    def set_params(self, **params):
        """Set hyperparameters; deprecated names are mapped onto their new names (with a FutureWarning)."""
        return super().set_params(**self._renamed(params, stacklevel=3))

    @classmethod
    def _renamed(cls, params: dict, stacklevel: int) -> dict:
        out = {k: v for k, v in params.items() if k not in cls._deprecated_params}
        for old, new in cls._deprecated_params.items():
            if old not in params:
                continue
            # stacklevel points at the user's call (above __init__ or set_params).
            warnings.warn(f"{cls.__name__}: the setting {old!r} is deprecated and will be removed in the next "
                          f"release; use {new!r}", FutureWarning, stacklevel=stacklevel)
            if new in out:
                raise InputTypeError(f"{cls.__name__} got both {old!r} and its new name {new!r}; pass only {new!r}")
            out[new] = params[old]
        return out


class BaseTrainer(_Trainer):
    """Base class of the monolingual trainers: ``fit(corpus) -> self``."""

    def fit(self, corpus) -> "BaseTrainer":  # pragma: no cover - abstract
        raise NotImplementedError


class BaseJointTrainer(_Trainer):
    """Base class of the joint bilingual trainers: ``fit(src_corpus, tgt_corpus, supervision) -> self``.

    ``supervision_kind`` says what ``supervision`` is for a class:
    ``"parallel"`` (an :class:`xling.ParallelCorpus` or any iterable of
    ``(source tokens, target tokens)`` sentence pairs), ``"documents"`` (the
    same types, each pair an aligned document) or ``"lexicon"`` (an
    :class:`xling.Lexicon`), so that callers (the CLI, the contract tests)
    need no list of method names. ``uses_monolingual`` is False for methods
    that learn from ``supervision`` alone; they take ``None`` for both corpora.
    """

    supervision_kind: str = "parallel"
    uses_monolingual: bool = True
    _fitted_attribute = "src_embeddings_"

    def fit(self, src_corpus, tgt_corpus, supervision) -> "BaseJointTrainer":  # pragma: no cover - abstract
        raise NotImplementedError


class BaseMultilingualTrainer(_Trainer):
    """Base class of the multilingual trainers: ``fit(corpora, lexicons) -> self``.

    ``corpora`` is a dict ``{lang: corpus}`` (restartable iterables of token
    lists, e.g. :class:`xling.LineCorpus`) and ``lexicons`` a dict
    ``{(lang_a, lang_b): Lexicon}`` of lang_a -> lang_b translations between
    languages of ``corpora``. ``embeddings_`` is a dict ``{lang: Embeddings}``
    with every language in one shared space.
    """

    def fit(self, corpora, lexicons) -> "BaseMultilingualTrainer":  # pragma: no cover - abstract
        raise NotImplementedError
