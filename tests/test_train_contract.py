"""The contract every trainer keeps, checked over the registries.

Every class in ``TRAINERS`` (``fit(corpus)``), ``JOINT_TRAINERS``
(``fit(src_corpus, tgt_corpus, supervision)``) and ``MULTILINGUAL_TRAINERS``
(``fit(corpora, lexicons)``, here en and es with the en-es lexicon) is tested here, so a newly
registered trainer is held to the same rules without writing a test for it:
scikit-learn's estimator rules (clone, params, nothing done in ``__init__``,
``check_is_fitted``), one fit signature per family, reproducible seeded fits,
inputs left untouched, and one ``history_`` / callback event schema.

The text is real: the first paragraphs of the shipped demo corpora (English
and Spanish novels) and the shipped en-es lexicon. The two corpora are not
translations of each other; the parallel pairs only have the shape of a
parallel corpus, which is all a contract needs.
"""

from __future__ import annotations

import copy
import inspect
import json
import numbers

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from xling import Lexicon, LineCorpus, ParallelCorpus
from xling.resources import demo_corpus_path, lexicon_path
from xling.train import JOINT_TRAINERS, MULTILINGUAL_TRAINERS, TRAINERS
from xling.train._base import SUPERVISION_KINDS

N_LINES = 60  # paragraphs per language: about 3,000 tokens each
N_PAIRS = 30  # pairs of paragraphs of at most MAX_PAIR_LEN tokens (Trans-gram's cost grows with |s|·|t|)
MAX_PAIR_LEN = 40
BASE_KEYS = ("event", "phase", "step", "total", "progress")

REGISTERED = [pytest.param(cls, id=name) for name, cls in {**TRAINERS, **JOINT_TRAINERS, **MULTILINGUAL_TRAINERS}.items()]


def _is_joint(cls) -> bool:
    return cls in JOINT_TRAINERS.values()


def _is_multilingual(cls) -> bool:
    return cls in MULTILINGUAL_TRAINERS.values()


def _small(cls, **extra) -> dict:
    """Settings for a fast, exactly reproducible fit (one thread), restricted to those ``cls`` has."""
    wanted = {**dict(vector_size=8, window=3, min_count=2, epochs=2, workers=1, random_state=0), **extra}
    accepted = cls().get_params(deep=False)
    return {k: v for k, v in wanted.items() if k in accepted}


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    """Token lists and the same text as corpus objects (LineCorpus / ParallelCorpus), plus a Lexicon."""
    root = tmp_path_factory.mktemp("contract")
    data = {}
    for lang in ("en", "es"):
        corpus = LineCorpus(demo_corpus_path(lang), max_lines=N_LINES)
        data[lang] = list(corpus)
        data[lang + "_corpus"] = corpus
    short = [(s, t) for s, t in zip(data["en"], data["es"]) if len(s) <= MAX_PAIR_LEN and len(t) <= MAX_PAIR_LEN]
    data["pairs"] = short[:N_PAIRS]
    assert len(data["pairs"]) >= 10
    for side, lang in enumerate(("en", "es")):
        (root / f"par.{lang}").write_text("\n".join(" ".join(p[side]) for p in data["pairs"]) + "\n",
                                          encoding="utf-8")
    data["parallel"] = ParallelCorpus(root / "par.en", root / "par.es")
    data["lexicon"] = Lexicon.read(lexicon_path("en-es/en-es.0-5000.tsv")).lower()
    return data


def _fit(model, text, *, objects: bool = False):
    """Fit on token lists, or (``objects``) on the corpus objects holding the same text."""
    en = text["en_corpus"] if objects else text["en"]
    es = text["es_corpus"] if objects else text["es"]
    if _is_multilingual(type(model)):
        return model.fit({"en": en, "es": es}, {("en", "es"): text["lexicon"]})
    if not _is_joint(type(model)):
        return model.fit(en)
    if not type(model).uses_monolingual:
        en = es = None
    if type(model).supervision_kind == "lexicon":
        return model.fit(en, es, text["lexicon"])
    # The parallel sentences double as aligned (one-sentence) documents.
    return model.fit(en, es, text["parallel"] if objects else text["pairs"])


def _vectors(model) -> list[np.ndarray]:
    if _is_multilingual(type(model)):
        return [model.embeddings_["en"].vectors, model.embeddings_["es"].vectors]
    if _is_joint(type(model)):
        return [model.src_embeddings_.vectors, model.tgt_embeddings_.vectors]
    return [model.embeddings_.vectors]


@pytest.fixture(scope="module")
def fitted(text):
    """One fit per class on token lists, with a recording callback: (model, events, inputs before the fit)."""
    cache = {}

    def get(cls):
        if cls not in cache:
            before = copy.deepcopy([text["en"], text["es"], text["pairs"]]), list(text["lexicon"])
            events = []
            model = _fit(cls(**_small(cls), callbacks=[events.append]), text)
            cache[cls] = model, events, before
        return cache[cls]

    return get


# --------------------------------------------------------------------------- estimator rules
@pytest.mark.parametrize("cls", REGISTERED)
def test_init_stores_settings_verbatim_and_trains_nothing(cls):
    callbacks = (print,)
    settings = {**_small(cls), "callbacks": callbacks}
    model = cls(**settings)
    params = model.get_params(deep=False)
    for name, value in settings.items():
        assert params[name] is value and getattr(model, name) is value
    # Only the settings are attributes: nothing learned, no hidden state.
    assert set(vars(model)) == set(params)
    assert not [name for name in params if name.endswith("_")]  # a trailing "_" marks a fitted attribute
    defaults = cls()
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD:
            if name != "self":
                assert getattr(defaults, name) is p.default


@pytest.mark.parametrize("cls", REGISTERED)
def test_clone_and_params_round_trip(cls):
    model = cls(**_small(cls))
    params = model.get_params(deep=False)
    twin = clone(model)
    assert twin is not model and twin.get_params(deep=False) == params
    other = cls()
    assert other.set_params(**params) is other and other.get_params(deep=False) == params
    with pytest.raises(ValueError, match="no_such_setting"):
        other.set_params(no_such_setting=1)


@pytest.mark.parametrize("cls", REGISTERED)
def test_unfitted_model_fails_check_is_fitted(cls, fitted):
    with pytest.raises(NotFittedError):
        check_is_fitted(cls(**_small(cls)))
    check_is_fitted(fitted(cls)[0])  # and a fitted one passes


@pytest.mark.parametrize("cls", REGISTERED)
def test_fit_has_the_family_signature(cls):
    params = list(inspect.signature(cls.fit).parameters.values())[1:]  # without self
    positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    expected = (["corpora", "lexicons"] if _is_multilingual(cls)
                else ["src_corpus", "tgt_corpus", "supervision"] if _is_joint(cls) else ["corpus"])
    assert positional == expected
    assert all(p.default is p.empty for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)
    # Anything else is keyword-only and optional (PseudoBilingual's aligned documents).
    extra = [p for p in params if p.kind is not p.POSITIONAL_OR_KEYWORD]
    assert all(p.kind is p.KEYWORD_ONLY and p.default is not p.empty for p in extra)
    if _is_joint(cls):
        assert cls.supervision_kind in SUPERVISION_KINDS and isinstance(cls.uses_monolingual, bool)


# --------------------------------------------------------------------------- fitting
@pytest.mark.parametrize("cls", REGISTERED)
def test_seeded_one_thread_fits_are_identical(cls, text, fitted):
    first = fitted(cls)[0]
    # The second fit reads the same text through the corpus objects (files), not the lists.
    again = _fit(cls(**_small(cls)), text, objects=True)
    for a, b in zip(_vectors(first), _vectors(again), strict=True):
        assert a.dtype == np.float32 and a.shape[1] == 8 and np.isfinite(a).all()
        np.testing.assert_array_equal(a, b)
    other_seed = _fit(cls(**_small(cls, random_state=1)), text)
    assert not all(np.array_equal(a, b) for a, b in zip(_vectors(first), _vectors(other_seed)))


@pytest.mark.parametrize("cls", REGISTERED)
def test_fit_does_not_mutate_its_inputs(cls, text, fitted):
    _, _, (before, lexicon_before) = fitted(cls)
    assert [text["en"], text["es"], text["pairs"]] == before
    assert list(text["lexicon"]) == lexicon_before


# --------------------------------------------------------------------------- history_ and callbacks
def _check_event(event: dict) -> None:
    assert list(event)[:5] == list(BASE_KEYS)
    assert event["event"] in ("step", "progress")
    assert isinstance(event["phase"], str) and event["phase"]
    assert isinstance(event["step"], int) and event["step"] >= 1
    assert event["total"] is None or (isinstance(event["total"], int) and event["step"] <= event["total"])
    assert isinstance(event["progress"], float) and 0.0 <= event["progress"] <= 1.0
    metrics = {k: v for k, v in event.items() if k not in BASE_KEYS}
    assert any(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in metrics.values())
    assert all(v is None or isinstance(v, (numbers.Real, str)) for v in metrics.values()), metrics


@pytest.mark.parametrize("cls", REGISTERED)
def test_history_follows_the_one_schema_and_callbacks_see_the_same_events(cls, fitted):
    model, events, _ = fitted(cls)
    assert model.history_ and all(h["event"] == "step" for h in model.history_)
    for event in events:
        _check_event(event)
    # The callbacks received every recorded step, the same dicts in the same order;
    # anything else they received was a progress report inside a step.
    steps = [e for e in events if e["event"] == "step"]
    assert len(steps) == len(model.history_) and all(a is b for a, b in zip(steps, model.history_))
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress) and model.history_[-1]["progress"] == 1.0
    numbers_ = [h["step"] for h in model.history_]
    assert numbers_ == list(range(1, len(numbers_) + 1))
    if model.history_[0]["phase"] == "train":  # iterative trainers: one step per epoch
        assert numbers_ == [1, 2] and all(h["total"] == 2 for h in model.history_)
        assert all(np.isfinite(h["loss"]) and h["loss"] > 0 for h in model.history_)
    json.dumps(model.history_)  # plain Python values: reports write it as it is
    # A progress event carries the number of the step it is inside: the next step event's.
    pending = []
    for event in events:
        if event["event"] == "progress":
            pending.append(event["step"])
        else:
            assert set(pending) <= {event["step"]}
            pending = []
    assert not pending
