"""Property tests (hypothesis): file round trips and the reader against a reference parse."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from xling import Embeddings, Lexicon

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Words may hold anything but the ASCII whitespace that separates fields
# (non-ASCII spaces such as U+00A0 included).
vec_words = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=" \t\n\r\x0b\x0c"),
    min_size=1,
    max_size=10,
)


@st.composite
def embeddings(draw, max_words=12, max_dim=6, bound=None):
    words = draw(st.lists(vec_words, min_size=1, max_size=max_words, unique=True))
    dim = draw(st.integers(1, max_dim))
    values = st.floats(min_value=-bound if bound else None, max_value=bound, width=32, allow_nan=False,
                       allow_infinity=False)
    vectors = draw(arrays(np.float32, (len(words), dim), elements=values))
    return Embeddings(words, vectors)


@SETTINGS
@given(
    emb=embeddings(),
    fmt=st.sampled_from(["vec", "glove", "bin"]),
    compression=st.sampled_from(["", ".gz", ".xz", ".bz2"]),
)
def test_embeddings_round_trip_bit_exact(emb, fmt, compression):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"e.{'bin' if fmt == 'bin' else 'txt'}{compression}"
        emb.write(path, format=fmt)
        back = Embeddings.read(path, format=fmt)
    assert back.words == emb.words
    assert back.vectors.tobytes() == emb.vectors.tobytes()  # bit-exact, -0.0 and subnormals included


@SETTINGS
@given(emb=embeddings(), limit=st.integers(1, 15))
def test_limit_is_a_prefix(emb, limit):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e.vec"
        emb.write(path)
        part = Embeddings.read(path, limit=limit)
    assert part.words == emb.words[:limit]
    np.testing.assert_array_equal(part.vectors, emb.vectors[:limit])


@SETTINGS
@given(
    # Rounded to fewer digits, values near float32's maximum would overflow to inf
    # (an error), so stay below it.
    emb=embeddings(bound=2.0**126),
    precision=st.integers(1, 9),
    separator=st.sampled_from([" ", "  ", "\t", " \t"]),
    line_end=st.sampled_from(["\n", " \n", "\r\n"]),
)
def test_text_reader_equals_a_reference_parse(emb, precision, separator, line_end):
    # Hand-written layouts (any blank runs, fastText's trailing space, CRLF) must
    # read exactly like float() applied to every field.
    lines = [
        word + separator + separator.join(f"%.{precision}g" % x for x in row) + line_end
        for word, row in zip(emb.words, emb.vectors.tolist())
    ]
    expected = np.array([[float(f"%.{precision}g" % x) for x in row] for row in emb.vectors.tolist()],
                        dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e.vec"
        path.write_bytes((f"{len(emb)} {emb.dim}\n" + "".join(lines)).encode("utf-8"))
        back = Embeddings.read(path)
    assert back.words == emb.words
    np.testing.assert_array_equal(back.vectors, expected)


lexicon_words = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=8
)
# Multi-word entries ("ice cream") are fine in TSV files.
lexicon_entries = st.one_of(lexicon_words, st.builds(lambda a, b: f"{a} {b}", lexicon_words, lexicon_words))


@SETTINGS
@given(
    pairs=st.lists(st.tuples(lexicon_entries.filter(lambda w: not w.startswith("#")), lexicon_entries),
                   min_size=1, max_size=20),
    compression=st.sampled_from(["", ".gz", ".xz"]),
)
def test_lexicon_round_trip(pairs, compression):
    lex = Lexicon(pairs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"l.tsv{compression}"
        lex.write(path)
        back = Lexicon.read(path)
    assert list(back) == list(lex)
    assert {src: back[src] for src in back.sources} == {src: lex[src] for src in lex.sources}
