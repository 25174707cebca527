"""Embeddings: container, file formats, and one test per kind of bad input."""

from __future__ import annotations

import gzip
import logging

import numpy as np
import pytest

from xling import Embeddings, FormatError


@pytest.fixture
def emb():
    rng = np.random.default_rng(0)
    words = ["the", "über", "niño", "a\u00a0b", "x1", "猫", "-3", "end"]
    return Embeddings(words, rng.standard_normal((len(words), 5)).astype(np.float32))


def write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def error_of(path, **kw) -> FormatError:
    with pytest.raises(FormatError) as info:
        Embeddings.read(path, **kw)
    assert info.value.path == str(path)
    return info.value


# --------------------------------------------------------------------------- container
def test_container_lookup_and_subset(emb):
    assert len(emb) == 8 and emb.dim == 5
    assert emb.get_index("niño") == 2 and "niño" in emb and "nope" not in emb
    np.testing.assert_array_equal(emb["猫"], emb.vectors[5])
    assert emb.get_index("nope", default=-1) == -1
    with pytest.raises(KeyError, match="nope"):
        emb.get_index("nope")
    sub = emb.subset(["end", "the"])
    assert sub.words == ["end", "the"]
    np.testing.assert_array_equal(sub.vectors, emb.vectors[[7, 0]])
    assert emb.subset(3).words == ["the", "über", "niño"]


def test_constructor_rejects_duplicates_and_bad_shapes():
    with pytest.raises(ValueError, match="'a' at rows 0 and 2"):
        Embeddings(["a", "b", "a"], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="3 words and 2 vectors"):
        Embeddings(["a", "b", "c"], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="shape"):
        Embeddings(["a"], np.zeros(3))


def test_with_vectors_keeps_words_and_checks_rows(emb):
    mapped = emb.with_vectors(np.ones((8, 3)))
    assert mapped.words is emb.words and mapped.dim == 3 and mapped.vectors.dtype == np.float32
    with pytest.raises(ValueError, match="8 rows"):
        emb.with_vectors(np.ones((7, 3)))


def test_normalized_returns_new_embeddings_and_leaves_original(emb):
    before = emb.vectors.copy()
    out = emb.normalized("unit,center,unit")
    np.testing.assert_allclose(np.linalg.norm(out.vectors, axis=1), 1.0, rtol=1e-5)
    assert out.words == emb.words
    np.testing.assert_array_equal(emb.vectors, before)
    centered = emb.normalized(["center"])
    np.testing.assert_allclose(centered.vectors.mean(axis=0), 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="'unitt'"):
        emb.normalized("unitt")


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("fmt", ["vec", "glove", "bin"])
@pytest.mark.parametrize("suffix", ["", ".gz", ".xz", ".bz2"])
def test_write_read_round_trip_is_exact(tmp_path, emb, fmt, suffix):
    path = tmp_path / f"v.{ {'vec': 'vec', 'glove': 'txt', 'bin': 'bin'}[fmt] }{suffix}"
    emb.write(path, format=fmt)
    back = Embeddings.read(path, format="glove" if fmt == "glove" else "auto")
    assert back.words == emb.words
    np.testing.assert_array_equal(back.vectors, emb.vectors)
    assert back.vectors.dtype == np.float32 and back.vectors.flags.c_contiguous


def test_auto_format_detection(tmp_path, emb):
    emb.write(tmp_path / "a.vec")
    emb.write(tmp_path / "a.txt", format="glove")
    emb.write(tmp_path / "a.bin.gz")
    assert (tmp_path / "a.vec").read_text(encoding="utf-8").startswith("8 5\n")
    assert not (tmp_path / "a.txt").read_text(encoding="utf-8").startswith("8 5\n")
    for name in ("a.vec", "a.txt", "a.bin.gz"):
        assert Embeddings.read(tmp_path / name).words == emb.words


def test_precision_controls_text_size(tmp_path, emb):
    emb.write(tmp_path / "short.vec", precision=3)
    back = Embeddings.read(tmp_path / "short.vec")
    np.testing.assert_allclose(back.vectors, emb.vectors, rtol=6e-3)
    emb.write(tmp_path / "exact.vec")
    assert (tmp_path / "short.vec").stat().st_size < 0.7 * (tmp_path / "exact.vec").stat().st_size
    with pytest.raises(ValueError, match="binary"):
        emb.write(tmp_path / "a.bin", precision=3)
    with pytest.raises(ValueError, match="precision"):
        emb.write(tmp_path / "a.vec", precision=0)


@pytest.mark.parametrize("name,fmt", [("v.vec", "vec"), ("v.txt.gz", "glove"), ("v.bin", "bin")])
def test_limit_reads_first_words(tmp_path, emb, name, fmt):
    emb.write(tmp_path / name, format=fmt)
    part = Embeddings.read(tmp_path / name, format=fmt, limit=3)
    assert part.words == emb.words[:3]
    np.testing.assert_array_equal(part.vectors, emb.vectors[:3])
    assert len(Embeddings.read(tmp_path / name, format=fmt, limit=100)) == 8
    with pytest.raises(ValueError, match="limit"):
        Embeddings.read(tmp_path / name, limit=0)


def test_lenient_layouts_fasttext_trailing_space_crlf_tabs(tmp_path):
    # fastText ends rows with a space; Windows files end lines with CRLF; some tools use tabs.
    for body in (b"2 3\na 1 2 3 \nb 4 5 6 \n", b"2 3\r\na 1 2 3\r\nb 4 5 6\r\n", b"2 3\na\t1\t2\t3\nb 4  5 6\n"):
        got = Embeddings.read(write_bytes(tmp_path / "x.vec", body))
        assert got.words == ["a", "b"]
        np.testing.assert_array_equal(got.vectors, [[1, 2, 3], [4, 5, 6]])


def test_long_words_and_long_rows(tmp_path):
    rng = np.random.default_rng(3)
    words = ["short", "w" * 100, "ünïcödé" * 20, "x"]
    emb = Embeddings(words, rng.standard_normal((4, 200)).astype(np.float32))
    emb.write(tmp_path / "long.vec")
    back = Embeddings.read(tmp_path / "long.vec")
    assert back.words == words
    np.testing.assert_array_equal(back.vectors, emb.vectors)


def test_file_without_final_newline_and_trailing_blank_lines(tmp_path):
    assert Embeddings.read(write_bytes(tmp_path / "a.vec", b"2 2\na 1 2\nb 3 4")).words == ["a", "b"]
    assert Embeddings.read(write_bytes(tmp_path / "b.vec", b"2 2\na 1 2\nb 3 4\n\n\n")).words == ["a", "b"]


def test_encoding_option_reads_latin1(tmp_path):
    path = write_bytes(tmp_path / "l1.txt", "caf\u00e9 1 2\nna\u00efve 3 4\n".encode("latin-1"))
    assert Embeddings.read(path, encoding="latin-1").words == ["café", "naïve"]


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A 14 MB text file: more than one read chunk, so chunk seams are exercised."""
    rng = np.random.default_rng(1)
    n, dim = 20_000, 60
    emb = Embeddings([f"w{i}ö" for i in range(n)], rng.standard_normal((n, dim)).astype(np.float32))
    path = tmp_path_factory.mktemp("big") / "big.vec"
    emb.write(path)
    return emb, path


def test_multi_chunk_file_round_trip_and_limit(big):
    emb, path = big
    assert path.stat().st_size > 10 * 2**20
    back = Embeddings.read(path)
    assert back.words == emb.words
    np.testing.assert_array_equal(back.vectors, emb.vectors)
    part = Embeddings.read(path, limit=17_001)
    assert part.words == emb.words[:17_001]
    np.testing.assert_array_equal(part.vectors, emb.vectors[:17_001])


def test_error_deep_in_a_multi_chunk_file_names_its_line(tmp_path, big):
    emb, path = big
    lines = path.read_bytes().split(b"\n")
    word, *values = lines[18_000].split(b" ")  # line 18,001 (the header is line 1)
    values[1] = b"oops"
    lines[18_000] = b" ".join([word, *values])
    bad = write_bytes(tmp_path / "bad.vec", b"\n".join(lines))
    err = error_of(bad)
    assert err.line == 18_001 and "value 2 of 'w17999ö', got 'oops'" in err.message


# --------------------------------------------------------------------------- bad input: text
def test_header_says_more_rows_than_the_file_has(tmp_path):
    err = error_of(write_bytes(tmp_path / "a.vec", b"3 2\na 1 2\nb 3 4\n"))
    assert err.line == 4 and "Expected 3 vectors" in err.message and "got 2" in err.message


def test_header_says_fewer_rows_than_the_file_has(tmp_path):
    err = error_of(write_bytes(tmp_path / "a.vec", b"1 2\na 1 2\nb 3 4\n"))
    assert err.line == 3 and "Expected 1 vectors" in err.message and "got more" in err.message


@pytest.mark.parametrize("header", [b"300", b"2 x", b"2 2 2", b"-2 2", b"0 2"])
def test_header_that_is_not_two_positive_integers(tmp_path, header):
    err = error_of(write_bytes(tmp_path / "a.vec", header + b"\na 1 2\nb 3 4\n"))
    assert err.line == 1 and "header" in err.message


@pytest.mark.parametrize(
    "body,line,expected",
    [
        (b"2 3\na 1 2 3\nb 4 5\n", 3, "Expected a word and 3 values, got 2 values"),
        (b"2 3\na 1 2 3\nb 4 5 6 7\n", 3, "got 4 values"),
        (b"2 3\na 1 2 3 4\nb 5 6\n", 2, "got 4 values"),  # the separator total is right
        (b"2 3\na 1 2 3 \nb 4 5 6 7 \n", 3, "got 4 values"),  # fastText's trailing spaces
        (b"2 3\na 1 2 3\nb 4 five 6\n", 3, "Expected a number as value 2 of 'b', got 'five'"),
        (b"2 3\na 1 2 3\nb 4 5 6e\n", 3, "got '6e'"),
        (b"2 3\na 1 nan 3\nb 4 5 6\n", 2, "Expected finite values, got nan as value 2"),
        (b"2 3\na 1 2 3\nb 4 5 -inf\n", 3, "got -inf as value 3"),
        (b"2 3\na 1 2 3\nb 4 5 1e39\n", 3, "got inf as value 3 (NaN, inf, or beyond float32's range"),
        (b"2 3\na 1 2 3\n\nb 4 5 6\n", 3, "got an empty line"),
    ],
)
def test_bad_rows_name_their_line(tmp_path, body, line, expected):
    err = error_of(write_bytes(tmp_path / "a.vec", body))
    assert err.line == line
    assert expected in err.message


def test_glove_rows_must_match_the_first_rows_dimension(tmp_path):
    err = error_of(write_bytes(tmp_path / "g.txt", b"a 1 2 3\nb 1 2 3\nc 1 2\n"))
    assert err.line == 3 and "Expected a word and 3 values, got 2" in err.message
    err = error_of(write_bytes(tmp_path / "g1.txt", b"lonely\n"))
    assert err.line == 1 and "D >= 1" in err.message


def test_duplicate_words_are_an_error_naming_both_lines(tmp_path):
    err = error_of(write_bytes(tmp_path / "d.vec", b"3 2\na 1 2\nb 3 4\na 5 6\n"))
    assert err.line == 4 and "'a' again (first on line 2)" in err.message


def test_duplicates_first_keeps_the_first_vector_and_logs(tmp_path, caplog):
    path = write_bytes(tmp_path / "d.txt", b"a 1 2\nb 3 4\na 5 6\n")
    with caplog.at_level(logging.WARNING, logger="xling"):
        got = Embeddings.read(path, duplicates="first")
    assert got.words == ["a", "b"] and got.word_to_index == {"a": 0, "b": 1}
    np.testing.assert_array_equal(got.vectors, [[1, 2], [3, 4]])
    assert "1 duplicate words ignored" in caplog.text
    with pytest.raises(ValueError, match="duplicates"):
        Embeddings.read(path, duplicates="last")


@pytest.mark.parametrize("name,fmt", [("e.vec", "auto"), ("e.txt", "auto"), ("e.bin", "auto"), ("e.vec.gz", "auto")])
def test_empty_files(tmp_path, name, fmt):
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wb"):
            pass
    else:
        path.write_bytes(b"")
    err = error_of(path, format=fmt)
    assert "empty file" in err.message


def test_header_only_file_is_truncated(tmp_path):
    err = error_of(write_bytes(tmp_path / "h.vec", b"5 3\n"))
    assert err.line == 2 and "Expected 5 vectors" in err.message


def test_undecodable_bytes_name_line_and_byte(tmp_path):
    path = write_bytes(tmp_path / "l1.vec", "2 2\nabc 1 2\ncaf\u00e9 3 4\n".encode("latin-1"))
    err = error_of(path)
    assert err.line == 3 and "0xe9" in err.message and "utf-8" in err.message


# --------------------------------------------------------------------------- bad input: binary
def test_truncated_binary_file(tmp_path, emb):
    path = tmp_path / "t.bin"
    emb.write(path)
    data = path.read_bytes()
    write_bytes(path, data[: len(data) - 10])
    err = error_of(path)
    assert err.line == 8 and "Expected 8 vectors" in err.message and "truncated" in err.message


def test_binary_with_more_records_than_the_header(tmp_path, emb):
    path = tmp_path / "m.bin"
    emb.write(path)
    data = path.read_bytes()
    write_bytes(path, b"7 5\n" + data[data.index(b"\n") + 1 :])
    err = error_of(path)
    assert err.line == 8 and "got more" in err.message


def test_binary_undecodable_word_names_its_record(tmp_path):
    records = [w + b" " + np.array([1.0, 2.0], dtype="<f4").tobytes() + b"\n" for w in (b"ok", b"caf\xe9", b"x")]
    err = error_of(write_bytes(tmp_path / "l1.bin", b"3 2\n" + b"".join(records)))
    assert err.line == 2 and "0xe9" in err.message
    assert Embeddings.read(tmp_path / "l1.bin", encoding="latin-1").words == ["ok", "café", "x"]


def test_binary_non_finite_and_bad_header(tmp_path):
    record = b"a " + np.array([1.0, np.inf], dtype="<f4").tobytes() + b"\n"
    err = error_of(write_bytes(tmp_path / "inf.bin", b"1 2\n" + record))
    assert err.line == 1 and "finite" in err.message
    err = error_of(write_bytes(tmp_path / "h.bin", b"one two\n" + record))
    assert err.line == 1 and "header" in err.message


# --------------------------------------------------------------------------- bad output
@pytest.mark.parametrize("word", ["two words", "tab\there", "", "new\nline"])
def test_words_with_whitespace_cannot_be_written(tmp_path, word):
    bad = Embeddings(["ok", word], np.ones((2, 2)))
    with pytest.raises(ValueError, match="without whitespace"):
        bad.write(tmp_path / "o.vec")
    assert list(tmp_path.iterdir()) == []


def test_non_finite_vectors_cannot_be_written(tmp_path):
    bad = Embeddings(["a", "b"], [[1.0, 2.0], [np.nan, 0.0]])
    with pytest.raises(ValueError, match="NaN or inf in the vector of 'b'"):
        bad.write(tmp_path / "o.bin")


@pytest.mark.parametrize("name", ["out.vec", "out.bin", "out.vec.gz"])
def test_failed_write_keeps_existing_file_and_leaves_no_temp_file(tmp_path, name):
    target = tmp_path / name
    target.write_bytes(b"previous content")
    n = 20_000  # several write blocks, so the bad word comes after data was written
    words = [f"w{i}" for i in range(n - 1)] + ["bad word"]
    with pytest.raises(ValueError, match="'bad word' at row 19999"):
        Embeddings(words, np.zeros((n, 2))).write(target)
    assert target.read_bytes() == b"previous content"
    assert [p.name for p in tmp_path.iterdir()] == [name]
