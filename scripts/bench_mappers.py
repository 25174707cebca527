"""Every mapping solver on real vectors: BLI (NN and CSLS), coverage, fit time, peak memory.

Reads ``en.vec`` and ``<lang>.vec`` from a folder of monolingual vectors (the
``limit`` most frequent words), fits each solver on the training lexicon and
evaluates word translation on the test lexicon, both lower-cased:

* en-es: ``en-es.0-5000`` → ``en-es.5000-6500``;
* en-de, en-fr, en-it: xling-eval ``yacle.train.freq.5k`` → ``yacle.test.freq.2k``.

Modes
-----
``supervised``    every supervised solver on the 5k training lexicon;
``curve``         Procrustes, self-learning and RCSLS with 500/1k/3k/5k pairs (xling-eval);
``unsupervised``  the methods that use no lexicon at all (adversarial, similarity-distribution
                  initialisation, self-learning seeded by identical strings or numerals).

"Peak MiB" is the largest growth of the process's resident memory during
``fit`` (sampled every 5 ms), so it includes torch and BLAS buffers.

Example::

    flock /tmp/xling-heavy.lock python scripts/bench_mappers.py runs/vectors/xling-sgns \\
        --pairs en-de --mode supervised --json runs/bench_mappers/sup-en-de.json
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import threading
import time
import warnings
from pathlib import Path

import torch

from xling import Embeddings, Lexicon
from xling.evaluate import bli
from xling.map import MAPPERS

EVAL = "lexicons/xling-eval/en-{l}/yacle.{split}.en-{l}.tsv"
LEXICONS = {
    "en-es": ("lexicons/en-es/en-es.0-5000.tsv", "lexicons/en-es/en-es.5000-6500.tsv"),
    **{f"en-{l}": (EVAL.format(l=l, split="train.freq.5k"), EVAL.format(l=l, split="test.freq.2k")) for l in ("de", "fr", "it")},
}
CURVE_SIZES = ("500", "1k", "3k", "5k")

# name shown -> (MAPPERS key, settings); iterative settings sized for a 2-core CPU
SUPERVISED = {
    "least squares (mikolov2013)": ("mikolov2013", {}),
    "CCA (faruqui2014)": ("faruqui2014", {}),
    "orthogonal, unit (xing2015)": ("xing2015", {}),
    "orthogonal, unit+center+unit (artetxe2016)": ("artetxe2016", {}),
    "multi-step (artetxe2018-supervised)": ("artetxe2018-supervised", {}),
    "max-margin, intruders": ("maxmargin", {"n_epochs": 20}),
    "max-margin, random negatives": ("maxmargin", {"n_epochs": 20, "negatives": "random"}),
    "RCSLS (spectral)": ("rcsls", {"n_iter": 10}),
    "self-learning (Procrustes, 5k seeds)": ("selflearning", {"vocabulary_cutoff": 20_000, "max_iter": 8}),
}
CURVE = {
    "Procrustes": ("artetxe2016", {}),
    "self-learning": ("selflearning", {"vocabulary_cutoff": 20_000, "max_iter": 8}),
    "RCSLS": ("rcsls", {"n_iter": 10}),
}
UNSUPERVISED = {
    "adversarial + refinement (conneau2018)": (
        "adversarial", {"n_epochs": 2, "epoch_size": 40_000, "dis_hidden": 512, "max_rank": 20_000, "n_refinement": 3},
    ),
    "adversarial auto-encoder (barone2016)": (
        "adversarial-autoencoder", {"n_epochs": 2, "epoch_size": 40_000, "dis_hidden": 512, "max_rank": 20_000},
    ),
    "similarity-distribution init + stochastic self-learning (artetxe2018-unsupervised)": (
        "unsupervised", {"vocabulary_cutoff": 10_000, "stochastic_interval": 3, "max_iter": 30},
    ),
    "self-learning from identical strings (smith2017)": (
        "selflearning", {"seed": "identical", "vocabulary_cutoff": 20_000, "max_iter": 8},
    ),
    "self-learning from numerals (artetxe2017)": (
        "selflearning", {"seed": "numerals", "vocabulary_cutoff": 20_000, "max_iter": 8},
    ),
}


class PeakRSS:
    """Largest growth of resident memory while the block runs (MiB)."""

    def __enter__(self):
        self._page = os.sysconf("SC_PAGE_SIZE")
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _rss(self) -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self._page

    def _watch(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
        self.mib = (self.peak - self.start) / 2**20


def make(key: str, settings: dict, seed: int, device: str):
    cls = MAPPERS[key]
    params = dict(settings)
    names = cls().get_params()
    if "random_state" in names:
        params["random_state"] = seed
    if "device" in names:
        params["device"] = device
    return cls(**params)


def run_one(label, key, settings, src, tgt, pairs, test, args) -> dict:
    mapper = make(key, settings, args.seed, args.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with PeakRSS() as mem:
            start = time.perf_counter()
            # the words go to every solver that takes them (seeds, the spelling check), as in `xling align`
            if "src_words" in inspect.signature(mapper.fit).parameters:
                mapper.fit(src.vectors, tgt.vectors, pairs, src_words=src.words, tgt_words=tgt.words)
            else:
                mapper.fit(src.vectors, tgt.vectors, pairs)
            seconds = time.perf_counter() - start
    s_map = src.with_vectors(mapper.transform(src.vectors))
    t_map = tgt.with_vectors(mapper.transform_target(tgt.vectors))
    row = {"method": label, "key": key, "settings": settings, "fit_s": seconds, "peak_mib": mem.mib,
           "n_pairs": 0 if pairs is None else int(len(pairs)), "warnings": [str(w.message) for w in caught]}
    for retrieval in ("nn", "csls"):
        r = bli(s_map, t_map, test, method=retrieval, ks=(1, 5, 10), device=args.device)
        row[retrieval] = {k: r[k] for k in ("p@1", "p@5", "p@10", "coverage", "n_queries", "n_test_words")}
    if hasattr(mapper, "diagnosis_"):
        row["diagnosis"] = mapper.diagnosis_
    if hasattr(mapper, "n_iter_"):
        row["n_iter"] = int(mapper.n_iter_)
    print(f"  {label}: CSLS P@1 {100 * row['csls']['p@1']:.1f}, NN P@1 {100 * row['nn']['p@1']:.1f}, "
          f"fit {seconds:.1f}s, +{mem.mib:.0f} MiB" + (f" — {row['diagnosis']['message']}" if "diagnosis" in row else ""),
          flush=True)
    return row


def table(results: list[dict]) -> str:
    lines = [
        "| pair | method | seed pairs | NN P@1 | NN P@5 | NN P@10 | CSLS P@1 | CSLS P@5 | CSLS P@10 | coverage | fit s | peak MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        nn, cs = r["nn"], r["csls"]
        flag = " (**diagnosed as failed**)" if r.get("diagnosis", {}).get("success") is False else ""
        lines.append(
            f"| {r['pair']} | {r['method']}{flag} | {r['n_pairs']} | {100 * nn['p@1']:.1f} | {100 * nn['p@5']:.1f} | "
            f"{100 * nn['p@10']:.1f} | {100 * cs['p@1']:.1f} | {100 * cs['p@5']:.1f} | {100 * cs['p@10']:.1f} | "
            f"{cs['n_queries']}/{cs['n_test_words']} | {r['fit_s']:.1f} | {r['peak_mib']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("vectors_dir", type=Path, help="folder with en.vec, es.vec, de.vec, fr.vec, it.vec")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--pairs", default="en-es,en-de,en-fr,en-it")
    parser.add_argument("--mode", choices=("supervised", "curve", "unsupervised"), default="supervised")
    parser.add_argument("--methods", help="comma-separated subset of the method labels (default: all of the mode)")
    parser.add_argument("--limit", type=int, default=50_000, help="most frequent words read per language")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    methods = {"supervised": SUPERVISED, "curve": CURVE, "unsupervised": UNSUPERVISED}[args.mode]
    if args.methods:
        wanted = [m.strip() for m in args.methods.split(",")]
        methods = {k: v for k, v in methods.items() if any(w in k for w in wanted)}
    results = []
    vectors = {}
    for pair in args.pairs.split(","):
        src_lang, tgt_lang = pair.split("-")
        for lang in (src_lang, tgt_lang):
            if lang not in vectors:
                vectors[lang] = Embeddings.read(args.vectors_dir / f"{lang}.vec", limit=args.limit)
        src, tgt = vectors[src_lang], vectors[tgt_lang]
        train_path, test_path = LEXICONS[pair]
        test = Lexicon.read(args.data / test_path).lower()
        print(f"{pair}: {len(src)} x {len(tgt)} words, dim {src.dim}", flush=True)
        if args.mode == "curve":
            if pair == "en-es":
                raise SystemExit("the supervision curve uses the xling-eval sizes (en-de, en-fr, en-it)")
            runs = [(f"{label}, {size}", key, settings, args.data / EVAL.format(l=tgt_lang, split=f"train.freq.{size}"))
                    for size in CURVE_SIZES for label, (key, settings) in methods.items()]
        elif args.mode == "supervised":
            runs = [(label, key, settings, args.data / train_path) for label, (key, settings) in methods.items()]
        else:
            runs = [(label, key, settings, None) for label, (key, settings) in methods.items()]
        for label, key, settings, lexicon_file in runs:
            pairs = None
            if lexicon_file is not None:
                pairs, _ = Lexicon.read(lexicon_file).lower().to_pairs(src, tgt, name=lexicon_file.name)
            row = run_one(label, key, settings, src, tgt, pairs, test, args)
            row["pair"] = pair
            results.append(row)
            if args.json:
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(results, indent=1))
    print()
    print(f"vectors: {args.vectors_dir} (first {args.limit} words); seed {args.seed}; device {args.device}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(table(results))
    diagnosed = [r for r in results if "diagnosis" in r]
    if diagnosed:
        print("\nDiagnoses (no dictionary used):\n")
        for r in diagnosed:
            verdict = "ok" if r["diagnosis"]["success"] else "FAILED"
            print(f"* {r['pair']}, {r['method']}: {verdict} — {r['diagnosis']['message']}")


if __name__ == "__main__":
    main()
