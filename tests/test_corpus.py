"""Tokeniser and streaming corpora: documented rules, compression, bad input with line numbers."""

from __future__ import annotations

import gzip
import lzma

import pytest

from xling import FormatError, LineCorpus, ParallelCorpus, tokenize


def write(path, text: str):
    opener = {".xz": lzma.open, ".gz": gzip.open}.get(path.suffix)
    if opener is None:
        path.write_text(text, encoding="utf-8")
    else:
        with opener(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    return path


@pytest.mark.parametrize(
    "text,expected",
    [
        ("No traveller can ride -- or drive!", ["no", "traveller", "can", "ride", "or", "drive"]),
        ("don't dinner-party snake_case", ["don", "t", "dinner", "party", "snake", "case"]),
        ("Año 1909: «¿Qué?» Straße", ["año", "1909", "qué", "straße"]),
        ("  \t  ", []),
    ],
)
def test_tokenize_rule(text, expected):
    assert tokenize(text) == expected


def test_tokenize_can_keep_case():
    assert tokenize("Über Alles", lowercase=False) == ["Über", "Alles"]


@pytest.mark.parametrize("name", ["c.txt", "c.txt.gz", "c.txt.xz"])
def test_line_corpus_skips_empty_lines_and_restarts(tmp_path, name):
    path = write(tmp_path / name, "The cat sat.\n\n -- \nA DOG!\n")
    corpus = LineCorpus(path)
    assert list(corpus) == [["the", "cat", "sat"], ["a", "dog"]]
    assert list(corpus) == list(corpus)  # restartable: a second pass gives the same
    assert list(LineCorpus(path, lowercase=False))[1] == ["A", "DOG"]


def test_line_corpus_max_lines(tmp_path):
    path = write(tmp_path / "c.txt", "one\ntwo\nthree\n")
    assert list(LineCorpus(path, max_lines=2)) == [["one"], ["two"]]


def test_line_corpus_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        LineCorpus(tmp_path / "nope.txt")


def test_line_corpus_reports_undecodable_line(tmp_path):
    path = tmp_path / "l1.txt"
    path.write_bytes("fine\nalso fine\ncaf\u00e9 au lait\n".encode("latin-1"))
    with pytest.raises(FormatError) as info:
        list(LineCorpus(path))
    assert info.value.path == str(path) and info.value.line == 3 and "0xe9" in info.value.message


def test_parallel_corpus_pairs_lines_and_counts_skipped(tmp_path):
    src = write(tmp_path / "p.en.xz", "The house.\n\nGood morning\n!!!\nYes\n")
    tgt = write(tmp_path / "p.es.xz", "La casa.\nHola\nBuenos días\nsí\n\n")
    corpus = ParallelCorpus(src, tgt)
    assert len(corpus) == 5
    assert corpus.n_skipped is None  # known after a full pass
    assert list(corpus) == [(["the", "house"], ["la", "casa"]), (["good", "morning"], ["buenos", "días"])]
    assert corpus.n_skipped == 3


def test_parallel_corpus_mismatched_line_counts(tmp_path):
    src = write(tmp_path / "a.en", "one\ntwo\nthree\n")
    tgt = write(tmp_path / "a.es", "uno\ndos\n")
    with pytest.raises(FormatError) as info:
        ParallelCorpus(src, tgt)
    message = str(info.value)
    assert str(src) in message and str(tgt) in message
    assert "got 3 lines here and 2 in" in message


def test_parallel_corpus_reports_undecodable_line(tmp_path):
    src = write(tmp_path / "a.en", "one\ntwo\n")
    tgt = tmp_path / "a.es"
    tgt.write_bytes("uno\nni\u00f1o\n".encode("latin-1"))
    with pytest.raises(FormatError) as info:
        ParallelCorpus(src, tgt)
    assert info.value.path == str(tgt) and info.value.line == 2


def test_real_parallel_corpus_reads(shared_data):
    base = shared_data / "parallel" / "bible" / "kjv-rv1909.en-es"
    corpus = ParallelCorpus(f"{base}.en.xz", f"{base}.es.xz")
    assert len(corpus) == 31_084
    first = next(iter(corpus))
    assert first[0][:3] == ["in", "the", "beginning"]
