"""Word similarity and analogies (xling.evaluate_mono) against brute-force float64 references."""

from __future__ import annotations

import importlib.util
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import spearmanr

from xling import Embeddings, FormatError, NotEnoughDataError
from xling.cli import cli
from xling.evaluate_mono import (
    Analogies,
    WordPairs,
    analogies,
    analogy_path,
    cross_lingual_similarity,
    format_mono_table,
    read_analogies,
    read_similarity,
    word_similarity,
)


def unit(A):
    A = np.asarray(A, dtype=np.float64)
    return A / np.linalg.norm(A, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def space():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(400)]
    return Embeddings(words, rng.normal(size=(400, 16)).astype(np.float32))


# -- files ------------------------------------------------------------------------
def test_read_similarity_formats(tmp_path):
    path = tmp_path / "sim.txt"
    path.write_text("# a header\nTiger\tcat\t7.35\n\nbook paper 7.46 extra\nice cream\tdessert\t5\tnoun\n")
    pairs = read_similarity(path)
    assert pairs.name == "sim" and len(pairs) == 3
    assert pairs.words1 == ("Tiger", "book", "ice cream") and pairs.words2 == ("cat", "paper", "dessert")
    np.testing.assert_array_equal(pairs.scores, [7.35, 7.46, 5.0])


@pytest.mark.parametrize("content,line,message", [
    ("a\tb\t1\na\tb\n", 2, "Expected 'word1<TAB>word2<TAB>score', got 2"),
    ("a b 1\nx y high\n", 2, "Expected a number as the score .3rd field., got 'high'"),
    ("# c\na\tb\tnan\n", 2, "Expected a number"),
    ("\ta\t1\n", 1, "Expected 'word1"),
])
def test_malformed_similarity_lines_name_file_and_line(tmp_path, content, line, message):
    path = tmp_path / "bad.tsv"
    path.write_text(content)
    with pytest.raises(FormatError, match=rf"bad.tsv:{line}: {message}"):
        read_similarity(path)


def test_empty_similarity_file(tmp_path):
    path = tmp_path / "empty.tsv"
    path.write_text("# only a comment\n\n")
    with pytest.raises(FormatError, match=r"empty.tsv: Expected at least one"):
        read_similarity(path)


def test_read_analogies_and_its_errors(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text(": capitals\nathens greece paris france\n\n: empty\n: family\nboy girl man woman\n")
    data = read_analogies(path)
    assert [(name, len(qs)) for name, qs in data.sections] == [("capitals", 1), ("empty", 0), ("family", 1)]
    assert len(data) == 2
    for content, line, message in [
        (": s\na b c\n", 2, "Expected a question of four words 'a b c d', got 3"),
        ("a b c d\n", 1, "Expected a ': section' line before the first question"),
        (":\na b c d\n", 1, "Expected a section name"),
    ]:
        path.write_text(content)
        with pytest.raises(FormatError, match=rf"q.txt:{line}: {message}"):
            read_analogies(path)
    path.write_text(": s\n\n")
    with pytest.raises(FormatError, match="q.txt: Expected at least one analogy question"):
        read_analogies(path)


def test_shipped_questions_words():
    data = read_analogies(analogy_path())
    assert data.name == "questions-words" and len(data) == 19544 and len(data.sections) == 14
    assert data.sections[0][0] == "capital-common-countries" and len(data.sections[0][1]) == 506
    assert data.sections[0][1][0] == ("Athens", "Greece", "Baghdad", "Iraq")


# -- word similarity -------------------------------------------------------------------
def test_word_similarity_matches_scipy_and_counts_oov(space):
    rng = np.random.default_rng(1)
    i, j = rng.integers(0, 400, 120), rng.integers(0, 400, 120)
    gold = rng.normal(size=120)
    w1 = tuple(f"w{a}" for a in i) + ("nope",)
    w2 = tuple(f"w{b}" for b in j) + ("w1",)
    r = word_similarity(space, WordPairs("rand", w1, w2, np.append(gold, 3.0)))
    cos = (unit(space.vectors[i]) * unit(space.vectors[j])).sum(axis=1)
    assert r["spearman"] == pytest.approx(spearmanr(gold, cos)[0], abs=1e-9)
    assert (r["n_pairs"], r["n_evaluated"], r["n_oov"], r["oov_words"]) == (121, 120, 1, ["nope"])
    assert r["coverage"] == pytest.approx(120 / 121)


def test_word_similarity_known_answer_and_case():
    # cosines 1 > 0.8 > 0: gold in the same order gives rho 1, in reverse -1
    emb = Embeddings(["tiger", "cat", "car", "dog"], np.array([[1.0, 0], [1, 0], [0.8, 0.6], [0, 1]]))
    pairs = WordPairs("toy", ("Tiger", "tiger", "tiger"), ("cat", "car", "dog"), np.array([10.0, 8.0, 1.0]))
    assert word_similarity(emb, pairs)["spearman"] == pytest.approx(1.0)  # vocabulary without upper case: lowered
    reverse = WordPairs("toy", pairs.words1, pairs.words2, -pairs.scores)
    assert word_similarity(emb, reverse)["spearman"] == pytest.approx(-1.0)
    kept = word_similarity(emb, pairs, case="keep")
    assert (kept["n_evaluated"], kept["oov_words"]) == (2, ["Tiger"])
    with pytest.raises(ValueError, match="case"):
        word_similarity(emb, pairs, case="upper")


def test_no_coverage_is_an_error(space):
    pairs = WordPairs("none", ("a", "w1"), ("b", "zz"), np.array([1.0, 2.0]))
    with pytest.raises(NotEnoughDataError, match=r"none: Expected at least 2 word pairs with vectors, got 0 of 2"):
        word_similarity(space, pairs)
    data = Analogies("q", (("s", (("a", "b", "c", "d"),)),))
    with pytest.raises(NotEnoughDataError, match=r"q: Expected questions with all four words .* got none of 1"):
        analogies(space, data, device="cpu")


def test_cross_lingual_similarity_known_answer():
    # target words in the shared space; the gold scores are the cosines themselves
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 8))
    src = Embeddings([f"s{i}" for i in range(50)], X)
    tgt = Embeddings([f"t{i}" for i in range(50)], X + 0.5 * rng.normal(size=X.shape))
    i, j = rng.integers(0, 50, 80), rng.integers(0, 50, 80)
    gold = (unit(X[i]) * unit(tgt.vectors[j])).sum(axis=1)
    r = cross_lingual_similarity(src, tgt, WordPairs("xx", tuple(f"s{a}" for a in i), tuple(f"t{b}" for b in j), gold))
    assert r["spearman"] == pytest.approx(1.0) and r["n_evaluated"] == 80
    # the words are looked up on their own side: swapped sides cover nothing
    swapped = WordPairs("yy", tuple(f"t{b}" for b in j), tuple(f"s{a}" for a in i), gold)
    with pytest.raises(NotEnoughDataError, match="got 0 of 80"):
        cross_lingual_similarity(src, tgt, swapped)
    with pytest.raises(ValueError, match="one dimension"):
        cross_lingual_similarity(src, Embeddings(["t0"], np.ones((1, 3))), swapped)


# -- analogies ----------------------------------------------------------------------
def ref_analogy(V, questions, n_vocab):
    """Brute force float64: the best answers by 3CosAdd and 3CosMul, the question words excluded."""
    U = unit(V[:n_vocab])
    out = {"3cosadd": [], "3cosmul": []}
    for a, b, c, _ in questions:
        ca, cb, cc = U @ U[a], U @ U[b], U @ U[c]
        add = cb - ca + cc
        mul = ((cb + 1) / 2) * ((cc + 1) / 2) / ((ca + 1) / 2 + 1e-3)
        for name, score in (("3cosadd", add), ("3cosmul", mul)):
            score = score.copy()
            score[[a, b, c]] = -np.inf
            out[name].append(int(score.argmax()))
    return {k: np.array(v) for k, v in out.items()}


def test_analogies_match_brute_force_with_restricted_vocab(space):
    rng = np.random.default_rng(3)
    # relation vectors make some questions answerable; the rest are random
    V = space.vectors.astype(np.float64).copy()
    rel = rng.normal(size=16) * 2
    V[200:260] = V[100:160] + rel + 0.3 * rng.normal(size=(60, 16))
    emb = Embeddings(space.words, V.astype(np.float32))
    pairs = [(100 + i, 200 + i) for i in range(60)]
    qs = [(*pairs[i], *pairs[j]) for i, j in rng.integers(0, 60, (150, 2)) if i != j]
    qs += [tuple(rng.integers(0, 400, 4)) for _ in range(50)]
    qs.append((1, 2, 3, 399))  # the answer lies outside the first 300 words: not evaluated
    words = [tuple(f"w{x}" for x in q) for q in qs]
    data = Analogies("syn", (("relation", tuple(words[:-51])), ("random", tuple(words[-51:]))))
    r = analogies(emb, data, restrict_vocab=300, batch_size=17, tile_size=64, device="cpu")
    covered = [q for q in qs if max(q) < 300]
    ref = ref_analogy(V, covered, 300)
    gold = np.array([q[3] for q in covered])
    for m in ("3cosadd", "3cosmul"):
        assert r["n_correct"][m] == int((ref[m] == gold).sum())
        assert r[m] == pytest.approx((ref[m] == gold).mean())
    assert r["3cosadd"] > 0.5  # the relation questions are answerable
    assert (r["n_questions"], r["n_evaluated"], r["restrict_vocab"]) == (len(qs), len(covered), 300)
    rel_section, rand_section = r["sections"]
    assert rel_section["n_evaluated"] + rand_section["n_evaluated"] == r["n_evaluated"]
    assert rel_section["3cosadd"] > 0.6 > 0.2 > rand_section["3cosadd"]
    # 3CosAdd alone takes the one-product path and gives the same answers
    alone = analogies(emb, data, methods=["3cosadd"], restrict_vocab=300, device="cpu")
    assert alone["n_correct"]["3cosadd"] == r["n_correct"]["3cosadd"] and "3cosmul" not in alone


def test_analogy_known_case_excludes_question_words():
    # without the exclusion "king" itself would be the best answer to man:woman::king:?
    words = ["man", "woman", "king", "queen", "apple"]
    V = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [0, -1, 0.2]], dtype=float)
    data = Analogies("toy", (("royal", (("man", "woman", "king", "queen"),)),))
    r = analogies(Embeddings(words, V), data, device="cpu")
    assert r["3cosadd"] == r["3cosmul"] == 1.0
    assert r["sections"][0] == {"section": "royal", "n_questions": 1, "n_evaluated": 1, "coverage": 1.0,
                                "3cosadd": 1.0, "3cosmul": 1.0, "n_correct": {"3cosadd": 1, "3cosmul": 1}}
    with pytest.raises(ValueError, match="methods"):
        analogies(Embeddings(words, V), data, methods=["3cosavg"])
    with pytest.raises(ValueError, match="restrict_vocab"):
        analogies(Embeddings(words, V), data, restrict_vocab=0)


def test_format_mono_table(space):
    sim = {"name": "ws", "spearman": 0.5, "coverage": 0.9, "n_evaluated": 9, "n_pairs": 10}
    ana = {"name": "q", "3cosadd": 0.25, "n_evaluated": 4, "n_questions": 8, "coverage": 0.5,
           "sections": [{"section": "s", "3cosadd": None, "n_evaluated": 0, "n_questions": 0, "coverage": None}]}
    table = format_mono_table({"similarity": [sim], "analogies": [ana]})
    assert "| ws | Spearman ρ x 100 | 50.00 | 90.0% (9/10) |" in table
    assert "| q | 3cosadd accuracy % | 25.00 | 50.0% (4/8) |" in table
    assert "| q: s | 3cosadd accuracy % | n/a | (0/0) |" in table


# -- command line ----------------------------------------------------------------------
@pytest.fixture()
def files(tmp_path):
    emb = Embeddings(["man", "woman", "king", "queen", "apple", "pear"],
                     np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [0, -1, 0.2], [0.1, -1, 0.3]], dtype=float))
    emb.write(tmp_path / "en.vec")
    (tmp_path / "sim.tsv").write_text("man\twoman\t8\napple\tpear\t9\nman\tapple\t1\nking\tpear\t0.5\nx\ty\t3\n")
    (tmp_path / "q.txt").write_text(": royal\nman woman king queen\nman woman apple zzz\n")
    return tmp_path


def test_cli_eval_mono_json_and_table(files):
    runner = CliRunner()
    out = runner.invoke(cli, ["eval-mono", str(files / "en.vec"), "--similarity", str(files / "sim.tsv"),
                              "--analogies", str(files / "q.txt"), "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    sim, = result["similarity"]
    assert (sim["name"], sim["n_evaluated"], sim["n_oov"]) == ("sim", 4, 1)
    ana, = result["analogies"]
    assert (ana["3cosadd"], ana["n_evaluated"], ana["n_questions"]) == (1.0, 1, 2)
    table = runner.invoke(cli, ["eval-mono", str(files / "en.vec"), "--similarity", str(files / "sim.tsv")])
    assert table.exit_code == 0 and "| sim | Spearman ρ x 100 |" in table.stdout


def test_cli_eval_mono_errors(files):
    runner = CliRunner()
    (files / "bad.tsv").write_text("man\twoman\t8\nman woman\n")
    out = runner.invoke(cli, ["eval-mono", str(files / "en.vec"), "--similarity", str(files / "bad.tsv")])
    assert out.exit_code == 1 and "bad.tsv:2: Expected 'word1<TAB>word2<TAB>score'" in out.output
    assert "Traceback" not in out.output
    (files / "oov.tsv").write_text("a\tb\t1\nc\td\t2\n")
    out = runner.invoke(cli, ["eval-mono", str(files / "en.vec"), "--similarity", str(files / "oov.tsv")])
    assert out.exit_code == 1 and "oov: Expected at least 2 word pairs with vectors, got 0 of 2" in out.output
    out = runner.invoke(cli, ["eval-mono", str(files / "en.vec")])
    assert out.exit_code == 2 and "--similarity" in out.output  # nothing to evaluate


def test_cli_eval_xsim(files):
    (files / "es.vec").write_text("3 3\nhombre 1 0 0\nmujer 1 1 0\nrey 1 0 1\n")
    (files / "en-es.tsv").write_text("man\thombre\t4\nman\tmujer\t2\nking\tmujer\t1\nman\trey\t2.5\n")
    out = CliRunner().invoke(cli, ["eval-xsim", str(files / "en.vec"), str(files / "es.vec"),
                                   str(files / "en-es.tsv"), "--json"])
    assert out.exit_code == 0, out.output
    r, = json.loads(out.stdout)["similarity"]
    # cosines 1, 0.71, 0.5, 0.71 (ranks 4, 2.5, 1, 2.5) against gold ranks 4, 2, 1, 3: rho = 4.5 / sqrt(4.5 * 5)
    assert r["n_evaluated"] == 4 and r["spearman"] == pytest.approx(3 / np.sqrt(10))


# -- the fetch script's converters (no network) ----------------------------------------------
def _script():
    path = Path(__file__).resolve().parents[1] / "scripts" / "fetch_eval_data.py"
    spec = importlib.util.spec_from_file_location("fetch_eval_data", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _zip(files: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buffer.getvalue()


def test_fetch_script_writes_what_read_similarity_reads(tmp_path):
    script = _script()
    texts = {
        "ws.tsv": script.wordsim353(_zip({"combined.tab": "Word 1\tWord 2\tHuman (mean)\nlove\tsex\t6.77\n"})),
        "sl.tsv": script.simlex999(_zip({"SimLex-999/SimLex-999.txt":
                                         "word1\tword2\tPOS\tSimLex999\tconc(w1)\nold\tnew\tA\t1.58\t2.72\n"})),
    }
    archive = {}
    for pair in script.SEMEVAL_PAIRS:
        archive[f"SemEval17-Task2/test/subtask2-crosslingual/data/{pair}.test.data.txt"] = "a\tb\nc d\te\n"
        archive[f"SemEval17-Task2/test/subtask2-crosslingual/keys/{pair}.test.gold.txt"] = "3.5\n0.25\n"
    texts["xs.tsv"] = script.semeval_pairs(_zip(archive))["en-es"]
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
    assert read_similarity(tmp_path / "ws.tsv").words2 == ("sex",)
    assert read_similarity(tmp_path / "sl.tsv").scores.tolist() == [1.58]
    xs = read_similarity(tmp_path / "xs.tsv")
    assert xs.words1 == ("a", "c d") and xs.scores.tolist() == [3.5, 0.25]
