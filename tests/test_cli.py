"""The command line, end to end through click's CliRunner."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from xling import Alignment, Embeddings, Lexicon
from xling import ConvergenceWarning
from xling.cli import cli
from xling.map import MAPPERS


def _rotation(dim: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return q


@pytest.fixture
def spaces(tmp_path: Path):
    """Three synthetic languages: xx = base, yy = base @ Q1, zz = base @ Q2 (+ tiny noise).

    Word i of every language translates word i of the others, so every mapping
    must reach P@1 = 1 on the held-out words.
    """
    rng = np.random.default_rng(0)
    n, d = 400, 16
    base = rng.normal(size=(n, d)).astype(np.float32)
    paths = {}
    for lang, q in (("xx", np.eye(d)), ("yy", _rotation(d, 1)), ("zz", _rotation(d, 2))):
        vectors = base @ q + 0.01 * rng.normal(size=(n, d))
        paths[lang] = tmp_path / f"{lang}.vec"
        Embeddings([f"{lang}{i}" for i in range(n)], vectors).write(paths[lang])
    for a, b in (("xx", "zz"), ("yy", "zz"), ("xx", "yy")):
        Lexicon((f"{a}{i}", f"{b}{i}") for i in range(300)).write(tmp_path / f"{a}-{b}.train.tsv")
        Lexicon((f"{a}{i}", f"{b}{i}") for i in range(300, 400)).write(tmp_path / f"{a}-{b}.test.tsv")
    return tmp_path, paths


def run(*args: str, ok: bool = True):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_align_writes_vectors_map_and_report(spaces):
    root, paths = spaces
    out = root / "aligned"
    result = run("align", paths["xx"], paths["zz"], "--lexicon", root / "xx-zz.train.tsv",
                 "--eval", root / "xx-zz.test.tsv", "--out-dir", out)
    report = json.loads((out / "report.json").read_text())
    entry = report["sources"]["xx"]
    assert entry["pairs_used"] == 300
    assert entry["bli"]["csls"]["p@1"] == pytest.approx(1.0)
    assert entry["bli"]["nn"]["p@1"] == pytest.approx(1.0)
    assert "csls" in result.output
    alignment = Alignment.load(out / "xx-zz.map.npz")
    W = alignment.source.matrix
    np.testing.assert_allclose(W.T @ W, np.eye(W.shape[0]), atol=1e-4)
    assert (alignment.method, alignment.src_lang, alignment.tgt_lang) == ("procrustes", "xx", "zz")
    mapped = Embeddings.read(out / "xx.mapped.vec")
    assert len(mapped) == 400 and (out / "zz.mapped.vec").exists()
    assert sorted(report["files"]) == sorted(p.name for p in out.iterdir())


def test_eval_json_on_aligned_output(spaces):
    root, paths = spaces
    out = root / "aligned"
    run("align", paths["yy"], paths["zz"], "--lexicon", root / "yy-zz.train.tsv", "--out-dir", out)
    result = run("eval", out / "yy.mapped.vec", out / "zz.mapped.vec", root / "yy-zz.test.tsv",
                 "--retrieval", "nn,csls,isf", "--json")
    results = json.loads(result.output)
    assert set(results) == {"nn", "csls", "isf"}
    for method in results.values():
        assert method["p@1"] == pytest.approx(1.0)
        assert method["coverage"] == pytest.approx(1.0)


# settings that keep the iterative solvers short on the synthetic spaces
FAST = {
    "maxmargin": ["n_epochs=3"],
    "rcsls": ["n_iter=3"],
    "adversarial": ["n_epochs=1", "epoch_size=256", "dis_hidden=16", "n_refinement=1"],
    "adversarial-autoencoder": ["n_epochs=1", "epoch_size=256", "dis_hidden=16"],
    "selflearning": ["max_iter=3"],
    "unsupervised": ["max_iter=3", "stochastic_interval=1", "init_cutoff=150"],
    "artetxe2018-unsupervised": ["max_iter=3", "stochastic_interval=1", "init_cutoff=150"],
    "artetxe2018-semi-supervised": ["max_iter=3", "stochastic_interval=1"],
    "artetxe2018-identical": ["max_iter=3", "stochastic_interval=1"],
}


@pytest.mark.parametrize("method", sorted(MAPPERS))
def test_apply_reproduces_the_mapped_vectors_of_align(method, spaces):
    # align on the 250 most frequent words, then apply the saved map to the full files
    root, paths = spaces
    out = root / "aligned"
    # the synthetic vocabularies share no spelling: identical-word seeds get the lexicon's pairs added
    m = MAPPERS[method]()
    lexicon = ["--lexicon", root / "xx-zz.train.tsv"] if m.supervised or getattr(m, "seed", None) == "identical" else []
    args = [a for p in FAST.get(method, []) for a in ("-p", p)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # unsupervised runs on this tiny case
        run("align", paths["xx"], paths["zz"], *lexicon, "--method", method, *args, "--out-dir", out)
    for lang, side in (("xx", "source"), ("zz", "target")):
        run("apply", out / "xx-zz.map.npz", paths[lang], "--side", side, "-o", root / f"{lang}.applied.vec")
        applied, mapped = Embeddings.read(root / f"{lang}.applied.vec"), Embeddings.read(out / f"{lang}.mapped.vec")
        assert applied.words == mapped.words
        np.testing.assert_allclose(applied.vectors, mapped.vectors, atol=1e-6)
    # eval with --map on the unmapped vectors gives the numbers of eval on the mapped ones
    direct = json.loads(run("eval", out / "xx.mapped.vec", out / "zz.mapped.vec", root / "xx-zz.test.tsv", "--json").output)
    via_map = json.loads(run("eval", paths["xx"], paths["zz"], root / "xx-zz.test.tsv", "--map", out / "xx-zz.map.npz",
                             "--json").output)
    assert via_map == direct


def test_apply_refuses_vectors_of_another_dimension_and_bad_maps(spaces, tmp_path):
    root, paths = spaces
    out = root / "aligned"
    run("align", paths["xx"], paths["zz"], "--lexicon", root / "xx-zz.train.tsv", "--out-dir", out)
    small = tmp_path / "small.vec"
    Embeddings(["a", "b"], np.ones((2, 8))).write(small)
    result = run("apply", out / "xx-zz.map.npz", small, "-o", tmp_path / "o.vec", ok=False)
    assert result.exit_code == 1 and not (tmp_path / "o.vec").exists()
    assert result.output.strip().endswith("small.vec: Expected vectors of dimension 16 for the source side of "
                                          f"{out / 'xx-zz.map.npz'}, got 8")
    fake = tmp_path / "fake.npz"
    fake.write_bytes(b"not a zip file")
    result = run("apply", fake, paths["xx"], "-o", tmp_path / "o.vec", ok=False)
    assert result.exit_code == 1 and "fake.npz: Expected an xling alignment" in result.output
    assert "Traceback" not in result.output


def test_translate_with_a_saved_map(spaces):
    root, paths = spaces
    out = root / "aligned"
    run("align", paths["xx"], paths["zz"], "--lexicon", root / "xx-zz.train.tsv", "--out-dir", out)
    result = run("translate", paths["xx"], paths["zz"], "xx350", "-k", "1", "--map", out / "xx-zz.map.npz")
    assert result.stdout.split("\t")[:3] == ["xx350", "1", "zz350"]


def test_align_device_option_works_with_every_method(spaces):
    # --device is accepted by methods without a device setting (retrieval uses it)
    root, paths = spaces
    run("align", paths["xx"], paths["zz"], "--lexicon", root / "xx-zz.train.tsv", "--device", "cpu",
        "--out-dir", root / "o")


def test_eval_without_alignment_is_poor(spaces):
    """Control: unaligned rotated spaces must not score (the metric can fail)."""
    root, paths = spaces
    result = run("eval", paths["yy"], paths["zz"], root / "yy-zz.test.tsv", "--json")
    assert json.loads(result.output)["csls"]["p@1"] < 0.2


def test_multi_source_align_through_hub(spaces):
    root, paths = spaces
    out = root / "hub"
    run("align", paths["xx"], paths["yy"], paths["zz"],
        "--lexicon", root / "xx-zz.train.tsv", "--lexicon", root / "yy-zz.train.tsv", "--out-dir", out)
    # xx and yy never saw a lexicon between them, yet translate through the hub.
    result = run("eval", out / "xx.mapped.vec", out / "yy.mapped.vec", root / "xx-yy.test.tsv", "--json")
    assert json.loads(result.output)["csls"]["p@1"] > 0.95


def test_translate_tsv(spaces):
    root, paths = spaces
    out = root / "aligned"
    run("align", paths["xx"], paths["zz"], "--lexicon", root / "xx-zz.train.tsv", "--out-dir", out)
    result = CliRunner().invoke(cli, ["translate", str(out / "xx.mapped.vec"), str(out / "zz.mapped.vec"),
                                      "xx350", "nosuchword", "-k", "3"])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.strip().splitlines()]
    assert [r[:3] for r in rows][0] == ["xx350", "1", "zz350"]
    assert len(rows) == 3
    assert "nosuchword" in result.stderr


def test_all_oov_lexicon_is_a_clear_error(spaces, tmp_path):
    root, paths = spaces
    bad = tmp_path / "oov.tsv"
    bad.write_text("cat\tgato\ndog\tperro\n")
    out = root / "aligned"
    result = run("align", paths["xx"], paths["zz"], "--lexicon", bad, "--out-dir", out, ok=False)
    assert result.exit_code == 1
    assert "Expected at least" in result.output and "out-of-vocabulary" in result.output
    assert "Traceback" not in result.output
    assert not out.exists() or not list(out.iterdir())


def test_mismatched_dimensions_named(spaces, tmp_path):
    root, paths = spaces
    small = tmp_path / "small.vec"
    Embeddings([f"zz{i}" for i in range(50)], np.ones((50, 8))).write(small)
    result = run("align", paths["xx"], small, "--lexicon", root / "xx-zz.train.tsv", "--out-dir", tmp_path / "o", ok=False)
    assert result.exit_code == 1
    assert "same dimension" in result.output and "small.vec" in result.output


def test_malformed_vector_file_names_line(tmp_path, spaces):
    root, paths = spaces
    broken = tmp_path / "broken.vec"
    broken.write_text("3 2\na 1 2\nb 1\nc 3 4\n")
    result = run("eval", broken, paths["zz"], root / "xx-zz.test.tsv", ok=False)
    assert result.exit_code == 1
    assert "broken.vec:3" in result.output


def test_failed_align_keeps_existing_outputs(spaces, tmp_path):
    """A run that fails must not clobber the results of an earlier good run."""
    root, paths = spaces
    out = root / "aligned"
    run("align", paths["xx"], paths["zz"], "--lexicon", root / "xx-zz.train.tsv", "--out-dir", out)
    before = (out / "report.json").read_bytes()
    bad = tmp_path / "bad.tsv"
    bad.write_text("xx1\n")
    result = run("align", paths["xx"], paths["zz"], "--lexicon", bad, "--out-dir", out, ok=False)
    assert "bad.tsv:1" in result.output
    assert (out / "report.json").read_bytes() == before
    assert not list(out.glob(".*tmp"))


def test_unknown_method_setting_is_rejected(spaces):
    root, paths = spaces
    result = run("align", paths["xx"], paths["zz"], "--lexicon", root / "xx-zz.train.tsv",
                 "--out-dir", root / "o", "-p", "no_such_setting=3", ok=False)
    assert result.exit_code != 0
    assert "no setting 'no_such_setting'" in result.output


def test_methods_lists_every_method_and_explains_every_setting():
    from xling.train import JOINT_TRAINERS, TRAINERS

    catalogue = json.loads(run("methods", "--json").output)
    for command, registry in (("train", TRAINERS), ("train-joint", JOINT_TRAINERS), ("align", MAPPERS)):
        assert set(catalogue[command]) == set(registry)
        for name, cls in registry.items():
            settings = catalogue[command][name]["settings"]
            assert set(settings) == set(cls().get_params()) - {"callbacks"}
            undocumented = [key for key, setting in settings.items() if len(setting["help"]) < 8]
            assert not undocumented, f"{command} {name}: no explanation for {undocumented}"
    assert catalogue["align"]["cca"]["settings"]["keep"]["help"].startswith("Fraction of the min(d_x, d_z) canonical")
    text = run("methods").output
    assert "xling train-joint --method NAME:" in text and "  bilbowa — " in text
    assert "      keep=0.8: Fraction of the min(d_x, d_z) canonical directions kept" in text


def test_demo_trains_aligns_evaluates_and_reports(tmp_path):
    """The README's main job on the shipped data, shortened (dim 50).

    Chance P@10 among ~20k Spanish words is about 0.05%; the demo recipe
    (PPMI-SVD + multi-step) reaches about 15% with CSLS at dim 50, so 5% is a
    real bar that a broken trainer, lexicon or mapping would miss.
    """
    out = tmp_path / "demo"
    result = run("demo", "--out-dir", out, "--dim", 50)
    report = json.loads((out / "report.json").read_text())
    csls = report["sources"]["en"]["bli"]["csls"]
    assert csls["p@10"] > 0.05
    assert csls["coverage"] > 0.4
    assert report["sources"]["en"]["pairs_used"] > 5000
    assert report["method"] == "artetxe2018-supervised"
    assert "en→es csls" in result.output
    # the examples count the same evaluable words and hits as the CSLS row
    hits = round(csls["p@1"] * csls["n_queries"])
    assert f"{hits} of the {csls['n_queries']} evaluable test words are right at rank 1" in result.output
    assert f"report: {out / 'report.html'}" in result.stderr
    page = (out / "report.html").read_text()
    assert f"{100 * csls['p@1']:.2f}" in page or f"{100 * csls['p@1']:.1f}" in page
    assert (out / "en.mapped.vec").exists() and (out / "es.mapped.vec").exists()
    assert run("demo", "--out-dir", out, "--epochs", 2, ok=False).exit_code == 2  # epochs belong to sgns


@pytest.fixture
def tiny_bilingual(tmp_path: Path):
    """Two toy languages with the same grammar: word 'aK' in one is 'bK' in the other.

    Sentences are random walks over 5 topic clusters of 8 words, written once
    with the 'a' vocabulary and once (aligned, same walk) with the 'b' one.
    """
    rng = np.random.default_rng(0)
    lines_a, lines_b = [], []
    for _ in range(1500):
        topic = rng.integers(5)
        ids = topic * 8 + rng.integers(8, size=8)
        lines_a.append(" ".join(f"a{i}" for i in ids))
        lines_b.append(" ".join(f"b{i}" for i in ids))
    paths = {}
    for name, lines in (("xa", lines_a), ("xb", lines_b)):
        paths[name] = tmp_path / f"{name}.txt"
        paths[name].write_text("\n".join(lines) + "\n")
    return tmp_path, paths


def test_train_joint_bilbowa_writes_one_space(tiny_bilingual):
    root, paths = tiny_bilingual
    out = root / "joint"
    run("train-joint", "--method", "bilbowa", "--src-mono", paths["xa"], "--tgt-mono", paths["xb"],
        "--parallel", paths["xa"], paths["xb"], "--out-dir", out, "--dim", 16, "--epochs", 3, "--min-count", 1)
    src, tgt = Embeddings.read(out / "xa.vec"), Embeddings.read(out / "xb.vec")
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "bilbowa" and report["parallel_lines"] == 1500
    assert len(report["history"]) == 3
    # Translations share a space: a word's counterpart is far closer than a random other word.
    S = src.vectors / np.linalg.norm(src.vectors, axis=1, keepdims=True)
    T = tgt.vectors / np.linalg.norm(tgt.vectors, axis=1, keepdims=True)
    rows = [src.get_index(f"a{i}") for i in range(40)]
    cols = [tgt.get_index(f"b{i}") for i in range(40)]
    sims = S[rows] @ T[cols].T
    assert np.diag(sims).mean() > sims[~np.eye(40, dtype=bool)].mean() + 0.2


def test_train_joint_mismatched_parallel_files(tiny_bilingual):
    root, paths = tiny_bilingual
    short = root / "short.txt"
    short.write_text("b1 b2\n")
    result = run("train-joint", "--method", "transgram", "--src-mono", paths["xa"], "--tgt-mono", paths["xb"],
                 "--parallel", paths["xa"], short, "--out-dir", root / "o", ok=False)
    assert result.exit_code == 1
    assert "same number of lines" in result.output and "short.txt" in result.output
    assert not (root / "o").exists()


def test_train_joint_pseudo_needs_a_lexicon(tiny_bilingual):
    root, paths = tiny_bilingual
    result = run("train-joint", "--method", "pseudo", "--src-mono", paths["xa"], "--tgt-mono", paths["xb"],
                 "--out-dir", root / "o", ok=False)
    assert result.exit_code != 0 and "--lexicon" in result.output


def test_train_joint_needs_both_monolingual_texts(tiny_bilingual):
    root, paths = tiny_bilingual
    result = run("train-joint", "-m", "bilbowa", "--src-mono", paths["xa"], "--parallel", paths["xa"], paths["xb"],
                 "--out-dir", root / "o", ok=False)
    assert result.exit_code == 2 and "--src-mono and --tgt-mono" in result.output and not (root / "o").exists()


def test_presets_keep_their_own_normalisation(spaces):
    """--normalize not given: a preset's steps stand (xing2015 = unit length only)."""
    root, paths = spaces
    out = root / "xing"
    run("align", paths["xx"], paths["zz"], "--lexicon", root / "xx-zz.train.tsv", "--method", "xing2015", "--out-dir", out)
    settings = json.loads((out / "report.json").read_text())["sources"]["xx"]["settings"]
    assert list(settings["normalize"]) == ["unit"]
    run("align", paths["xx"], paths["zz"], "--lexicon", root / "xx-zz.train.tsv", "--method", "xing2015",
        "--normalize", "center", "--out-dir", out)
    assert json.loads((out / "report.json").read_text())["sources"]["xx"]["settings"]["normalize"] == "center"


def test_train_writes_vectors_with_requested_shape(tiny_bilingual):
    root, paths = tiny_bilingual
    out = root / "a.vec"
    run("train", paths["xa"], "-o", out, "--dim", 12, "--epochs", 1, "--min-count", 1)
    emb = Embeddings.read(out)
    assert emb.dim == 12 and len(emb) == 40 and set(emb.words) == {f"a{i}" for i in range(40)}


def test_train_rejects_settings_the_method_lacks(tiny_bilingual):
    root, paths = tiny_bilingual
    result = run("train", paths["xa"], "-o", root / "s.vec", "--method", "spectral", "--negative", 3, ok=False)
    assert result.exit_code != 0 and "no setting 'negative'" in result.output
    assert not (root / "s.vec").exists()
    result = run("train", paths["xa"], "-o", root / "s.vec", "--resume", ok=False)
    assert result.exit_code != 0 and "--checkpoint-dir" in result.output


def test_align_without_lexicon_reports_its_diagnosis(tmp_path):
    """Self-learning from numerals: the report carries the dictionary-free verdict, spelling check included."""
    rng = np.random.default_rng(0)
    n, d = 400, 16
    base = (rng.normal(size=(n, d)) * np.linspace(2.0, 0.3, d)).astype(np.float32)
    words = [str(i) if i < 100 else f"w{i}" for i in range(n)]  # spelled alike on both sides
    for lang, q in (("xx", np.eye(d)), ("yy", _rotation(d, 1))):
        Embeddings(words, base @ q + 0.01 * rng.normal(size=(n, d))).write(tmp_path / f"{lang}.vec")
    Lexicon((w, w) for w in words[300:]).write(tmp_path / "test.tsv")
    out = tmp_path / "aligned"
    run("align", tmp_path / "xx.vec", tmp_path / "yy.vec", "--method", "selflearning", "-p", "seed=numerals",
        "--eval", tmp_path / "test.tsv", "--out-dir", out)
    entry = json.loads((out / "report.json").read_text())["sources"]["xx"]
    assert entry["bli"]["csls"]["p@1"] > 0.95
    diagnosis = entry["diagnosis"]
    assert diagnosis["success"] and diagnosis["spelling"]["identical_words"] == 300  # numerals left out
    assert entry["history"][-1]["phase"] == "diagnosis"


def test_report_flags_write_a_page_with_the_numbers_of_the_run(spaces, tiny_bilingual):
    root, paths = spaces
    out = root / "aligned"
    run("align", paths["xx"], paths["zz"], "--lexicon", root / "xx-zz.train.tsv", "--eval", root / "xx-zz.test.tsv",
        "--out-dir", out, "--report")
    p1 = json.loads((out / "report.json").read_text())["sources"]["xx"]["bli"]["csls"]["p@1"]
    assert f"{100 * p1:.2f}" in (out / "report.html").read_text()
    # eval of the original vectors through the saved map, with its own report folder
    evaluated = root / "evaluated"
    result = run("eval", paths["xx"], paths["zz"], root / "xx-zz.test.tsv", "--map", out / "xx-zz.map.npz",
                 "--report", evaluated)
    report = json.loads((evaluated / "report.json").read_text())
    assert report["kind"] == "eval" and report["bli"]["csls"]["p@1"] == pytest.approx(p1)
    assert f"report: {evaluated / 'report.html'}" in result.stderr
    page = (evaluated / "report.html").read_text()
    assert f"{100 * p1:.2f}" in page and "data:image/png;base64," in page
    # training: the page shows the loss per epoch of the history
    troot, tpaths = tiny_bilingual
    run("train", tpaths["xa"], "-o", troot / "a.vec", "--dim", 8, "--epochs", 2, "--min-count", 1, "--threads", 1,
        "--report", troot / "trained")
    trained = json.loads((troot / "trained" / "report.json").read_text())
    assert trained["kind"] == "train" and [e["step"] for e in trained["history"]] == [1, 2]
    assert "history" in (troot / "trained" / "report.html").read_text().lower()
    # `xling report` rebuilds the page of a run folder
    (out / "report.html").unlink()
    run("report", out)
    assert f"{100 * p1:.2f}" in (out / "report.html").read_text()


def test_every_method_option_has_the_short_form_m():
    # `-m NAME` works wherever `--method NAME` does (train, train-joint, train-multi, align, demo, ...)
    with_method = {}
    for name, command in cli.commands.items():
        for param in command.params:
            if "--method" in getattr(param, "opts", ()):
                with_method[name] = param.opts
    assert {"train", "train-joint", "align", "demo"} <= set(with_method)
    assert all("-m" in opts for opts in with_method.values()), with_method


def test_align_validation_lexicon_is_logged_per_iteration_and_invnn_evaluates(spaces):
    root, paths = spaces
    out = root / "aligned"
    run("align", paths["xx"], paths["zz"], "--lexicon", root / "xx-zz.train.tsv", "-m", "rcsls", "-p", "n_iter=3",
        "--validation", root / "xx-zz.test.tsv", "--eval", root / "xx-zz.test.tsv", "--retrieval", "nn,invnn",
        "--out-dir", out)
    entry = json.loads((out / "report.json").read_text())["sources"]["xx"]
    assert entry["validation_lexicon"].endswith("xx-zz.test.tsv") and entry["validation_coverage"]["n_entries_used"] == 100
    steps = [e for e in entry["history"] if e["phase"] == "train"]
    assert len(steps) == 3 and all(e["val_nn_p@1"] == pytest.approx(1.0) and "val_csls_p@1" in e for e in steps)
    assert entry["bli"]["invnn"]["p@1"] == pytest.approx(1.0)
    # a method without iterations says it does not use the lexicon, on stderr and in the report
    result = run("align", paths["xx"], paths["zz"], "--lexicon", root / "xx-zz.train.tsv",
                 "--validation", root / "xx-zz.test.tsv", "--out-dir", out)
    assert "has no iterations to validate" in result.stderr
    assert "has no iterations to validate" in json.loads((out / "report.json").read_text())["sources"]["xx"]["warnings"][0]
    bad = run("align", paths["xx"], paths["zz"], "--lexicon", root / "xx-zz.train.tsv", "--validation",
              root / "xx-zz.test.tsv", "--validation", root / "xx-zz.test.tsv", "--out-dir", out, ok=False)
    assert bad.exit_code == 2 and "Expected one --validation per source (1), got 2" in bad.output


def test_precision_of_align_eval_and_translate(tmp_path):
    rng = np.random.default_rng(7)
    n, d = 1500, 24
    base = rng.normal(size=(n, d))
    paths = {}
    for lang in ("aa", "bb"):
        paths[lang] = tmp_path / f"{lang}.vec"
        Embeddings([f"{lang}{i}" for i in range(n)], base + 0.8 * rng.normal(size=(n, d))).write(paths[lang])
    test = tmp_path / "test.tsv"
    Lexicon((f"aa{i}", f"bb{i}") for i in range(0, n, 2)).write(test)
    results = {p: json.loads(run("eval", paths["aa"], paths["bb"], test, "--retrieval", "nn,csls,invnn", "--json",
                                 "--precision", p, "--device", "cpu").output) for p in ("fp16", "fp32", "fp64")}
    for method in ("nn", "csls", "invnn"):
        assert 0.2 < results["fp64"][method]["p@1"] < 0.95
        assert abs(results["fp32"][method]["p@1"] - results["fp64"][method]["p@1"]) <= 1 / 750
        assert abs(results["fp16"][method]["p@1"] - results["fp64"][method]["p@1"]) <= 10 / 750
    out = tmp_path / "run"
    run("align", paths["aa"], paths["bb"], "--lexicon", test, "--eval", test, "--out-dir", out, "--precision", "fp64",
        "--device", "cpu")
    report = json.loads((out / "report.json").read_text())
    assert report["precision"] == "fp64"
    run("align", paths["aa"], paths["bb"], "-m", "selflearning", "-p", "max_iter=2", "--lexicon", test,
        "--out-dir", tmp_path / "learned", "--precision", "fp64", "--device", "cpu")
    learned = json.loads((tmp_path / "learned" / "report.json").read_text())["sources"]["aa"]
    assert learned["settings"]["precision"] == "fp64" and learned["n_iter"] == 2  # the induction ran at fp64
    words = ["aa0", "aa2", "aa4"]
    lines = {p: run("translate", paths["aa"], paths["bb"], *words, "--precision", p, "--device", "cpu").output
             for p in ("fp32", "fp64")}
    top = {p: [line.split("\t")[2] for line in text.splitlines()] for p, text in lines.items()}
    assert top["fp32"] == top["fp64"] and len(top["fp64"]) == 15
    bad = run("eval", paths["aa"], paths["bb"], test, "--precision", "fp8", ok=False)
    assert bad.exit_code == 2 and "Invalid value for '--precision'" in bad.output and "fp16" in bad.output
