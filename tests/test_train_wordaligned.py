"""BiSkip, alignment projection (Guo et al.) and the dictionary CBOW (Duong et al.): known translations, errors, CLI.

The synthetic languages share one grammar: sentences are random walks over 60
concepts (each concept mostly followed by one of three others), written with
``e<k>`` words in one language and ``s<k>`` in the other; the two monolingual
corpora are different walks, the parallel pairs are the same walk written
twice with some adjacent words swapped. ``e<k>`` translates ``s<k>``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from xling import Embeddings, Lexicon
from xling.catalogue import catalogue
from xling.cli import cli
from xling.evaluate import bli
from xling.exceptions import NotEnoughDataError
from xling.train import JOINT_TRAINERS, AlignmentProjection, BiSkip, DictionaryCBOW, PseudoBilingual
from xling.train._joint import Encoded
from xling.train.biskip import aligned_positions, window_pairs
from xling.train.duong import translation_candidates
from xling.train.projection import edit_distance_one
from xling.train.vocab import Vocabulary

N_CONCEPTS = 60


def _walks(rng, follow, n, length=8):
    out = []
    for _ in range(n):
        c = int(rng.integers(N_CONCEPTS))
        walk = [c]
        for _ in range(length - 1):
            c = int(follow[c][rng.integers(3)]) if rng.random() < 0.9 else int(rng.integers(N_CONCEPTS))
            walk.append(c)
        out.append(walk)
    return out


@pytest.fixture(scope="module")
def bilingual():
    rng = np.random.default_rng(0)
    follow = rng.integers(0, N_CONCEPTS, (N_CONCEPTS, 3))
    en = [[f"e{c}" for c in w] for w in _walks(rng, follow, 1500)]
    es = [[f"s{c}" for c in w] for w in _walks(rng, follow, 1500)]
    pairs = []
    for w in _walks(rng, follow, 300):
        t = list(w)
        for k in range(0, len(t) - 1, 3):
            if rng.random() < 0.3:
                t[k], t[k + 1] = t[k + 1], t[k]
        pairs.append(([f"e{c}" for c in w], [f"s{c}" for c in t]))
    lexicon = Lexicon([(f"e{c}", f"s{c}") for c in range(N_CONCEPTS)])
    return en, es, pairs, lexicon


SMALL = dict(vector_size=20, window=3, min_count=1, workers=1, random_state=0, sample=0)


def _p1(model, lexicon) -> float:
    return bli(model.src_embeddings_, model.tgt_embeddings_, lexicon, method="nn", ks=(1,))["p@1"]


def test_registered_with_their_supervision():
    assert JOINT_TRAINERS["biskip"] is BiSkip and JOINT_TRAINERS["guo"] is AlignmentProjection
    assert JOINT_TRAINERS["duong"] is DictionaryCBOW
    assert (BiSkip.supervision_kind, AlignmentProjection.supervision_kind, DictionaryCBOW.supervision_kind) == (
        "parallel", "parallel", "lexicon")
    assert BiSkip.uses_monolingual and AlignmentProjection.uses_monolingual and DictionaryCBOW.uses_monolingual
    listed = catalogue()["train-joint"]
    assert listed["biskip"]["settings"]["alignment"]["default"] == "ibm2"
    assert listed["guo"]["settings"]["unaligned"]["help"].startswith("Target words never aligned")
    assert listed["duong"]["settings"]["combine"]["help"]


# --------------------------------------------------------------------------- BiSkip
def test_biskip_aligns_the_two_languages_and_needs_its_cross_term(bilingual):
    en, es, pairs, lexicon = bilingual
    model = BiSkip(epochs=3, **SMALL).fit(en, es, pairs)
    control = BiSkip(epochs=3, cross_weight=0.0, **SMALL).fit(en, es, pairs)
    assert _p1(model, lexicon) > 0.6  # measured 0.75 (60 words)
    assert _p1(control, lexicon) < 0.1  # chance is 1/60
    # 300 pairs of 8 words, nearly all words linked; a window pair per aligned word of each side.
    assert 2200 < model.n_links_ < 2700 and 4500 < model.n_window_pairs_ <= 4800
    assert model.history_[-1]["cross_loss"] > 0 and [h["step"] for h in model.history_] == [1, 2, 3]


def test_biskip_with_the_monotonic_alignment_rule_learns_too(bilingual):
    en, es, pairs, lexicon = bilingual
    model = BiSkip(epochs=3, alignment="diagonal", **SMALL).fit(en, es, pairs)
    assert _p1(model, lexicon) > 0.5  # measured 0.70
    assert model.n_links_ == 2400  # one link per word, the same both ways for equal lengths


def test_biskip_window_pairs_put_the_aligned_word_first_then_its_neighbours():
    s = Encoded(torch_tensor([1, 2, 3, 4]), torch_tensor([0, 4]))
    t = Encoded(torch_tensor([5, 6, 7]), torch_tensor([0, 3]))
    links = [np.array([[0, 0], [1, 2], [2, 1], [2, 2]])]
    src_pos, tgt_pos = aligned_positions(links, np.array([4]), np.array([3]))
    # Source word 2 has two links (targets 1 and 2): their rounded mean; source word 3 has none.
    assert src_pos.tolist() == [0, 2, 2, -1] and tgt_pos.tolist() == [0, 2, 2]
    src, tgt = window_pairs(s, t, links, window=1)
    sides = [[x.ids[a:b].tolist() for a, b in zip(x.offsets[:-1], x.offsets[1:])] for x in (src, tgt)]
    assert sides[0] == [[1], [2], [3], [1, 2], [3, 2, 4], [3, 2, 4]]
    assert sides[1] == [[5, 6], [7, 6], [7, 6], [5], [6], [7]]


def torch_tensor(values):
    import torch

    return torch.tensor(values, dtype=torch.int64)


# --------------------------------------------------------------------------- Guo et al.
def test_projection_gives_each_target_word_its_aligned_source_vectors(bilingual):
    en, es, pairs, lexicon = bilingual
    model = AlignmentProjection(epochs=3, **SMALL).fit(en, es, pairs)
    assert _p1(model, lexicon) > 0.95  # measured 1.0: every target word's vector is its translation's
    assert model.n_projected_ == N_CONCEPTS and model.n_unprojected_ == 0
    # v(t) is exactly the link-count-weighted mean of the source vectors it is aligned to.
    links = model.aligner_.align(pairs)
    src = model.src_embeddings_
    target = "s7"
    aligned = [s[i] for (s, t), lk in zip(pairs, links) for i, j in lk.tolist() if t[j] == target]
    expected = np.mean([src.vectors[src.get_index(w)] for w in aligned], axis=0)
    np.testing.assert_allclose(model.tgt_embeddings_.vectors[model.tgt_embeddings_.get_index(target)], expected,
                               rtol=1e-5, atol=1e-6)
    assert [h["phase"] for h in model.history_] == ["source"] * 3 + ["align"] * 10 + ["project"]
    assert [h["step"] for h in model.history_] == list(range(1, 15)) and model.history_[-1]["progress"] == 1.0


def test_projection_fills_unaligned_target_words_by_edit_distance(bilingual):
    en, es, pairs, _ = bilingual
    # 's7x' and 's7y' occur only in the target monolingual text: never aligned; 's7x' is one edit from 's7' only.
    extra = [["s7x", "s1", "s2"]] * 3 + [["zzzz", "s1"]] * 3
    model = AlignmentProjection(epochs=1, **SMALL).fit(en, es + extra, pairs)
    tgt = model.tgt_embeddings_
    np.testing.assert_allclose(tgt.vectors[tgt.get_index("s7x")], tgt.vectors[tgt.get_index("s7")], rtol=1e-6)
    assert "zzzz" not in tgt.word_to_index and model.n_edit_distance_ == 1 and model.n_unprojected_ == 1
    dropped = AlignmentProjection(epochs=1, unaligned="drop", **SMALL).fit(en, es + extra, pairs)
    assert "s7x" not in dropped.tgt_embeddings_.word_to_index and dropped.n_unprojected_ == 2
    assert edit_distance_one(["abc"], ["abd", "ab", "abcd", "xbc", "abc", "bca"]) == {"abc": [0, 1, 2, 3]}


# --------------------------------------------------------------------------- Duong et al.
def test_dictionary_cbow_reaches_words_outside_the_dictionary(bilingual):
    """Half the concepts in the dictionary: held-out words align through shared contexts, far better than pseudo-bilingual."""
    en, es, _, lexicon = bilingual
    pairs = list(lexicon)
    train, held_out = Lexicon(pairs[::2]), Lexicon(pairs[1::2])
    model = DictionaryCBOW(epochs=5, **SMALL).fit(en, es, train)
    pseudo = PseudoBilingual(epochs=5, **SMALL).fit(en, es, train)
    assert _p1(model, train) > 0.8 and _p1(model, held_out) > 0.6  # measured 0.90 and 0.80
    assert _p1(pseudo, held_out) < _p1(model, held_out) - 0.3  # measured 0.17
    # Half the concepts have a translation: about half the centre words predict one.
    assert 0.4 < model.history_[-1]["translated"] < 0.6 and model.n_dictionary_words_ == N_CONCEPTS
    inputs = DictionaryCBOW(epochs=5, combine="input", **SMALL).fit(en, es, train)
    np.testing.assert_allclose(model.src_embeddings_.vectors - inputs.src_embeddings_.vectors,
                               DictionaryCBOW(epochs=5, combine="output", **SMALL).fit(en, es, train)
                               .src_embeddings_.vectors, rtol=1e-5, atol=1e-6)


def test_translation_candidates_cover_both_directions_in_vocabulary_only():
    src = Vocabulary(["bank", "dog"], [3, 2], 5)
    tgt = Vocabulary(["banco", "orilla", "perro"], [2, 2, 1], 5)
    lexicon = Lexicon([("bank", "banco"), ("bank", "orilla"), ("dog", "perro"), ("dog", "can"), ("cat", "gato")])
    offsets, candidates = translation_candidates(lexicon, src, tgt)
    rows = [candidates[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])]
    assert rows == [[2, 3], [4], [0], [0], [1]]  # target rows are shifted by the 2 source words


# --------------------------------------------------------------------------- errors
def test_bad_settings_and_inputs_raise(bilingual):
    en, es, pairs, lexicon = bilingual
    with pytest.raises(ValueError, match="alignment"):
        BiSkip(alignment="fast_align").fit(en, es, pairs)
    with pytest.raises(ValueError, match="align_iter"):
        BiSkip(align_iter=0).fit(en, es, pairs)
    with pytest.raises(TypeError, match="ParallelCorpus"):
        BiSkip(min_count=1).fit(en, es, lexicon)
    with pytest.raises(ValueError, match="alignment"):
        AlignmentProjection(alignment="diagonal").fit(en, es, pairs)
    with pytest.raises(ValueError, match="unaligned"):
        AlignmentProjection(unaligned="zero").fit(en, es, pairs)
    with pytest.raises(ValueError, match="symmetrize"):
        AlignmentProjection(symmetrize=None).fit(en, es, pairs)
    with pytest.raises(ValueError, match="window"):
        AlignmentProjection(window=0).fit(en, es, pairs)
    with pytest.raises(NotEnoughDataError, match="parallel"):
        AlignmentProjection(min_count=1).fit(en, es, [])
    with pytest.raises(TypeError, match="src_corpus"):
        AlignmentProjection().fit("en.txt", es, pairs)
    with pytest.raises(ValueError, match="combine"):
        DictionaryCBOW(combine="mean").fit(en, es, lexicon)
    with pytest.raises(ValueError, match="batch_centres"):
        DictionaryCBOW(batch_centres=0).fit(en, es, lexicon)
    with pytest.raises(ValueError, match="alpha"):
        DictionaryCBOW(alpha=0).fit(en, es, lexicon)
    with pytest.raises(TypeError, match="Lexicon"):
        DictionaryCBOW().fit(en, es, pairs)
    with pytest.raises(ValueError, match="empty"):
        DictionaryCBOW().fit(en, es, Lexicon())
    with pytest.raises(NotEnoughDataError, match="lexicon pairs"):
        DictionaryCBOW(min_count=1).fit(en, es, Lexicon([("dog", "perro")]))


# --------------------------------------------------------------------------- CLI
@pytest.fixture
def files(tmp_path, bilingual):
    en, es, pairs, lexicon = bilingual
    paths = {}
    for name, lines in (("en", en), ("es", es), ("par.en", [p[0] for p in pairs]), ("par.es", [p[1] for p in pairs])):
        paths[name] = tmp_path / f"{name}.txt"
        paths[name].write_text("\n".join(" ".join(s) for s in lines) + "\n")
    paths["lexicon"] = tmp_path / "lexicon.tsv"
    paths["lexicon"].write_text("".join(f"{s}\t{t}\n" for s, t in lexicon))
    return tmp_path, paths, lexicon


@pytest.mark.parametrize("method, inputs", [("biskip", "parallel"), ("guo", "parallel"), ("duong", "lexicon")])
def test_cli_train_joint_writes_one_aligned_space(files, method, inputs):
    root, paths, lexicon = files
    supervision = (["--parallel", paths["par.en"], paths["par.es"]] if inputs == "parallel"
                   else ["--lexicon", paths["lexicon"]])
    out = root / method
    args = ["train-joint", "-m", method, "--src-mono", paths["en"], "--tgt-mono", paths["es"], *supervision,
            "--out-dir", out, "--dim", 20, "--window", 3, "--min-count", 1, "--epochs", 3, "--sample", 0,
            "--threads", 1, "--langs", "en,es"]
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == method and report["history"]
    src, tgt = Embeddings.read(out / "en.vec"), Embeddings.read(out / "es.vec")
    assert bli(src, tgt, lexicon, method="nn", ks=(1,))["p@1"] > 0.5
    wrong = ["train-joint", "-m", method, "--src-mono", paths["en"], "--tgt-mono", paths["es"],
             "--out-dir", root / "wrong"]
    wrong += ["--lexicon", paths["lexicon"]] if inputs == "parallel" else ["--parallel", paths["par.en"], paths["par.es"]]
    result = CliRunner().invoke(cli, [str(a) for a in wrong], catch_exceptions=False)
    assert result.exit_code == 2 and ("--parallel" if inputs == "parallel" else "--lexicon") in result.output
