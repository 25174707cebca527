"""HTML reports (xling.report) built from a small real run on the shipped data."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import warnings
from html.parser import HTMLParser

import numpy as np
import pytest
from click.testing import CliRunner

from xling import ConvergenceWarning, Embeddings, FormatError, LineCorpus, XlingError
from xling.cli import cli
from xling.report import FIGURE_PIXELS, write_report
from xling.resources import bli_split, demo_corpus_path
from xling.train import SkipGram
from xling.workflow import read_lexicon

PIL = pytest.importorskip("PIL.Image", reason="Pillow (a matplotlib dependency) is needed to read the PNGs")


class _Page(HTMLParser):
    """Section ids, banner classes, images and the embedded data of a report page."""

    def __init__(self, text: str):
        super().__init__()
        self.sections, self.banners, self.images, self.text = [], [], [], []
        self._data = None
        self.data = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs["id"])
        elif tag == "div" and "banner" in attrs.get("class", ""):
            self.banners.append(attrs)
        elif tag == "img":
            self.images.append(attrs)
        elif tag == "script" and attrs.get("id") == "xling-report-data":
            self._data = []

    def handle_endtag(self, tag):
        if tag == "script" and self._data is not None:
            self.data = json.loads("".join(self._data))
            self._data = None

    def handle_data(self, data):
        if self._data is not None:
            self._data.append(data)
        else:
            self.text.append(data)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real self-learning alignment of small skip-gram vectors, evaluated, with its report.

    Self-learning (2 iterations over the 4,000 most frequent words, seed pairs)
    gives a history and a diagnosis besides the BLI, so one run exercises every
    section.
    """
    root = tmp_path_factory.mktemp("report")
    trainers = {}
    for lang in ("en", "es"):
        trainer = SkipGram(vector_size=50, epochs=2, random_state=0)
        trainer.fit(LineCorpus(demo_corpus_path(lang)))
        trainer.embeddings_.write(root / f"{lang}.vec")
        trainers[lang] = trainer
    train, test = bli_split("en-es")
    out = root / "run"
    with warnings.catch_warnings():
        # two iterations are deliberately too few to converge: the run only has to produce a history
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = CliRunner().invoke(cli, [
            "align", str(root / "en.vec"), str(root / "es.vec"), "--lexicon", str(train), "--eval", str(test),
            "--method", "selflearning", "-p", "max_iter=2", "-p", "vocabulary_cutoff=4000", "--out-dir", str(out),
            "--device", "cpu",
        ])
    assert result.exit_code == 0, result.output
    path = write_report(out, device="cpu")
    return {"root": root, "dir": out, "html": path, "report": json.loads((out / "report.json").read_text()),
            "page": _Page(path.read_text(encoding="utf-8")), "trainer": trainers["en"], "test": test}


def test_every_section_is_there_with_the_numbers_of_report_json(run):
    page, entry = run["page"], run["report"]["sources"]["en"]
    assert run["html"] == run["dir"] / "report.html"
    for section in ("bli-p0", "bands-p0", "hubness-p0", "similarity-p0", "examples-p0", "pca-p0", "history-p0",
                    "diagnosis-en", "settings"):
        assert section in page.sections
    shown = page.data["pairs"]["en→es"]
    assert shown["bli"] == entry["bli"]
    text = " ".join(page.text)
    for result in entry["bli"].values():
        assert f"{100 * result['p@1']:.2f}" in text and f"{100 * result['coverage']:.2f}%" in text
    # Frequency bands partition the evaluable words, and their hits add up to the recorded P@1.
    for method, bands in shown["bands"].items():
        assert sum(b["n"] for b in bands) == entry["bli"]["csls"]["n_queries"]
        if method in entry["bli"]:
            assert sum(b["hits_at_1"] for b in bands) == round(entry["bli"][method]["p@1"] * entry["bli"][method]["n_queries"])
    # The history plot holds the solver's objective and dictionary size per iteration.
    iterations = [e for e in entry["history"] if "objective" in e]
    assert shown["history"]["objective"]["self-learning"]["y"] == [e["objective"] for e in iterations]
    assert shown["history"]["n_pairs"]["self-learning"]["x"] == [e["step"] for e in iterations]
    assert [b["data-success"] for b in page.banners] == [str(entry["diagnosis"]["success"]).lower()]
    assert ("PASS" if entry["diagnosis"]["success"] else "FAIL") in text


def test_analyses_count_what_they_should(run):
    shown = run["page"].data["pairs"]["en→es"]
    src, tgt = Embeddings.read(run["dir"] / "en.mapped.vec"), Embeddings.read(run["dir"] / "es.mapped.vec")
    lexicon = read_lexicon(run["test"], src, tgt)
    n_gold = sum(len({t for t in lexicon[w] if t in tgt}) for w in lexicon.sources if w in src)
    sim = shown["similarity"]
    assert sim["n_pairs"] == n_gold == sum(sim["gold"]) == sum(sim["random"])
    assert sim["gold_mean"] > sim["random_mean"] + 0.1  # mapped translations are closer than chance
    n_queries = run["report"]["sources"]["en"]["bli"]["csls"]["n_queries"]
    for method in ("nn", "csls"):
        dist = shown["hubness"][method]["k_occurrence"]
        assert sum(dist) == len(tgt)  # every target word has a k-occurrence
        assert sum(k * n for k, n in enumerate(dist)) == 10 * n_queries  # each query has 10 neighbours
        assert shown["hubness"][method]["hubs"][0][1] == len(dist) - 1
    # CSLS is built to reduce hubness.
    assert shown["hubness"]["csls"]["skewness"] < shown["hubness"]["nn"]["skewness"]
    assert len(shown["examples"]) == 20
    for ex in shown["examples"]:
        assert set(ex["gold"]) <= set(lexicon[ex["word"]]) and len(ex["csls"]) == 5
    assert len(shown["pca"]["src"]) == len(shown["pca"]["tgt"]) == 30


def test_images_are_valid_pngs_of_the_announced_size(run):
    files = sorted((run["dir"] / "report_files").glob("*.png"))
    assert len(files) == len(run["page"].images) == 6
    for img in run["page"].images:
        png = base64.b64decode(img["src"].removeprefix("data:image/png;base64,"))
        assert png == (run["dir"] / img["data-file"]).read_bytes()  # the page is self-contained
        with PIL.open(run["dir"] / img["data-file"]) as im:
            assert im.format == "PNG" and im.size == FIGURE_PIXELS == (int(img["width"]), int(img["height"]))
            pixels = np.asarray(im.convert("RGB"))
        # drawn, not blank: many colours, and a fair share of non-white pixels
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20
        assert (pixels.min(axis=2) < 200).mean() > 0.01


def test_trainer_history_in_either_schema(run, tmp_path):
    trainer = run["trainer"]
    unified = [dict(e) for e in trainer.history_]
    # the older trainer schema: "epoch" instead of "step", no phase
    legacy = [{"epoch": e.get("step", e.get("epoch")), **{k: v for k, v in e.items() if k not in ("step", "epoch", "phase", "total")}}
              for e in unified]
    for history in (unified, legacy):
        (tmp_path / "report.json").write_text(json.dumps(
            {"kind": "train", "method": "sgns", "settings": {"random_state": 0}, "history": history, "seconds": 1.5}))
        page = _Page(write_report(tmp_path).read_text(encoding="utf-8"))
        (loss,) = page.data["history"]["loss"].values()  # one phase
        assert loss["y"] == [e["loss"] for e in trainer.history_]
        assert loss["x"] == list(range(1, len(trainer.history_) + 1))
        assert "history-run" in page.sections and "bli-p0" not in page.sections


@pytest.mark.parametrize("content, error, expected", [
    (None, XlingError, "report.json"),
    ('{"method": "procrustes",', FormatError, "Expected JSON"),
    ("[1, 2]", XlingError, "Expected a JSON object"),
])
def test_bad_report_json(tmp_path, content, error, expected):
    if content is not None:
        (tmp_path / "report.json").write_text(content)
    with pytest.raises(error, match=expected) as info:
        write_report(tmp_path)
    assert str(tmp_path / "report.json") in str(info.value)
    assert not (tmp_path / "report.html").exists()


def test_missing_vectors_are_named(run, tmp_path):
    (tmp_path / "report.json").write_text(json.dumps(run["report"]))
    with pytest.raises(XlingError, match=re.escape(str(tmp_path / "en.mapped.vec"))):
        write_report(tmp_path)


def test_renders_in_headless_chromium(run, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium): the page was not rendered in a browser")
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,2400"]
    url = run["html"].resolve().as_uri()
    shot = tmp_path / "page.png"
    subprocess.run([*flags, f"--screenshot={shot}", url], check=True, capture_output=True, timeout=120)
    with PIL.open(shot) as im:
        assert im.size == (1200, 2400)
        assert len(np.unique(np.asarray(im.convert("RGB")).reshape(-1, 3), axis=0)) > 50
    dom = subprocess.run([*flags, "--dump-dom", url], check=True, capture_output=True, timeout=120, text=True).stdout
    # The page's own load check: every image decoded (no broken image).
    match = re.search(r'data-broken-images="(\d+)"', dom)
    assert match is not None and match.group(1) == "0"
    assert dom.count("<img") == 6
    csls = run["report"]["sources"]["en"]["bli"]["csls"]
    assert f"{100 * csls['p@1']:.2f}" in re.sub(r"<[^>]+>", " ", dom)


def test_validation_p_at_1_gets_its_own_plot_when_the_history_has_it(tmp_path):
    history = [{"event": "step", "phase": "self-learning", "step": i, "total": 3, "progress": i / 3, "objective": 0.1 * i,
                "val_nn_p@1": 0.1 * i, "val_csls_p@1": 0.2 * i} for i in (1, 2, 3)]
    report = {"kind": "align", "method": "selflearning", "target": "es.vec", "target_lang": "es",
              "sources": {"en": {"source": "en.vec", "history": history}}}
    (tmp_path / "report.json").write_text(json.dumps(report))
    page = _Page(write_report(tmp_path).read_text())
    assert "validation-p0" in page.sections and "history-p0" in page.sections
    data = page.data["pairs"]["en→es"]
    assert data["validation"]["NN"] == {"x": [1, 2, 3], "y": pytest.approx([10.0, 20.0, 30.0])}
    assert data["validation"]["CSLS"]["y"] == pytest.approx([20.0, 40.0, 60.0])
    assert "val_nn_p@1" not in data["history"] and "objective" in data["history"]  # not drawn twice
    png = PIL.open(tmp_path / "report_files" / "validation-p0.png")
    assert png.size == FIGURE_PIXELS
    # without validation metrics there is no such section
    for event in history:
        del event["val_nn_p@1"], event["val_csls_p@1"]
    (tmp_path / "report.json").write_text(json.dumps(report))
    assert "validation-p0" not in _Page(write_report(tmp_path).read_text()).sections
