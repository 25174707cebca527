"""HTML reports of alignment, evaluation and training runs, with plots.

:func:`write_report` reads a run folder (its ``report.json`` and vectors) and
writes ``report.html``: one self-contained page (the plots are embedded as
base64 PNG, no network access, it opens from disk) plus the same PNGs in
``report_files/`` beside it. What it shows depends on what the run holds:

- BLI: P@1/5/10 of each retrieval method side by side, P@1 by frequency band
  of the source word (row order of a .vec file is frequency order) with the
  number of evaluable test words per band, coverage;
- hubness: the k-occurrence distribution of target words (how often each is
  among the top 10 of the evaluated source words) under NN and CSLS, and the
  worst hubs (Radovanović et al. 2010; Dinu et al. 2015);
- cosine of gold translation pairs against random pairs after mapping;
- example translations with the gold ones marked;
- the objective or loss per iteration or epoch of iterative solvers and
  trainers (any numeric metric of ``history``);
- the P@1 of a validation lexicon per iteration (``xling align --validation``),
  by NN and CSLS, as one line plot;
- the diagnosis of unsupervised runs as a pass/fail banner at the top;
- a 2-D PCA of translation pairs in the shared space;
- settings, versions, seed, timings and input files.

The numbers that ``report.json`` already holds (P@k, coverage) are shown as
they are; the per-word analyses retrieve again with
:func:`xling.retrieval.retrieve`, and the page says so when their P@1 does not
reproduce the recorded one (vectors changed since the run).

Run folders
-----------
``kind`` (or, in older files, the keys present) tells what ran:

``align`` (``xling align``)
    ``{"method", "target", "target_lang", "seed", "sources": {LANG: {"source",
    "settings", "lexicon", "pairs_used", "lexicon_coverage", "fit_seconds",
    "n_iter", "history", "diagnosis", "bli": {METHOD: result of bli},
    "eval_lexicon"}}}`` with every language's mapped vectors in
    ``LANG.mapped.vec``.
``eval`` (``xling eval``)
    ``{"src", "tgt", "eval_lexicon", "bli": {METHOD: result}}``, paths of
    vectors already in one space.
``train-joint`` / ``train``
    ``{"method", "settings", "history", "seconds"}`` and the trained vectors
    (``files``, else the ``.vec`` files of the folder); BLI sections appear
    when a test lexicon is given (``lexicon=``).
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from xling._utils import PathLike, atomic_output, check_random_state, jsonable
from xling.embeddings import Embeddings
from xling.exceptions import FormatError, XlingError
from xling.lexicon import Lexicon
from xling.preprocessing import normalize

logger = logging.getLogger(__name__)

__all__ = ["write_report", "FREQUENCY_BANDS", "FIGURE_PIXELS"]

# Source-word rank buckets [start, stop) of the P@1-by-frequency plot.
FREQUENCY_BANDS = ((0, 5000), (5000, 10000), (10000, 20000), (20000, None))
# Every plot is drawn at this size (width, height) in pixels, so pages line up.
FIGURE_PIXELS = (800, 420)
_DPI = 100
HUB_K = 10  # k of the k-occurrence (hubness) statistics
N_HUBS = 10
N_EXAMPLES = 20
N_EXAMPLE_CANDIDATES = 5
N_PCA_PAIRS = 30
# Axis keys of history entries: the unified schema's "step", then the mappers'
# "iteration" and the trainers' "epoch". They and the bookkeeping keys are not metrics.
_AXIS_KEYS = ("step", "iteration", "epoch")
_NOT_METRICS = {*_AXIS_KEYS, "progress", "total", "seconds", "words_per_sec", "words", "success", "conclusive"}
# History metrics of a validation lexicon (BaseMapper.fit's validation): drawn together in their own plot.
_VALIDATION_KEYS = {"val_nn_p@1": "NN", "val_csls_p@1": "CSLS"}
# Metrics drawn first, in this order; the rest follow alphabetically.
_METRIC_ORDER = ("loss", "objective", "mono_loss", "cross_loss", "n_pairs", "criterion")
_MAX_METRIC_PANELS = 6


@dataclass
class _Pair:
    """One source→target direction of a run and what can be shown for it."""

    src_lang: str
    tgt_lang: str
    entry: dict  # the run's entry for this direction (settings, history, diagnosis, bli...)
    src: Embeddings | None = None
    tgt: Embeddings | None = None
    lexicon: Lexicon | None = None
    lexicon_name: str | None = None
    analysis: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.src_lang}→{self.tgt_lang}"


def write_report(
    run_dir: PathLike,
    *,
    out: PathLike | None = None,
    vectors: Mapping[str, Embeddings | PathLike] | None = None,
    lexicon: Lexicon | PathLike | None = None,
    random_state: int | None = 0,
    device=None,
) -> Path:
    """Write ``report.html`` (and its PNGs) for the run in ``run_dir``.

    Parameters
    ----------
    run_dir : path
        A folder holding ``report.json`` (from ``xling align``, ``eval``,
        ``train`` or ``train-joint``) and the run's vectors.
    out : path, optional
        The HTML file to write; default ``run_dir / "report.html"``. The PNGs
        go to ``report_files/`` beside it.
    vectors : mapping str -> Embeddings or path, optional
        The vectors of each language in the shared space, instead of the files
        of the run (e.g. those still in memory after :func:`xling.workflow.align`).
    lexicon : Lexicon or path, optional
        Test lexicon for runs whose report names none (``train-joint``).
    random_state : int, optional
        Seeds the choice of example words, random pairs and PCA pairs.
    device : str, optional
        Where retrieval runs (None: CUDA when present).

    Returns
    -------
    Path
        The HTML file written.

    Raises
    ------
    XlingError
        ``report.json`` is missing, is not a JSON object, or names vectors
        that cannot be found.
    FormatError
        ``report.json`` is not valid JSON (with its line).

    Examples
    --------
    >>> path = write_report("xling-demo")  # doctest: +SKIP
    """
    run_dir = Path(run_dir)
    report = _read_report(run_dir)
    out = run_dir / "report.html" if out is None else Path(out)
    rng = check_random_state(random_state)
    kind = _kind(report)
    pairs = _pairs(report, kind, run_dir, vectors, lexicon)
    for pair in pairs:
        if pair.src is not None and pair.tgt is not None and pair.lexicon is not None:
            pair.analysis = _analyse(pair, rng, device)
    figures: dict[str, bytes] = {}
    body = _render(report, kind, run_dir, pairs, figures)
    files_dir = out.parent / "report_files"
    for name, png in figures.items():
        with atomic_output(files_dir / name, "wb") as fh:
            fh.write(png)
    with atomic_output(out, "w") as fh:
        fh.write(body)
    logger.info("wrote %s with %d plots", out, len(figures))
    return out


# -- reading the run ------------------------------------------------------------
def _read_report(run_dir: Path) -> dict:
    path = run_dir / "report.json"
    if not path.is_file():
        raise XlingError(f"Expected a run folder holding report.json, got no file {path}")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise FormatError(f"Expected UTF-8 JSON, got undecodable byte at offset {exc.start}", str(path)) from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"Expected JSON, got {exc.msg} at column {exc.colno}", str(path), exc.lineno) from None
    if not isinstance(report, dict):
        raise XlingError(f"Expected a JSON object in {path}, got {type(report).__name__}")
    return report


def _kind(report: dict) -> str:
    if isinstance(report.get("kind"), str):
        return report["kind"]
    if isinstance(report.get("sources"), dict):
        return "align"
    if "src_mono" in report:
        return "train-joint"
    if "bli" in report and "src" in report:
        return "eval"
    return "train"


def _resolve(path: PathLike, run_dir: Path) -> Path:
    """A file named in report.json: as written, else relative to the run folder."""
    path = Path(path)
    if path.exists() or path.is_absolute():
        return path
    return run_dir / path


def _vectors(lang: str, candidates: Sequence[Path], given: Mapping | None) -> Embeddings:
    if given and lang in given:
        space = given[lang]
        return space if isinstance(space, Embeddings) else Embeddings.read(space)
    for path in candidates:
        if path.is_file():
            return Embeddings.read(path)
    raise XlingError(f"Expected the vectors of {lang!r} at {' or '.join(map(str, candidates))}, found none")


def _files(report: dict, run_dir: Path) -> list[Path]:
    files = report.get("files")
    if isinstance(files, dict):
        files = list(files.values())
    if isinstance(files, list):
        return [_resolve(f, run_dir) for f in files if isinstance(f, str)]
    return []


def _pairs(report: dict, kind: str, run_dir: Path, given, lexicon) -> list[_Pair]:
    from xling.workflow import read_lexicon, stem

    case = report.get("lexicon_case", "auto")
    pairs = []
    if kind == "align":
        target = report.get("target_lang") or stem(report.get("target", "target"))
        files = _files(report, run_dir)
        for lang, entry in report["sources"].items():
            pair = _Pair(lang, target, entry)
            if "eval_lexicon" in entry or lexicon is not None:
                cands = lambda l: [*(f for f in files if f.name == f"{l}.mapped.vec"), run_dir / f"{l}.mapped.vec"]
                pair.src, pair.tgt = _vectors(lang, cands(lang), given), _vectors(target, cands(target), given)
            pairs.append(pair)
    elif kind == "eval":
        src, tgt = Path(str(report["src"])), Path(str(report["tgt"]))
        pair = _Pair(stem(src), stem(tgt), report)
        pair.src = _vectors(pair.src_lang, [_resolve(src, run_dir)], given)
        pair.tgt = _vectors(pair.tgt_lang, [_resolve(tgt, run_dir)], given)
        pairs.append(pair)
    elif kind == "train-joint":
        files = _files(report, run_dir) or sorted(run_dir.glob("*.vec"))
        langs = [stem(f) for f in files]
        if len(langs) == 2 and lexicon is not None:  # without a test lexicon only the history is shown
            pair = _Pair(langs[0], langs[1], report)
            pair.src, pair.tgt = (_vectors(lang, [f], given) for lang, f in zip(langs, files))
            pairs.append(pair)
    for pair in pairs:
        name = lexicon if lexicon is not None else pair.entry.get("eval_lexicon")
        if name is None or pair.src is None or pair.tgt is None:
            continue
        if isinstance(name, Lexicon):
            pair.lexicon, pair.lexicon_name = name, "lexicon"
        else:
            path = _resolve(name, run_dir)
            if not path.is_file():
                raise XlingError(f"Expected the test lexicon {name} named in {run_dir / 'report.json'}, found no such file")
            pair.lexicon, pair.lexicon_name = read_lexicon(path, pair.src, pair.tgt, case), str(name)
    return pairs


# -- analysis -------------------------------------------------------------------
def _analyse(pair: _Pair, rng: np.random.Generator, device) -> dict:
    """Per-word retrieval statistics of one direction (everything the plots need)."""
    from xling.evaluate import bli
    from xling.retrieval import retrieve

    src, tgt, lexicon = pair.src, pair.tgt, pair.lexicon
    recorded = pair.entry.get("bli")
    if not isinstance(recorded, dict) or not recorded:
        # No BLI in the run (train-joint with a lexicon given): the project's evaluator fills it in.
        recorded = pair.entry["bli"] = {m: bli(src, tgt, lexicon, method=m, device=device) for m in ("nn", "csls")}
    methods = list(dict.fromkeys([*recorded, "nn", "csls"]))
    rows, golds = [], []
    for word in lexicon.sources:  # the covered test words, in bli()'s order
        row = src.word_to_index.get(word)
        gold = sorted({tgt.word_to_index[t] for t in lexicon[word] if t in tgt.word_to_index})
        if row is not None and gold:
            rows.append(row)
            golds.append(gold)
    rows_arr = np.asarray(rows, dtype=np.int64)
    result: dict[str, Any] = {"n_queries": len(rows), "methods": {}}
    first_rank = {}
    for method in methods:
        opts = {"knn_k": recorded.get(method, {}).get("knn_k", 10), "beta": recorded.get(method, {}).get("beta", 30.0)}
        _, top = retrieve(src.vectors[rows_arr], tgt.vectors, HUB_K, method=method, sources=src.vectors,
                          device=device, **opts)
        top = top.numpy()
        hit = np.array([[t in set(g) for t in row_top] for row_top, g in zip(top, golds)], dtype=bool)
        rank = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)  # 1-based, 0 = not in the top HUB_K
        first_rank[method] = rank
        counts = np.bincount(top.ravel(), minlength=len(tgt))
        worst = np.argsort(-counts, kind="stable")[:N_HUBS]
        result["methods"][method] = {
            "top": top,
            "hits_at_1": int((rank == 1).sum()),
            "bands": _bands(rows_arr, rank),
            "k_occurrence": np.bincount(counts).tolist(),  # [number of targets with N_k = 0, = 1, ...]
            "hubs": [(tgt.words[j], int(counts[j])) for j in worst],
            "skewness": _skewness(counts),
        }
    # Cosine after mapping of every gold pair, and of as many random (test word, target word) pairs.
    S, T = normalize(src.vectors[rows_arr], "unit"), normalize(tgt.vectors, "unit")
    q_of, g_of = zip(*[(q, g) for q, gold in enumerate(golds) for g in gold])
    q_of, g_of = np.asarray(q_of), np.asarray(g_of)
    result["gold_cosines"] = np.einsum("ij,ij->i", S[q_of], T[g_of])
    result["random_cosines"] = np.einsum(
        "ij,ij->i", S[rng.integers(0, len(rows), len(q_of))], T[rng.integers(0, len(tgt), len(q_of))])
    # Examples: a seeded sample of covered test words, shown in frequency order.
    chosen = np.sort(rng.choice(len(rows), size=min(N_EXAMPLES, len(rows)), replace=False))
    result["examples"] = [
        {"word": src.words[rows[q]], "gold": [tgt.words[g] for g in golds[q]],
         **{m: [tgt.words[j] for j in result["methods"][m]["top"][q, :N_EXAMPLE_CANDIDATES]] for m in methods}}
        for q in chosen
    ]
    pca_q = np.sort(rng.choice(len(rows), size=min(N_PCA_PAIRS, len(rows)), replace=False))
    result["pca"] = _pca_pairs(S[pca_q], T[[golds[q][0] for q in pca_q]],
                               [src.words[rows[q]] for q in pca_q], [tgt.words[golds[q][0]] for q in pca_q])
    result["recorded"] = recorded
    return result


def _bands(rows: np.ndarray, rank: np.ndarray) -> list[dict]:
    out = []
    for start, stop in FREQUENCY_BANDS:
        inside = (rows >= start) & (rows < (stop if stop is not None else np.iinfo(np.int64).max))
        n = int(inside.sum())
        out.append({"band": _band_name(start, stop), "n": n, "hits_at_1": int((rank[inside] == 1).sum()),
                    "p@1": float((rank[inside] == 1).mean()) if n else None})
    return out


def _band_name(start: int, stop: int | None) -> str:
    k = lambda v: f"{v // 1000}k" if v else "0"
    return f"{k(start)}–{k(stop)}" if stop is not None else f"{k(start)}+"


def _skewness(counts: np.ndarray) -> float:
    """Skewness of the k-occurrence distribution (Radovanović et al. 2010): 0 = no hubs."""
    sd = counts.std()
    return float(((counts - counts.mean()) ** 3).mean() / sd**3) if sd > 0 else 0.0


def _pca_pairs(A: np.ndarray, B: np.ndarray, src_words, tgt_words) -> dict:
    """2-D PCA of the pair vectors A (n, d) and B (n, d), fitted on both together."""
    both = np.concatenate([A, B]).astype(np.float64)
    both -= both.mean(axis=0)
    _, s, vt = np.linalg.svd(both, full_matrices=False)
    xy = both @ vt[:2].T
    explained = (s[:2] ** 2 / (s**2).sum()).tolist() if s.size else [0.0, 0.0]
    return {"src": xy[: len(A)].tolist(), "tgt": xy[len(A):].tolist(), "src_words": list(src_words),
            "tgt_words": list(tgt_words), "explained": explained}


# -- plots ----------------------------------------------------------------------
def _figure(rows: int = 1, cols: int = 1):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise XlingError('Expected matplotlib for HTML reports, got none installed: pip install "matplotlib>=3.7"') from None
    # A bare Figure (no pyplot) renders with the Agg canvas and leaves the
    # caller's global matplotlib backend and state alone.
    fig = Figure(figsize=(FIGURE_PIXELS[0] / _DPI, FIGURE_PIXELS[1] / _DPI), dpi=_DPI, layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)  # no bbox_inches="tight": every PNG is FIGURE_PIXELS
    return buf.getvalue()


def _plot_bli(recorded: dict) -> bytes:
    fig, ax = _figure()
    ax = ax[0, 0]
    ks = sorted({int(k[2:]) for r in recorded.values() for k in r if k.startswith("p@")})
    width = 0.8 / len(recorded)
    for i, (method, r) in enumerate(recorded.items()):
        xs = np.arange(len(ks)) + (i - (len(recorded) - 1) / 2) * width
        bars = ax.bar(xs, [100 * r.get(f"p@{k}", 0.0) for k in ks], width, label=method.upper())
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(np.arange(len(ks)), [f"P@{k}" for k in ks])
    ax.set_ylabel("% of evaluable test words")
    ax.set_title("Precision at k by retrieval method")
    ax.legend()
    return _png(fig)


def _plot_bands(analysis: dict) -> bytes:
    fig, ax = _figure()
    ax = ax[0, 0]
    methods = analysis["methods"]
    names = [b["band"] for b in next(iter(methods.values()))["bands"]]
    counts = [b["n"] for b in next(iter(methods.values()))["bands"]]
    width = 0.8 / len(methods)
    for i, (method, m) in enumerate(methods.items()):
        xs = np.arange(len(names)) + (i - (len(methods) - 1) / 2) * width
        ax.bar(xs, [100 * (b["p@1"] or 0.0) for b in m["bands"]], width, label=method.upper())
    ax.set_xticks(np.arange(len(names)), [f"rank {n}\n{c} words" for n, c in zip(names, counts)])
    ax.set_ylabel("P@1 (%)")
    ax.set_title("P@1 by frequency rank of the source word")
    ax.legend()
    return _png(fig)


def _plot_hubness(analysis: dict) -> bytes:
    fig, ax = _figure()
    ax = ax[0, 0]
    for method in ("nn", "csls"):
        dist = analysis["methods"][method]["k_occurrence"]
        ks = [k for k, n in enumerate(dist) if n > 0]
        ax.plot(ks, [dist[k] for k in ks], marker="o", markersize=3,
                label=f"{method.upper()} (skewness {analysis['methods'][method]['skewness']:.1f})")
    ax.set_yscale("log")
    ax.set_xlabel(f"k-occurrence: times a target word is among the top {HUB_K} of a test word")
    ax.set_ylabel("target words")
    ax.set_title("Hubness: a long tail means a few targets crowd many neighbour lists")
    ax.legend()
    return _png(fig)


def _plot_similarity(analysis: dict) -> tuple[bytes, dict]:
    fig, ax = _figure()
    ax = ax[0, 0]
    gold, rand = analysis["gold_cosines"], analysis["random_cosines"]
    bins = np.linspace(min(gold.min(), rand.min()), max(gold.max(), rand.max()), 41)
    g_counts, _, _ = ax.hist(gold, bins=bins, alpha=0.6, label=f"gold pairs (mean {gold.mean():.3f})")
    r_counts, _, _ = ax.hist(rand, bins=bins, alpha=0.6, label=f"random pairs (mean {rand.mean():.3f})")
    ax.set_xlabel("cosine after mapping")
    ax.set_ylabel("pairs")
    ax.set_title(f"Gold translations vs random pairs ({len(gold)} each)")
    ax.legend()
    counts = {"bins": bins.tolist(), "gold": g_counts.astype(int).tolist(), "random": r_counts.astype(int).tolist()}
    return _png(fig), counts


def _plot_pca(pca: dict) -> bytes:
    fig, ax = _figure()
    ax = ax[0, 0]
    S, T = np.asarray(pca["src"]), np.asarray(pca["tgt"])
    for (x0, y0), (x1, y1) in zip(S, T):
        ax.plot([x0, x1], [y0, y1], color="0.75", linewidth=0.8, zorder=1)
    ax.scatter(S[:, 0], S[:, 1], s=14, label="source word", zorder=2)
    ax.scatter(T[:, 0], T[:, 1], s=14, marker="s", label="its gold translation", zorder=2)
    for (x, y), w in zip(S, pca["src_words"]):
        ax.annotate(w, (x, y), fontsize=7, xytext=(2, 2), textcoords="offset points")
    for (x, y), w in zip(T, pca["tgt_words"]):
        ax.annotate(w, (x, y), fontsize=7, xytext=(2, -8), textcoords="offset points", color="0.35")
    ax.set_xlabel(f"PC 1 ({100 * pca['explained'][0]:.0f}% of variance)")
    ax.set_ylabel(f"PC 2 ({100 * pca['explained'][1]:.0f}%)")
    ax.set_title(f"{len(S)} translation pairs in the shared space (PCA); short lines = close translations")
    ax.legend(loc="best", fontsize=8)
    return _png(fig)


def _history_series(history: Sequence) -> dict[str, dict[str, tuple[list, list]]]:
    """``{metric: {phase: (x, y)}}`` from history entries of either schema.

    x is "step", else "iteration", else "epoch", else the entry's position;
    the diagnosis entry and non-numeric values are left out.
    """
    series: dict[str, dict[str, tuple[list, list]]] = {}
    for i, event in enumerate(history):
        if not isinstance(event, dict) or event.get("phase") == "diagnosis":
            continue
        x = next((event[k] for k in _AXIS_KEYS if _number(event.get(k))), i + 1)
        phase = str(event.get("phase", ""))
        for key, value in event.items():
            if key in _NOT_METRICS or key in _VALIDATION_KEYS or not _number(value) or not math.isfinite(value):
                continue
            xs, ys = series.setdefault(key, {}).setdefault(phase, ([], []))
            xs.append(x)
            ys.append(value)
    order = {m: i for i, m in enumerate(_METRIC_ORDER)}
    return dict(sorted(series.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def _validation_series(history: Sequence) -> dict[str, tuple[list, list]]:
    """``{"NN": (x, P@1 %), "CSLS": ...}`` of the validation metrics in a history (x as in :func:`_history_series`)."""
    series: dict[str, tuple[list, list]] = {}
    for i, event in enumerate(history):
        if not isinstance(event, dict):
            continue
        x = next((event[k] for k in _AXIS_KEYS if _number(event.get(k))), i + 1)
        for key, label in _VALIDATION_KEYS.items():
            value = event.get(key)
            if _number(value) and math.isfinite(value):
                xs, ys = series.setdefault(label, ([], []))
                xs.append(x)
                ys.append(100 * value)
    return series


def _plot_validation(series: dict) -> bytes:
    fig, ax = _figure()
    ax = ax[0, 0]
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", markersize=3, label=label)
    ax.set_xlabel("iteration (step)")
    ax.set_ylabel("P@1 on the validation lexicon (%)")
    ax.set_title("Validation P@1 per iteration")
    ax.legend()
    return _png(fig)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _plot_history(series: dict) -> bytes:
    names = list(series)[:_MAX_METRIC_PANELS]
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = _figure(rows, cols)
    for ax, name in zip(axes.ravel(), names):
        for phase, (xs, ys) in series[name].items():
            ax.plot(xs, ys, marker="o", markersize=3, label=phase or None)
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelsize=8)
        if any(series[name]):
            ax.legend(fontsize=7)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    fig.suptitle("Training history (x: step, iteration or epoch)", fontsize=11)
    return _png(fig)


# -- HTML -----------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:.92em}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.banner{padding:1em 1.2em;border-radius:6px;margin:1em 0;font-size:1.05em}
.pass{background:#e3f5e1;border:2px solid #3a8f35}.fail{background:#fbe3e1;border:2px solid #c0392b}
.verdict{font-weight:bold;font-size:1.2em}.gold{background:#d9f2d0;font-weight:bold}
.note{color:#555;font-size:.9em}pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}
img{max-width:100%;height:auto;border:1px solid #eee}
"""


def _e(value) -> str:
    return html.escape(str(value))


def _pct(value) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def _table(header: Sequence[str] | None, rows: Sequence[Sequence], numeric: Sequence[int] = ()) -> str:
    head = "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead>" if header else ""
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{_e(c)}</td>' if j in numeric else f"<td>{_e(c)}</td>"
                         for j, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table>{head}<tbody>{body}</tbody></table>"


class _Page:
    """Collects the HTML sections, the figures (PNG bytes by file name) and the plotted data."""

    def __init__(self, figures: dict[str, bytes]):
        self.parts: list[str] = []
        self.figures = figures
        self.data: dict[str, Any] = {}

    def image(self, name: str, png: bytes, alt: str) -> str:
        self.figures[name] = png
        w, h = FIGURE_PIXELS
        b64 = base64.b64encode(png).decode("ascii")
        return f'<p><img src="data:image/png;base64,{b64}" alt="{_e(alt)}" width="{w}" height="{h}" data-file="report_files/{_e(name)}"></p>'

    def section(self, sid: str, title: str, content: str, level: int = 3) -> None:
        self.parts.append(f'<section id="{_e(sid)}" data-section="{_e(sid.split("-")[0])}"><h{level}>{_e(title)}</h{level}>{content}</section>')


def _render(report: dict, kind: str, run_dir: Path, pairs: list[_Pair], figures: dict[str, bytes]) -> str:
    from xling import __version__

    page = _Page(figures)
    method = report.get("method", "")
    title = f"xling {kind} report: {method}" + (f" ({', '.join(p.label for p in pairs)})" if pairs else "")
    page.data = {"kind": kind, "method": method, "pairs": {}}
    for pair in pairs:
        if isinstance(pair.entry.get("diagnosis"), dict):
            _diagnosis_banner(page, pair)
    for n, pair in enumerate(pairs):
        slug = f"p{n}"
        page.parts.append(f"<h2>{_e(pair.label)}</h2>")
        data = page.data["pairs"][pair.label] = {}
        recorded = pair.entry.get("bli")
        if isinstance(recorded, dict) and recorded:
            _bli_sections(page, pair, recorded, slug, data)
        history = pair.entry.get("history") if kind in ("align", "eval") else None
        if history:
            _validation_section(page, history, f"validation-{slug}", data)
            _history_section(page, history, f"history-{slug}", data)
    if kind not in ("align", "eval") and report.get("history"):
        page.parts.append("<h2>Training</h2>")
        _history_section(page, report["history"], "history-run", page.data)
    _settings_section(page, report, kind, run_dir, pairs, __version__)
    data_json = json.dumps(jsonable(page.data), ensure_ascii=False).replace("</", "<\\/")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>"
        + "".join(page.parts)
        + f'<script type="application/json" id="xling-report-data">{data_json}</script>'
        + _LOAD_CHECK + "</body></html>\n"
    )


# Marks the page once loaded with the number of images that failed to decode
# (body data-broken-images), so a headless browser can check the rendering.
_LOAD_CHECK = ("<script>window.addEventListener('load',function(){document.body.dataset.brokenImages="
               "Array.prototype.filter.call(document.images,function(i){return !i.complete||i.naturalWidth===0}).length;"
               "});</script>")


def _diagnosis_banner(page: _Page, pair: _Pair) -> None:
    d = pair.entry["diagnosis"]
    ok = bool(d.get("success"))
    rows = []
    spelling = d.get("spelling")
    if isinstance(spelling, dict):
        rec = spelling.get("identical_recovered")
        rows.append(("spelling check", f"{spelling.get('identical_words', 0)} words spelled alike; "
                     + ("inconclusive" if not spelling.get("conclusive") else
                        f"{_pct(rec)}% translated to themselves: {'pass' if spelling.get('success') else 'fail'}")))
    crit = d.get("criterion", d.get("heldout_criterion"))
    if _number(crit):
        base = d.get("random_baseline")
        rows.append(("criterion vs random rotation", f"{crit:.3f} vs {base:.3f}" if _number(base) else f"{crit:.3f}"))
    if _number(d.get("heldout_agreement")):
        rows.append(("held-out agreement", f"{_pct(d['heldout_agreement'])}% of held-out induced pairs recovered"))
    verdict = "PASS: the mapping works" if ok else "FAIL: the mapping has probably failed"
    content = (f'<div class="banner {"pass" if ok else "fail"}" data-success="{str(ok).lower()}">'
               f'<div class="verdict">{_e(pair.label)} — {verdict}</div><p>{_e(d.get("message", ""))}</p>'
               f"{_table(('check', 'result'), rows)}</div>")
    page.section(f"diagnosis-{pair.src_lang}", "Diagnosis", content, level=2)


def _bli_sections(page: _Page, pair: _Pair, recorded: dict, slug: str, data: dict) -> None:
    ks = sorted({int(k[2:]) for r in recorded.values() for k in r if k.startswith("p@")})
    rows = [(m.upper(), *[_pct(r.get(f"p@{k}")) for k in ks], _pct(r.get("mrr")), f"{_pct(r.get('coverage'))}%",
             f"{r.get('n_queries')}/{r.get('n_test_words')}") for m, r in recorded.items()]
    lexicon = pair.lexicon_name or pair.entry.get("eval_lexicon", "")
    text = (f'<p>Test lexicon <code>{_e(lexicon)}</code>. Scores in % of the evaluable test words '
            "(the source word and one of its translations have vectors); any gold translation in the top k counts.</p>"
            + _table(("retrieval", *[f"P@{k}" for k in ks], "MRR", "coverage", "evaluable / test words"), rows,
                     numeric=range(1, len(ks) + 3)))
    data["bli"] = {m: {k: v for k, v in r.items()} for m, r in recorded.items()}
    text += page.image(f"{slug}-bli.png", _plot_bli(recorded), "P@k by retrieval method")
    page.section(f"bli-{slug}", "Bilingual lexicon induction", text)
    a = pair.analysis
    if not a:
        return
    notes = []
    for m, r in recorded.items():
        expected = r.get("p@1", 0.0) * r.get("n_scored", r.get("n_queries", 0))
        if m in a["methods"] and abs(a["methods"][m]["hits_at_1"] - expected) > 0.5:
            notes.append(f"{m.upper()}: {a['methods'][m]['hits_at_1']} hits at 1 now vs {expected:.0f} recorded")
    warn = ("<p class=\"note\">The vectors give other results than the run recorded (were they changed?): "
            + _e("; ".join(notes)) + "</p>") if notes else ""
    methods = list(a["methods"])
    band_rows = [(b["band"], b["n"], *[_pct(a["methods"][m]["bands"][i]["p@1"]) for m in methods])
                 for i, b in enumerate(a["methods"][methods[0]]["bands"])]
    data["bands"] = {m: a["methods"][m]["bands"] for m in methods}
    page.section(f"bands-{slug}", "P@1 by frequency band",
                 "<p>Bands of the source word's rank in its vector file (frequency order).</p>" + warn
                 + _table(("rank band", "evaluable words", *[f"P@1 {m.upper()} (%)" for m in methods]), band_rows,
                          numeric=range(1, len(methods) + 2))
                 + page.image(f"{slug}-bands.png", _plot_bands(a), "P@1 by frequency band"))
    hub_rows = [(i + 1, *[f"{w} ({c})" for w, c in (a["methods"][m]["hubs"][i] for m in ("nn", "csls"))])
                for i in range(min(N_HUBS, len(a["methods"]["nn"]["hubs"])))]
    data["hubness"] = {m: {"k_occurrence": a["methods"][m]["k_occurrence"], "hubs": a["methods"][m]["hubs"],
                           "skewness": a["methods"][m]["skewness"]} for m in ("nn", "csls")}
    page.section(f"hubness-{slug}", "Hubness",
                 f"<p>How often each target word is among the top {HUB_K} retrieved for the {a['n_queries']} "
                 "evaluated source words. CSLS should shorten the tail.</p>"
                 + page.image(f"{slug}-hubness.png", _plot_hubness(a), "k-occurrence distribution")
                 + f"<p>The {N_HUBS} worst hubs (k-occurrence in brackets):</p>"
                 + _table(("#", "NN", "CSLS"), hub_rows, numeric=(0,)))
    png, counts = _plot_similarity(a)
    data["similarity"] = {"n_pairs": int(len(a["gold_cosines"])), **counts,
                          "gold_mean": float(a["gold_cosines"].mean()), "random_mean": float(a["random_cosines"].mean())}
    page.section(f"similarity-{slug}", "Similarity of translations",
                 f"<p>Cosine after mapping of the {len(a['gold_cosines'])} gold (test word, translation) pairs and of as "
                 "many random (test word, target word) pairs. The further apart, the better the map.</p>"
                 + page.image(f"{slug}-similarity.png", png, "cosine histograms"))
    ex_methods = [m for m in ("nn", "csls") if m in a["methods"]]
    cells = []
    for ex in a["examples"]:
        gold = set(ex["gold"])
        cand = "".join(f"<td>{' '.join(_word(w, w in gold) for w in ex[m])}</td>" for m in ex_methods)
        cells.append(f"<tr><td>{_e(ex['word'])}</td><td>{_e(', '.join(ex['gold']))}</td>{cand}</tr>")
    data["examples"] = a["examples"]
    page.section(f"examples-{slug}", "Example translations",
                 f"<p>{len(a['examples'])} random test words (in frequency order), top {N_EXAMPLE_CANDIDATES} "
                 "translations; <span class=\"gold\">gold</span> ones marked.</p><table><thead><tr><th>word</th>"
                 "<th>gold</th>" + "".join(f"<th>{m.upper()} top {N_EXAMPLE_CANDIDATES}</th>" for m in ex_methods)
                 + "</tr></thead><tbody>" + "".join(cells) + "</tbody></table>")
    data["pca"] = a["pca"]
    page.section(f"pca-{slug}", "Translation pairs in the shared space",
                 page.image(f"{slug}-pca.png", _plot_pca(a["pca"]), "PCA of translation pairs"))


def _word(word: str, gold: bool) -> str:
    return f'<span class="gold">{_e(word)}✓</span>' if gold else _e(word)


def _history_section(page: _Page, history, sid: str, data: dict) -> None:
    series = _history_series(history if isinstance(history, list) else [])
    if not series:
        return
    data["history"] = {name: {phase: {"x": xs, "y": ys} for phase, (xs, ys) in by_phase.items()}
                       for name, by_phase in series.items()}
    last = [(name, phase or "", xs[-1], f"{ys[-1]:.6g}", len(xs)) for name, by_phase in series.items()
            for phase, (xs, ys) in by_phase.items()]
    page.section(sid, "History",
                 page.image(f"{sid}.png", _plot_history(series), "metrics per step")
                 + _table(("metric", "phase", "last step", "last value", "points"), last, numeric=(2, 3, 4)))


def _validation_section(page: _Page, history, sid: str, data: dict) -> None:
    series = _validation_series(history if isinstance(history, list) else [])
    if not series:
        return
    data["validation"] = {label: {"x": xs, "y": ys} for label, (xs, ys) in series.items()}
    rows = [(label, xs[-1], f"{ys[-1]:.2f}", f"{max(ys):.2f}", xs[ys.index(max(ys))], len(xs))
            for label, (xs, ys) in series.items()]
    page.section(sid, "Validation P@1",
                 page.image(f"{sid}.png", _plot_validation(series), "validation P@1 per iteration")
                 + _table(("retrieval", "last step", "last P@1 %", "best P@1 %", "best step", "points"), rows,
                          numeric=(1, 2, 3, 4, 5)))


def _seed(report: dict):
    """The run's seed: recorded by align, else the trainer's random_state."""
    if "seed" in report:
        return report["seed"]
    settings = report.get("settings")
    return settings.get("random_state", "not recorded") if isinstance(settings, dict) else "not recorded"


def _settings_section(page: _Page, report: dict, kind: str, run_dir: Path, pairs: list[_Pair], version: str) -> None:
    import numpy
    import torch

    try:
        import matplotlib
        mpl = matplotlib.__version__
    except ImportError:  # pragma: no cover - _figure already needs it
        mpl = "absent"
    rows = [("kind", kind), ("run folder", str(run_dir)), ("method", report.get("method", "")),
            ("seed", _seed(report)),
            ("xling version of the run", report.get("xling_version", "not recorded")),
            ("report written by", f"xling {version}, Python {platform.python_version()}, numpy {numpy.__version__}, "
                                  f"torch {torch.__version__}, matplotlib {mpl}")]
    for key in ("target", "src", "tgt", "src_mono", "tgt_mono", "parallel", "documents", "lexicon", "eval_lexicon",
                "corpus", "seconds"):
        if key in report and not isinstance(report[key], dict):
            rows.append((key, report[key]))
    if report.get("files"):
        rows.append(("output files", ", ".join(map(str, report["files"].values() if isinstance(report["files"], dict) else report["files"]))))
    text = _table(None, rows)
    for pair in pairs:
        e = pair.entry
        if e is report:
            continue
        prow = [(k, e[k]) for k in ("source", "lexicon", "pairs_used", "eval_lexicon", "fit_seconds", "eval_seconds", "n_iter")
                if k in e]
        if isinstance(e.get("lexicon_coverage"), dict):
            prow.append(("seed lexicon coverage", ", ".join(f"{k} {v}" for k, v in e["lexicon_coverage"].items())))
        text += f"<h4>{_e(pair.label)}</h4>" + _table(None, prow)
        if e.get("settings"):
            text += f"<pre>{_e(json.dumps(e['settings'], indent=2, ensure_ascii=False, default=str))}</pre>"
    if isinstance(report.get("settings"), dict):
        text += f"<pre>{_e(json.dumps(report['settings'], indent=2, ensure_ascii=False, default=str))}</pre>"
    page.parts.append("<h2>Settings</h2>")
    page.section("settings", "Run", text)
