"""Lexicons: reading MUSE/VecMap/xling-eval files, coverage, index pairs, bad input."""

from __future__ import annotations

import lzma

import numpy as np
import pytest

from xling import Coverage, Embeddings, FormatError, Lexicon, NotEnoughDataError


def vocab(words):
    return Embeddings(words, np.zeros((len(words), 2)))


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_read_tsv_with_provenance_and_several_translations(tmp_path):
    path = write(tmp_path / "l.tsv", "dog\tperro\tapertium\ndog\tcan\n\n# comment\ncat\tgato\ndog\tperro\n")
    lex = Lexicon.read(path)
    assert len(lex) == 2 and lex.n_pairs == 3
    assert lex["dog"] == ["perro", "can"] and lex["cat"] == ["gato"]
    assert list(lex) == [("dog", "perro"), ("dog", "can"), ("cat", "gato")]


def test_read_whitespace_separated_vecmap_style_and_xz(tmp_path):
    path = tmp_path / "l.txt.xz"
    with lzma.open(path, "wt", encoding="utf-8") as fh:
        fh.write("dog perro\ncat  gato\r\nñandú ñandú\n")
    lex = Lexicon.read(path)
    assert list(lex) == [("dog", "perro"), ("cat", "gato"), ("ñandú", "ñandú")]


def test_tsv_words_may_hold_spaces(tmp_path):
    lex = Lexicon.read(write(tmp_path / "l.tsv", "ice cream\thelado\n"))
    assert lex["ice cream"] == ["helado"]


def test_write_read_round_trip_and_inverse(tmp_path):
    lex = Lexicon([("dog", "perro"), ("dog", "can"), ("ice cream", "helado")])
    lex.write(tmp_path / "out.tsv.gz")
    assert list(Lexicon.read(tmp_path / "out.tsv.gz")) == list(lex)
    assert list(lex.inverse()) == [("perro", "dog"), ("can", "dog"), ("helado", "ice cream")]
    assert list(Lexicon([("Dog", "Perro")]).lower()) == [("dog", "perro")]


@pytest.mark.parametrize("line", ["lonely", "dog perro can", "dog\t", "\tperro", "a\t\tb"])
def test_a_line_that_is_not_a_pair(tmp_path, line):
    path = write(tmp_path / "l.tsv", f"cat\tgato\n{line}\n")
    with pytest.raises(FormatError) as info:
        Lexicon.read(path)
    assert info.value.path == str(path) and info.value.line == 2
    assert "Expected a pair" in info.value.message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_an_empty_lexicon_file(tmp_path, text):
    path = write(tmp_path / "l.tsv", text)
    with pytest.raises(FormatError, match="got none") as info:
        Lexicon.read(path)
    assert info.value.path == str(path)


def test_undecodable_bytes_name_the_line(tmp_path):
    path = tmp_path / "l1.tsv"
    path.write_bytes("cat\tgato\ncaf\u00e9\tcafé\n".encode("latin-1"))
    with pytest.raises(FormatError, match="0xe9") as info:
        Lexicon.read(path)
    assert info.value.line == 2


def test_to_pairs_maps_rows_and_counts_oov_on_each_side():
    lex = Lexicon([("dog", "perro"), ("dog", "can"), ("cat", "gato"), ("emu", "emú"), ("cow", "zzz")])
    src, tgt = vocab(["cat", "dog", "cow"]), vocab(["gato", "can", "perro"])
    pairs, cov = lex.to_pairs(src, tgt)
    assert pairs.dtype == np.int64 and pairs.shape == (3, 2)
    assert pairs.tolist() == [[1, 2], [1, 1], [0, 0]]
    assert cov == Coverage(n_entries=5, n_entries_used=3, n_src_words=4, n_src_words_used=2, n_src_oov=1,
                           n_tgt_oov=2)
    assert cov.fraction == 0.5 and cov.as_dict()["fraction"] == 0.5
    assert lex.coverage(src.word_to_index, {"gato"}) == Coverage(5, 1, 4, 1, 1, 4)


def test_to_pairs_all_oov_raises_with_the_counts():
    lex = Lexicon([("dog", "perro"), ("cat", "gato"), ("cow", "vaca")])
    with pytest.raises(NotEnoughDataError) as info:
        lex.to_pairs(vocab(["dog", "cat"]), vocab(["hund"]), name="seed lexicon")
    message = str(info.value)
    assert "Expected at least 1 seed lexicon pairs" in message
    assert "got 0 of 3" in message and "1 pairs have an out-of-vocabulary source word" in message
    assert "3 an out-of-vocabulary target word" in message


def test_to_pairs_min_pairs():
    lex = Lexicon([("dog", "perro"), ("cat", "gato")])
    src, tgt = vocab(["dog", "cat"]), vocab(["perro", "gato"])
    assert len(lex.to_pairs(src, tgt, min_pairs=2)[0]) == 2
    with pytest.raises(NotEnoughDataError, match="at least 3"):
        lex.to_pairs(src, tgt, min_pairs=3)


@pytest.mark.parametrize("pair", [("ok", "two\tcols"), ("", "x"), ("line\nbreak", "x"), (" padded", "x"), ("#tag", "x")])
def test_unwritable_words_fail_and_keep_the_existing_file(tmp_path, pair):
    target = tmp_path / "out.tsv"
    target.write_text("old\tcontent\n", encoding="utf-8")
    lex = Lexicon([(f"w{i}", f"t{i}") for i in range(1000)] + [pair])
    with pytest.raises(ValueError, match="Expected"):
        lex.write(target)
    assert target.read_text(encoding="utf-8") == "old\tcontent\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tsv"]


def test_shipped_style_real_lexicon_reads(shared_data):
    lex = Lexicon.read(shared_data / "lexicons" / "en-es" / "en-es.5000-6500.tsv")
    assert len(lex) == 1500 and lex.n_pairs > len(lex)  # several translations per word
