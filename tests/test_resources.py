"""Shipped lexicons and demo corpora are found and readable."""

from __future__ import annotations

import pytest

from xling import Lexicon
from xling.resources import bli_split, demo_corpus_path, lexicon_path


@pytest.mark.parametrize("pair", ["en-es", "en-de", "en-fr", "en-it"])
def test_standard_splits_are_disjoint_and_sized(pair):
    train, test = (Lexicon.read(p) for p in bli_split(pair))
    assert len(train) == 5000
    assert len(test) in (1500, 2000)
    assert not set(train.sources) & set(test.sources)


def test_unknown_split_is_a_clear_error():
    with pytest.raises(ValueError, match="Expected train_size"):
        bli_split("en-de", "7k")
    with pytest.raises(FileNotFoundError, match="available"):
        lexicon_path("en-xx/none.tsv")


def test_demo_corpora_ship():
    for lang in ("en", "es"):
        assert demo_corpus_path(lang).stat().st_size > 1_000_000
