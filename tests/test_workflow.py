"""The library workflow :func:`xling.align`: what ``xling align`` runs, callable from Python."""

from __future__ import annotations

import numpy as np
import pytest

from xling import Alignment, Embeddings, Lexicon, XlingError, align, bli
from xling.map import Procrustes


def rotation(d: int, rng) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return q


def three_languages(n=600, d=12, seed=4):
    """A hub 'en' and two languages 'de', 'fr', each a noisy rotation of it."""
    rng = np.random.default_rng(seed)
    H = rng.normal(size=(n, d)) * np.linspace(2, 0.5, d)
    spaces = {"en": Embeddings([f"en{i}" for i in range(n)], H)}
    for lang in ("de", "fr"):
        order = rng.permutation(n)  # rows in another order: word i sits at row where(order == i)
        V = H @ rotation(d, rng) + 0.02 * rng.normal(size=H.shape)
        spaces[lang] = Embeddings([f"{lang}{i}" for i in order], V[order])
    lexicons = {lang: Lexicon((f"{lang}{i}", f"en{i}") for i in range(200)) for lang in ("de", "fr")}
    return spaces, lexicons


def test_a_non_hub_pair_is_evaluated_through_the_hub():
    spaces, lexicons = three_languages()
    tests = {lang: Lexicon((f"{lang}{i}", f"en{i}") for i in range(200, 600)) for lang in ("de", "fr")}
    result = align(spaces, "en", lexicons, params={"normalize": None}, evals=tests, retrieval=("csls",), device="cpu")
    assert set(result.alignments) == {"de", "fr"}
    assert result.report["sources"]["de"]["lexicon_coverage"]["n_entries_used"] == 200
    assert result.report["sources"]["fr"]["bli"]["csls"]["p@1"] > 0.99
    src, tgt = result.pair("de", "fr")
    test = Lexicon((f"de{i}", f"fr{i}") for i in range(200, 600))  # words never in any lexicon
    assert bli(src, tgt, test, method="csls", device="cpu")["p@1"] > 0.99
    # the hub's own vectors are shared by every language, and each alignment reproduces its space
    np.testing.assert_allclose(result.embeddings["en"].vectors, spaces["en"].vectors, atol=1e-5)
    for lang, alignment in result.alignments.items():
        assert isinstance(alignment, Alignment) and (alignment.src_lang, alignment.tgt_lang) == (lang, "en")
        np.testing.assert_allclose(alignment.apply(spaces[lang]).vectors, result.embeddings[lang].vectors, atol=1e-6)


def test_a_mapper_instance_is_cloned_per_language():
    spaces, lexicons = three_languages()
    template = Procrustes(normalize=None)
    result = align(spaces, "en", lexicons, method=template)
    assert result.mappers["de"] is not result.mappers["fr"] and not hasattr(template, "x_map_")


def test_hub_rejects_two_sided_methods_missing_lexicons_and_bad_settings():
    spaces, lexicons = three_languages()
    with pytest.raises(XlingError, match="moves the target space differently for each source"):
        align(spaces, "en", lexicons, method="cca")
    with pytest.raises(XlingError, match=r"needs a seed lexicon for every source; none for \['fr'\]"):
        align(spaces, "en", {"de": lexicons["de"]})
    with pytest.raises(XlingError, match="Expected the target among the languages"):
        align(spaces, "it", lexicons)
    with pytest.raises(XlingError, match="Unknown method 'nope'"):
        align(spaces, "en", lexicons, method="nope")
    with pytest.raises(XlingError, match="Expected lexicons keyed by source languages"):
        align(spaces, "en", {**lexicons, "en": lexicons["de"]})
    with pytest.raises(XlingError, match="Method 'rcsls': expected a number for setting 'lr', got 'fast'"):
        align(spaces, "en", lexicons, method="rcsls", params={"lr": "fast"})
    with pytest.raises(XlingError, match="unknown mapper 'nope' for setting 'mapper'"):
        align(spaces, "en", lexicons, method="selflearning", params={"mapper": "nope"})
    with pytest.raises(XlingError, match="Expected precision fp16, fp32 or fp64, got 'half'"):
        align(spaces, "en", lexicons, precision="half")


@pytest.mark.parametrize("as_instance", [False, True])
def test_self_learning_into_a_hub_keeps_the_target_where_it_is(as_instance):
    """One source: the default multi-step final map (it moves the target); several: the one-sided loop's map."""
    from xling.map import SelfLearning
    from xling.map.presets import Artetxe2018Supervised

    spaces, lexicons = three_languages()
    method = SelfLearning(vocabulary_cutoff=300) if as_instance else "selflearning"
    params = None if as_instance else {"vocabulary_cutoff": 300}
    hub = align(spaces, "en", lexicons, method=method, params=params, device="cpu")
    for lang in ("de", "fr"):
        assert hub.report["sources"][lang]["settings"]["final_mapper"] is None
        assert isinstance(hub.mappers[lang].mapper_, Procrustes)
    spaces.pop("fr"), lexicons.pop("fr")
    pair = align(spaces, "en", lexicons, method=method, params=params, device="cpu")
    assert pair.report["sources"]["de"]["settings"]["final_mapper"] == "auto"
    assert isinstance(pair.mappers["de"].mapper_, Artetxe2018Supervised)


def test_self_learning_takes_its_inner_solver_by_name():
    spaces, lexicons = three_languages()
    spaces.pop("fr"), lexicons.pop("fr")  # multi-step moves both sides: one pair only
    result = align(spaces, "en", lexicons, method="selflearning",
                   params={"mapper": "artetxe2018-supervised", "max_iter": 3, "vocabulary_cutoff": 300}, device="cpu")
    assert type(result.mappers["de"].mapper_).__name__ == "Artetxe2018Supervised"


def test_joint_training_refuses_the_supervision_its_method_does_not_take(tmp_path):
    from xling.train import JOINT_TRAINERS
    from xling.workflow import train_joint

    text = tmp_path / "a.txt"
    text.write_text("a b c\n")
    lexicon = tmp_path / "lex.tsv"
    lexicon.write_text("a\tb\n")
    with pytest.raises(XlingError, match="BilBOWA takes parallel sentences"):
        train_joint(JOINT_TRAINERS["bilbowa"](), text, text, lexicon=lexicon)
    with pytest.raises(XlingError, match="PseudoBilingual takes a lexicon"):
        train_joint(JOINT_TRAINERS["pseudo"](), text, text, parallel=(text, text))
    with pytest.raises(XlingError, match="BilBOWA needs monolingual text of both languages"):
        train_joint(JOINT_TRAINERS["bilbowa"](), text, None, parallel=(text, text))


@pytest.mark.parametrize("kind, uses_mono, given, message", [
    ("parallel", False, dict(parallel=True, src_mono=True), "alone and takes no monolingual text"),
    ("documents", False, dict(parallel=True), r"takes aligned documents \(--documents\)"),
    ("documents", False, dict(documents=True, lexicon=True), "and no lexicon"),
    ("documents", True, dict(documents=True, src_mono=True), "needs monolingual text of both"),
    ("lexicon", True, dict(src_mono=True, tgt_mono=True), r"takes a lexicon \(--lexicon"),
])
def test_joint_input_check_names_what_each_kind_takes(kind, uses_mono, given, message):
    from xling.workflow import check_joint_inputs

    method = type("Method", (), {"supervision_kind": kind, "uses_monolingual": uses_mono})
    flags = dict(src_mono=False, tgt_mono=False, parallel=False, documents=False, lexicon=False) | given
    with pytest.raises(XlingError, match=message):
        check_joint_inputs(method, **flags)
    # The inputs the kind does take pass.
    ok = dict(src_mono=uses_mono, tgt_mono=uses_mono, parallel=kind == "parallel", documents=kind == "documents",
              lexicon=kind == "lexicon")
    check_joint_inputs(method, **ok)


@pytest.mark.filterwarnings("ignore::xling.ConvergenceWarning")  # two iterations are enough here
def test_precision_reaches_the_induction_of_a_named_self_learning_method_unless_its_params_set_it():
    spaces, lexicons = three_languages(n=300)
    fit = dict(max_iter=2, vocabulary_cutoff=300)
    run = align(spaces, "en", lexicons, method="selflearning", params=fit, device="cpu", precision="fp64")
    assert {m.precision for m in run.mappers.values()} == {"fp64"}
    assert run.report["sources"]["de"]["settings"]["precision"] == "fp64"
    kept = align(spaces, "en", lexicons, method="selflearning", params={**fit, "precision": "fp32"}, device="cpu",
                 precision="fp64")
    assert {m.precision for m in kept.mappers.values()} == {"fp32"}
    assert align(spaces, "en", lexicons, method="selflearning", params=fit, device="cpu").mappers["de"].precision is None


def test_precision_of_the_evaluation_is_in_the_report_and_leaves_the_fit_alone():
    spaces, lexicons = three_languages()
    tests = {lang: Lexicon((f"{lang}{i}", f"en{i}") for i in range(200, 600)) for lang in ("de", "fr")}
    runs = {p: align(spaces, "en", lexicons, evals=tests, retrieval=("nn", "csls"), device="cpu", precision=p)
            for p in ("fp16", "fp64")}
    assert runs["fp64"].report["precision"] == "fp64" and runs["fp16"].report["precision"] == "fp16"
    assert align(spaces, "en", lexicons, device="cpu").report["precision"] == "fp32"
    for lang in ("de", "fr"):
        # the same fitted map: precision is the evaluation's
        np.testing.assert_array_equal(runs["fp16"].alignments[lang].source.matrix,
                                      runs["fp64"].alignments[lang].source.matrix)
        for method in ("nn", "csls"):
            assert runs["fp16"].report["sources"][lang]["bli"][method]["p@1"] == pytest.approx(
                runs["fp64"].report["sources"][lang]["bli"][method]["p@1"], abs=2 / 400)
