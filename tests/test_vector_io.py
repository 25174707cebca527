"""Vector files on the compiled path and on the numpy/Python path: same bytes, same bits, same errors.

The compiled parser and formatters (xling/_kernels/vector_io.cpp) only
recognise the common layout: every unusual block must reach the line-by-line
reference parser, so bad input raises the same FormatError, naming the same
line, with or without them. The references here are plain Python: ``%``
formatting for the writer, ``float()`` rounded to float32 for the reader.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xling._kernels as kernels
from xling import Embeddings, FormatError, _vector_io
from xling.exceptions import InputError

PATHS = ("compiled", "python")


@pytest.fixture(scope="module")
def kernel():
    k = kernels.load_vector_io()
    if k is None:
        pytest.skip("this build of xling lacks the compiled vector-file kernels (see CMakeLists.txt)")
    return k


@pytest.fixture
def use_path(monkeypatch, request):
    """``use_path("python")`` makes the readers and writers run without the compiled kernels."""

    def use(name: str) -> None:
        if name == "compiled":
            request.getfixturevalue("kernel")
            monkeypatch.setattr(_vector_io, "load_vector_io", kernels.load_vector_io)
        else:
            monkeypatch.setattr(_vector_io, "load_vector_io", lambda: None)

    return use


def reference_text(words, rows: np.ndarray, precision: int) -> bytes:
    """What the writer wrote before the compiled formatter: Python's ``%`` on each value."""
    line = "%s" + f" %.{precision}g" * rows.shape[1] + "\n"
    return "".join(line % (w, *r) for w, r in zip(words, rows.tolist())).encode("utf-8")


def reference_values(tokens) -> np.ndarray:
    """What the reference parser stores: the nearest double, rounded to float32 (inf beyond its range)."""
    with np.errstate(over="ignore"):
        return np.array([float(t) for t in tokens], dtype=np.float64).astype(np.float32)


def random_floats(rng, shape) -> np.ndarray:
    """Finite float32 values from uniform bit patterns: every exponent, subnormals, both zeros."""
    bits = rng.integers(0, 2**32, size=shape, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    return np.where(np.isfinite(values), values, np.float32(1.5))


EDGE_VALUES = np.array(
    [0.0, -0.0, 1e-5, -1e-5, 1e-4, 9.9999997e-05, 0.001, 0.5, 2.5, -9.5, 0.15, 1 / 3, 1.0, 10.0, 100000.0, 1e6,
     123456789.0, 1e9, 2.0**24, 2.0**24 + 2, 1e16, 1e17, 1e-45, 1.1754942e-38, 1.17549435e-38, 3.4028235e38,
     -3.4028235e38, 6.1035156e-05, 0.099999994, 0.1],
    dtype=np.float32,
)


def outcome(path, **kw):
    """Words and vector bits of a read, or the error's message and line."""
    try:
        emb = Embeddings.read(path, **kw)
    except FormatError as exc:
        return ("error", exc.message, exc.line)
    return ("ok", emb.words, emb.vectors.view(np.uint32).tolist())


# --------------------------------------------------------------------------- writer
@pytest.mark.parametrize("precision", range(1, 18))
def test_formatter_writes_what_percent_g_writes(kernel, precision):
    rng = np.random.default_rng(precision)
    rows = np.concatenate([random_floats(rng, (120, 25)), np.resize(EDGE_VALUES, (6, 25))])
    words = [f"w{i}ñ" for i in range(len(rows))]
    assert kernel.format_rows("\n".join(words).encode(), rows, precision) == reference_text(words, rows, precision)


def test_formatter_on_typical_embedding_values_and_threads(kernel):
    rng = np.random.default_rng(7)
    rows = (rng.standard_normal((3000, 100)) * 0.1).astype(np.float32)
    words = [f"word{i}" for i in range(len(rows))]
    blob = "\n".join(words).encode()
    one = kernel._module.format_text_rows(blob, rows, 9, 1)
    assert one == reference_text(words, rows, 9)
    assert kernel._module.format_text_rows(blob, rows, 9, 3) == one


@pytest.mark.parametrize("name,fmt", [("e.vec", "vec"), ("e.txt", "glove"), ("e.bin", "bin")])
def test_files_written_with_and_without_the_kernels_are_identical(tmp_path, use_path, name, fmt):
    rng = np.random.default_rng(2)
    emb = Embeddings([f"w{i}\u00e9\u00a0x" for i in range(300)], random_floats(rng, (300, 12)))
    written = {}
    for path_kind in PATHS:
        use_path(path_kind)
        out = tmp_path / path_kind / name
        out.parent.mkdir()
        emb.write(out, format=fmt, precision=None if fmt == "bin" else 9)
        written[path_kind] = out.read_bytes()
    assert written["compiled"] == written["python"]


@pytest.mark.parametrize("path_kind", PATHS)
@pytest.mark.parametrize("name,precision", [("r.vec", 9), ("r.vec", 17), ("r.bin", None)])
def test_round_trip_is_bit_exact(tmp_path, use_path, path_kind, name, precision):
    use_path(path_kind)
    rng = np.random.default_rng(4)
    vectors = np.concatenate([random_floats(rng, (400, 30)), np.resize(EDGE_VALUES, (2, 30))])
    emb = Embeddings(["猫", "a\u00a0b", "-0", "1e5"] + [f"w{i}" for i in range(len(vectors) - 4)], vectors)
    emb.write(tmp_path / name, precision=precision)
    back = Embeddings.read(tmp_path / name)
    assert back.words == emb.words
    np.testing.assert_array_equal(back.vectors.view(np.uint32), emb.vectors.view(np.uint32))


@pytest.mark.parametrize("path_kind", PATHS)
def test_unwritable_rows_are_refused_on_both_paths(tmp_path, use_path, path_kind):
    use_path(path_kind)
    with pytest.raises(InputError, match="without whitespace"):
        Embeddings(["a", "b\nc"], np.ones((2, 3), dtype=np.float32)).write(tmp_path / "w.vec")
    with pytest.raises(InputError, match="finite"):
        Embeddings(["a", "b"], np.array([[1, 2], [np.inf, 0]], dtype=np.float32)).write(tmp_path / "w.bin")


# --------------------------------------------------------------------------- reader
def typical_tokens(rng) -> list[str]:
    """Numbers as writers print them: %g, %e and %f at several precisions, and repr."""
    values = np.concatenate([random_floats(rng, 300), (rng.standard_normal(300) * 0.1).astype(np.float32),
                             EDGE_VALUES]).astype(np.float64)
    tokens = []
    for v in values.tolist():
        p = int(rng.integers(1, 18))
        tokens += [f"%.{p}g" % v, f"%.{p}e" % v, repr(v)]
        if abs(v) < 1e12:
            tokens.append(f"%.{p}f" % v)
    # rounding to fewer digits can leave float32's range ("3.403e+38"): the reference parser reports those
    return [t for t, v in zip(tokens, reference_values(tokens)) if np.isfinite(v)]


# Above the half-way point of 1 and 1 + 2**-23 only beyond double precision: the
# nearest double is that point, which rounds to 1 (even); straight to float32 it is 1 + 2**-23.
DOUBLE_ROUNDING = "1.00000005960464477539062500001"
EDGE_TOKENS = [
    "-0", "0", "+1.5", ".5", "5.", "-.5", "1e5", "1E5", "1e+05", "1e-05", "00012", "5.e3", "-0.0e-0",
    "3.4028235e38", "3.4028235677973362e38",  # just below half-way to 2**128: float32's largest value
    "1e-45", "7.1e-46", "1e-50", "1e-300",  # float32 subnormal, rounds up to it, to zero
    DOUBLE_ROUNDING,
    "0." + "1" * 500, "1" + "0" * 400 + "e-400", "123456789012345678901234567890",
    "0.000000000000000000000000000000000000000000000000000000000000000000000000000000000001",
]


def test_parser_reads_every_number_as_the_reference_parser(kernel):
    rng = np.random.default_rng(5)
    tokens = typical_tokens(rng) + EDGE_TOKENS
    block = "".join(f"w{i} {t}\n" for i, t in enumerate(tokens)).encode()
    rows = np.empty((len(tokens), 1), dtype=np.float32)
    words = kernel.parse_rows(block, rows)
    assert words is not None, "a plain decimal number was left to the reference parser"
    assert words.decode().split(" ")[:-1] == [f"w{i}" for i in range(len(tokens))]
    np.testing.assert_array_equal(rows[:, 0].view(np.uint32), reference_values(tokens).view(np.uint32))
    assert rows[tokens.index(DOUBLE_ROUNDING), 0] == np.float32(1.0)


UNUSUAL_LINES = [
    b"a\t1 2", b"a 1  2", b" a 1 2", b"a 1 2  ", b"a 1 2\r\r", b"a 1\r2", b"a 1 2\x0b", b"a\x00 1 2",
    b"a +-1 2", b"a ++1 2", b"a 1_0 2", b"a 0x1p3 2", b"a 1e 2", b"a --1 2", b"a 1.2.3 2", b"a . 2", b"a - 2",
    b"a 1 2 3", b"a 1", b"a", b"", b"\r", b"a 1 inf", b"a -inf 2", b"a nan 2", b"a infinity 2", b"a nan(1) 2",
    b"a 1e39 2", b"a -3.4028235677973366e38 2", b"a 1e400 2", b"a 1e-400 2", b"a 1,5 2", b"a \xd9\xa1 2", b"\xff 1 2",
]


@pytest.mark.parametrize("line", UNUSUAL_LINES)
def test_unusual_lines_are_left_to_the_reference_parser(kernel, line):
    block = b"ok 1 2\n" + line + b"\nok2 3 4\n"
    rows = np.empty((3, 2), dtype=np.float32)
    words = kernel.parse_rows(block, rows)
    if line == b"\xff 1 2":  # bytes are the caller's to decode (and to refuse)
        assert words == b"ok \xff ok2 "
    else:
        assert words is None


@pytest.mark.parametrize("line", UNUSUAL_LINES + [b"ok 1 2 ", b"ok 1 2\r", b"ok 1 2 \r", b"caf\xc3\xa9 1 2"])
@pytest.mark.parametrize("fmt", ["vec", "glove"])
def test_both_readers_accept_or_refuse_alike_naming_the_line(tmp_path, use_path, line, fmt):
    header = b"3 2\n" if fmt == "vec" else b""
    path = tmp_path / f"u.{'vec' if fmt == 'vec' else 'txt'}"
    path.write_bytes(header + b"x 1 2\n" + line + b"\ny 3 4\n")
    results = {}
    for path_kind in PATHS:
        use_path(path_kind)
        results[path_kind] = outcome(path, format=fmt)
    assert results["compiled"] == results["python"]


def test_a_bad_line_in_any_thread_part_rejects_the_block(kernel):
    rng = np.random.default_rng(6)
    rows = (rng.standard_normal((20_000, 50)) * 0.1).astype(np.float32)
    words = [f"w{i}" for i in range(len(rows))]
    block = reference_text(words, rows, 9)
    assert len(block) > 4 << 20  # large enough for several threads
    for threads in (1, 2, 3):
        out = np.empty_like(rows)
        assert kernel._module.parse_text_rows(block, out, threads) == " ".join(words).encode() + b" "
        np.testing.assert_array_equal(out.view(np.uint32), rows.view(np.uint32))
    bad = block.replace(b"\nw19000 ", b"\nw19000  ")
    for threads in (1, 2, 3):
        assert kernel._module.parse_text_rows(bad, np.empty_like(rows), threads) is None


@pytest.mark.parametrize("chunk_bytes", [64, 1000])
def test_chunk_seams_and_lines_longer_than_a_chunk(tmp_path, monkeypatch, chunk_bytes):
    monkeypatch.setattr(_vector_io, "CHUNK_BYTES", chunk_bytes)  # rows are ~130 bytes
    rng = np.random.default_rng(9)
    emb = Embeddings([f"w{i}" for i in range(300)], rng.standard_normal((300, 12)).astype(np.float32))
    emb.write(tmp_path / "s.vec")
    for limit in (None, 123):
        back = Embeddings.read(tmp_path / "s.vec", limit=limit)
        assert back.words == emb.words[:limit]
        np.testing.assert_array_equal(back.vectors, emb.vectors[:limit])


@pytest.mark.parametrize("path_kind", PATHS)
def test_error_after_the_first_chunk_names_its_line(tmp_path, monkeypatch, use_path, path_kind):
    use_path(path_kind)
    monkeypatch.setattr(_vector_io, "CHUNK_BYTES", 1 << 12)
    rng = np.random.default_rng(8)
    emb = Embeddings([f"w{i}" for i in range(2000)], rng.standard_normal((2000, 8)).astype(np.float32))
    emb.write(tmp_path / "c.vec")
    lines = (tmp_path / "c.vec").read_bytes().split(b"\n")
    word, *values = lines[1500].split(b" ")  # line 1,501 (the header is line 1)
    lines[1500] = b" ".join([word, b"1e39", *values[1:]])
    (tmp_path / "c.vec").write_bytes(b"\n".join(lines))
    kind, message, line = outcome(tmp_path / "c.vec")
    assert kind == "error" and line == 1501 and "got inf as value 1" in message


def test_kernel_arguments_are_checked(kernel):
    with pytest.raises(ValueError, match="one per line"):
        kernel.parse_rows(b"a 1\nb 2\n", np.empty((3, 1), dtype=np.float32))
    with pytest.raises(ValueError, match="ending in a newline"):
        kernel.parse_rows(b"a 1", np.empty((1, 1), dtype=np.float32))
    with pytest.raises(ValueError, match="2 words joined by newlines, got 1"):
        kernel.format_rows(b"a", np.zeros((2, 1), dtype=np.float32), 9)
    with pytest.raises(TypeError):  # no silent copy to float32: the kernel writes into rows
        kernel.parse_rows(b"a 1\n", np.empty((1, 1), dtype=np.float64))


def test_a_build_without_the_kernels_warns_once_and_falls_back(monkeypatch):
    class Build:  # a module built where the C++ library lacked floating-point charconv
        ISA = "portable"

    monkeypatch.setitem(kernels._state, "module", Build())
    monkeypatch.setattr(kernels, "_warned", set())
    with pytest.warns(RuntimeWarning, match="vector_io kernel is unavailable: this build lacks it"):
        assert kernels.load_vector_io() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kernels.load_vector_io() is None
