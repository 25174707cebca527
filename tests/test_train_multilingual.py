"""Multilingual training: multiCluster's translation clusters, its vectors, bad input, the CLI.

The synthetic corpora have a known answer: three languages are random walks
over one graph of 100 concepts (each concept has 3 successors), each language
writing concept c as its own word ("en7", "de7", "fr7"). The lexicons give the
translations of the even concepts only; the odd ones are in no cluster and
must find their translations through their contexts (the clustered even
concepts, which all languages share).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from xling import Embeddings, Lexicon, NotEnoughDataError
from xling.cli import cli
from xling.evaluate import bli
from xling.exceptions import InputError, InputTypeError
from xling.train import MULTILINGUAL_TRAINERS, MultiCluster
from xling.train.multicluster import translation_clusters
from xling.workflow import train_multilingual

N_CONCEPTS = 100
SEED_CONCEPTS = range(0, N_CONCEPTS, 2)
HELD_OUT = range(1, N_CONCEPTS, 2)


def random_walks(n_sentences=500, length=12, degree=3, seed=0) -> dict[str, list[list[str]]]:
    rng = np.random.default_rng(seed)
    successors = np.array([rng.choice(np.delete(np.arange(N_CONCEPTS), c), size=degree, replace=False)
                           for c in range(N_CONCEPTS)])
    corpora = {}
    for k, lang in enumerate(("en", "de", "fr")):
        walk = np.random.default_rng(seed + 1 + k)  # each language its own sentences
        sentences = []
        for _ in range(n_sentences):
            c, sentence = walk.integers(N_CONCEPTS), []
            for _ in range(length):
                sentence.append(f"{lang}{c}")
                c = successors[c, walk.integers(degree)]
            sentences.append(sentence)
        corpora[lang] = sentences
    return corpora


def seed_lexicons() -> dict:
    return {(a, b): Lexicon((f"{a}{c}", f"{b}{c}") for c in SEED_CONCEPTS) for a, b in (("en", "de"), ("en", "fr"))}


def small(**extra) -> MultiCluster:
    return MultiCluster(**{**dict(vector_size=16, window=2, min_count=1, epochs=5, sample=0, workers=1, random_state=0),
                           **extra})


@pytest.fixture(scope="module")
def fitted():
    return small().fit(random_walks(), seed_lexicons())


# --------------------------------------------------------------------------- the translation graph
def test_clusters_are_the_connected_components_within_the_vocabularies():
    vocab = {"en": ["dog", "bank", "shore", "cat"], "de": ["hund", "bank", "ufer", "katze"], "fr": ["chien", "banque", "rive"]}
    lexicons = {
        ("en", "de"): Lexicon([("dog", "hund"), ("bank", "bank"), ("shore", "ufer"), ("cat", "kater")]),  # kater: OOV
        ("de", "fr"): Lexicon([("hund", "chien"), ("bank", "banque"), ("ufer", "rive")]),
        ("en", "fr"): Lexicon([("bank", "rive"), ("mouse", "souris")]),  # bank-rive joins the two bank clusters
    }
    result = translation_clusters(vocab, lexicons)
    assert result.clusters == [
        [("en", "dog"), ("de", "hund"), ("fr", "chien")],
        [("en", "bank"), ("en", "shore"), ("de", "bank"), ("de", "ufer"), ("fr", "banque"), ("fr", "rive")],
    ]
    assert result.cluster_of[("fr", "rive")] == 1 and ("en", "cat") not in result.cluster_of
    assert (result.n_edges, result.n_edges_oov, result.n_edges_skipped) == (7, 2, 0)
    # capped: the frequent pairs are joined first, and the union that would exceed 4 words is left out
    capped = translation_clusters(vocab, lexicons, max_cluster_size=4)
    assert capped.clusters == [
        [("en", "dog"), ("de", "hund"), ("fr", "chien")],
        [("en", "bank"), ("de", "bank"), ("fr", "banque"), ("fr", "rive")],
        [("en", "shore"), ("de", "ufer")],
    ]
    assert capped.n_edges_skipped == 1 and max(len(c) for c in capped.clusters) <= 4
    assert capped.summary()["clustered_words"] == {"en": 3, "de": 3, "fr": 3}


def test_a_bad_cluster_cap_is_refused():
    for bad in (1, 0, 2.5, True):
        with pytest.raises(InputError, match="max_cluster_size"):
            translation_clusters({"en": ["a"], "de": ["b"]}, {("en", "de"): Lexicon([("a", "b")])}, max_cluster_size=bad)


# --------------------------------------------------------------------------- the vectors
def test_translations_held_out_of_the_lexicons_are_found_through_their_contexts(fitted):
    emb = fitted.embeddings_
    assert sorted(emb) == ["de", "en", "fr"] and all(len(e) == N_CONCEPTS and e.dim == 16 for e in emb.values())
    # chance is 1 in 100; the odd concepts are in no cluster and only share contexts
    for src, tgt in (("de", "fr"), ("en", "de"), ("fr", "en")):
        test = Lexicon((f"{src}{c}", f"{tgt}{c}") for c in HELD_OUT)
        assert bli(emb[src], emb[tgt], test, method="csls", ks=(1,))["p@1"] >= 0.6, (src, tgt)
        assert bli(emb[src], emb[tgt], test, method="nn", ks=(5,))["p@5"] >= 0.9, (src, tgt)
    # words of one cluster share one vector, across languages that no lexicon pairs directly (de, fr)
    np.testing.assert_array_equal(emb["de"]["de4"], emb["fr"]["fr4"])
    assert not np.array_equal(emb["de"]["de5"], emb["fr"]["fr5"])
    assert len(fitted.clusters_.clusters) == len(SEED_CONCEPTS)
    assert fitted.model_.vocabulary_.words.count(":0") == 1 and "de:de5" in fitted.model_.embeddings_


def test_the_lexicons_alone_link_the_languages():
    # control: the same text without the lexicon of fr links nothing of fr, so held-out de-fr is at chance
    model = small().fit(random_walks(), {("en", "de"): seed_lexicons()[("en", "de")]})
    test = Lexicon((f"de{c}", f"fr{c}") for c in HELD_OUT)
    assert bli(model.embeddings_["de"], model.embeddings_["fr"], test, method="csls", ks=(1,))["p@1"] < 0.15


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("corpora, lexicons, error, message", [
    ({"en": [["a"]], "de": [["b"]]}, {("en", "xx"): Lexicon([("a", "c")])}, InputError,
     "Lexicon en-xx names 'xx', which has no corpus; languages with a corpus: en, de"),
    ({"en": [["a"]]}, {}, InputError, "at least two languages"),
    ({"en": [["a"]], "de": [["b"]]}, {}, InputError, "at least one lexicon"),
    ({"en": [["a"]], "de": [["b"]]}, {"en-de": Lexicon([("a", "b")])}, InputError, "keys \\(lang_a, lang_b\\)"),
    ({"en": [["a"]], "de": [["b"]]}, {("en", "en"): Lexicon([("a", "b")])}, InputError, "two distinct languages"),
    ({"en": [["a"]], "de": [["b"]]}, {("en", "de"): {"a": "b"}}, InputTypeError, "en-de to be an xling.Lexicon"),
    ({"en": [["a"]], "de": "de.txt"}, {("en", "de"): Lexicon([("a", "b")])}, InputTypeError, "corpus of 'de'"),
    ({"en": [["a"]], "de": (s for s in [["b"]])}, {("en", "de"): Lexicon([("a", "b")])}, InputTypeError,
     "restartable corpus for 'de'"),
    ({"en": [["a"]], "d:e": [["b"]]}, {("en", "d:e"): Lexicon([("a", "b")])}, InputError, "without ':'"),
    ([["a"]], {}, InputTypeError, "corpora to be a dict"),
])
def test_bad_input_gives_one_clear_error(corpora, lexicons, error, message):
    with pytest.raises(error, match=message):
        small().fit(corpora, lexicons)


def test_an_empty_corpus_or_lexicons_matching_no_word_are_named():
    with pytest.raises(NotEnoughDataError, match="The corpus of 'de': Expected at least one word"):
        small().fit({"en": [["a", "b"]], "de": []}, {("en", "de"): Lexicon([("a", "b")])})
    with pytest.raises(NotEnoughDataError, match="share case"):
        small().fit({"en": [["a"]], "de": [["b"]]}, {("en", "de"): Lexicon([("A", "B")])})
    with pytest.raises(InputError, match="max_cluster_size"):
        small(max_cluster_size=1).fit({"en": [["a"]], "de": [["b"]]}, {("en", "de"): Lexicon([("a", "b")])})


# --------------------------------------------------------------------------- workflow and CLI
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi")
    for lang, sentences in random_walks(n_sentences=400).items():  # every concept occurs in every language
        (root / f"{lang}.txt").write_text("\n".join(" ".join(s) for s in sentences) + "\n", encoding="utf-8")
    for (a, b), lexicon in seed_lexicons().items():
        lexicon.write(root / f"{a}-{b}.tsv")
    return root


def run(*args, ok: bool = True):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_cli_trains_every_language_into_one_folder(files, tmp_path):
    out = tmp_path / "multi"
    run("train-multi", "-m", "multicluster", "--mono", f"en={files / 'en.txt'}", "--mono", f"de={files / 'de.txt'}",
        "--mono", f"fr={files / 'fr.txt'}", "--lexicon", f"en-de={files / 'en-de.tsv'}",
        "--lexicon", f"en-fr={files / 'en-fr.tsv'}", "--out-dir", out, "--dim", 8, "--min-count", 1, "--epochs", 2,
        "--threads", 1, "-p", "max_cluster_size=3")
    assert sorted(p.name for p in out.iterdir()) == ["de.vec", "en.vec", "fr.vec", "report.json"]
    report = json.loads((out / "report.json").read_text())
    assert (report["kind"], report["method"], report["files"]) == ("train-multi", "multicluster",
                                                                    ["en.vec", "de.vec", "fr.vec", "report.json"])
    assert report["settings"]["max_cluster_size"] == 3 and report["settings"]["vector_size"] == 8
    assert report["clusters"]["n_clusters"] == len(SEED_CONCEPTS) and report["clusters"]["largest_cluster"] == 3
    assert report["lexicons"] == {"en-de": str(files / "en-de.tsv"), "en-fr": str(files / "en-fr.tsv")}
    assert [h["step"] for h in report["history"]] == [1, 2]
    de, fr = Embeddings.read(out / "de.vec"), Embeddings.read(out / "fr.vec")
    assert len(de) == N_CONCEPTS and de.dim == 8
    np.testing.assert_allclose(de["de0"], fr["fr0"])  # one cluster, one vector


def test_cli_refuses_bad_pairs_before_reading_anything(files, tmp_path):
    out = tmp_path / "o"
    base = ["train-multi", "-m", "multicluster", "--mono", f"en={files / 'en.txt'}", "--mono", f"de={files / 'de.txt'}",
            "--out-dir", out]
    result = run(*base, "--lexicon", f"en-fr={files / 'en-fr.tsv'}", ok=False)
    assert result.exit_code == 1 and "Lexicon en-fr names 'fr', which has no corpus" in result.output
    result = run(*base, "--lexicon", f"en_de={files / 'en-de.tsv'}", ok=False)
    assert result.exit_code == 2 and "Expected SRC-TGT=PATH, got 'en_de=" in result.output
    result = run(*base, "--lexicon", f"en-de={files / 'missing.tsv'}", ok=False)
    assert result.exit_code == 2 and "missing.tsv: No such file" in result.output
    result = run(*base[:5], "--mono", f"en={files / 'de.txt'}", "--lexicon", f"en-de={files / 'en-de.tsv'}",
                 "--out-dir", out, ok=False)
    assert result.exit_code == 2 and "en given twice" in result.output
    assert not out.exists()


def test_workflow_checks_the_outputs_first_and_lower_cases_lexicons(files, tmp_path):
    (tmp_path / "en.vec").mkdir()
    with pytest.raises(Exception, match="en.vec: Expected an output file, got a folder"):
        train_multilingual(small(), {"en": files / "en.txt", "de": files / "de.txt"},
                           {("en", "de"): files / "en-de.tsv"}, out_dir=tmp_path)
    upper = tmp_path / "upper.tsv"
    Lexicon((s.upper(), t.upper()) for s, t in seed_lexicons()[("en", "de")]).write(upper)
    result = train_multilingual(small(epochs=1), {"en": files / "en.txt", "de": files / "de.txt"}, {("en", "de"): upper})
    assert result.report["clusters"]["n_clusters"] == len(SEED_CONCEPTS)  # "EN0"-"DE0" matched the text's "en0"-"de0"
    assert sorted(result.embeddings) == ["de", "en"] and result.trainer.embeddings_ is not None


def test_methods_lists_the_multilingual_trainers_with_every_setting_explained():
    catalogue = json.loads(run("methods", "--json").output)
    assert set(catalogue["train-multi"]) == set(MULTILINGUAL_TRAINERS)
    settings = catalogue["train-multi"]["multicluster"]["settings"]
    assert set(settings) == set(MultiCluster().get_params()) - {"callbacks"}
    assert all(len(s["help"]) >= 8 for s in settings.values()), settings
    assert settings["max_cluster_size"]["default"] == 16
