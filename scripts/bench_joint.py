"""Joint bilingual objectives against the mapping pipeline, on real data.

For one language pair: read a slice of the monolingual novels (mono/) and the
parallel text (parallel/lohelp, plus the Bible for en-es), then train and
evaluate by bilingual lexicon induction (NN and CSLS, P@1 and P@10, with the
number of evaluable test words):

* ``sgns+procrustes``: :class:`xling.train.SkipGram` on each language's text
  (the same monolingual slice plus that language's side of the parallel text)
  + :class:`xling.map.Procrustes` on the training lexicon;
* ``bilbowa`` (one row per ``--lambdas`` value), ``transgram`` (``--transgram-lambda``): mono slice + parallel text;
* ``pseudo``: the mono slice mixed through the training lexicon (Gouws & Søgaard),
  ``pseudo+docs``: plus the parallel pairs merged and shuffled (Vulić & Moens);
* ``full-sgns+procrustes``: vectors trained by ``xling train`` on the full
  corpora, read from ``--sgns-dir`` when its ``READY`` file exists.

Prints a markdown table (and writes rows as JSON lines with ``--json``).

Example::

    flock /tmp/xling-heavy.lock python scripts/bench_joint.py --pair en-es --mono-lines 4000
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import torch

from xling import Embeddings, Lexicon, LineCorpus, ParallelCorpus
from xling.evaluate import bli
from xling.map import Procrustes
from xling.train import BilBOWA, PseudoBilingual, SkipGram, TransGram

LEXICONS = {
    "en-es": ("lexicons/en-es/en-es.0-5000.tsv", "lexicons/en-es/en-es.5000-6500.tsv"),
    **{f"en-{x}": (f"lexicons/xling-eval/en-{x}/yacle.train.freq.5k.en-{x}.tsv",
                   f"lexicons/xling-eval/en-{x}/yacle.test.freq.2k.en-{x}.tsv") for x in ("de", "fr", "it")},
}


def evaluate(src: Embeddings, tgt: Embeddings, lexicon: Lexicon) -> dict:
    row = {}
    for method in ("nn", "csls"):
        r = bli(src, tgt, lexicon, method=method, ks=(1, 10))
        row[f"{method} p@1"], row[f"{method} p@10"] = 100 * r["p@1"], 100 * r["p@10"]
        row["evaluable"], row["n_test"] = r["n_queries"], r["n_test_words"]
    return row


def procrustes(src: Embeddings, tgt: Embeddings, train: Lexicon) -> tuple[Embeddings, Embeddings]:
    pairs, _ = train.to_pairs(src, tgt)
    m = Procrustes().fit(src.vectors, tgt.vectors, pairs)
    return src.with_vectors(m.transform(src.vectors)), tgt.with_vectors(m.transform_target(tgt.vectors))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--pair", default="en-es", choices=sorted(LEXICONS))
    ap.add_argument("--mono-lines", type=int, default=4000, help="lines (paragraphs) of each novel corpus")
    ap.add_argument("--bible", action=argparse.BooleanOptionalAction, default=True,
                    help="add the Bible to the parallel text (en-es only)")
    ap.add_argument("--methods", default="sgns+procrustes,bilbowa,transgram,pseudo,pseudo+docs,full-sgns+procrustes")
    ap.add_argument("--lambdas", default="100", help="BilBOWA weights, comma-separated")
    ap.add_argument("--transgram-lambda", type=float, default=10.0, help="Trans-gram weight")
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sgns-dir", type=Path, default=Path(__file__).resolve().parents[1] / "runs" / "vectors" / "xling-sgns")
    ap.add_argument("--json", type=Path, help="append one JSON line per row")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    src_lang, tgt_lang = args.pair.split("-")
    d = args.data
    t0 = time.perf_counter()
    mono = [list(LineCorpus(d / "mono" / f"{lang}.txt.xz", max_lines=args.mono_lines)) for lang in (src_lang, tgt_lang)]
    lohelp = d / "parallel" / "lohelp"
    parallel = list(ParallelCorpus(lohelp / f"{args.pair}.{src_lang}.xz", lohelp / f"{args.pair}.{tgt_lang}.xz"))
    n_lohelp = len(parallel)
    if args.pair == "en-es" and args.bible:
        bible = d / "parallel" / "bible"
        parallel += list(ParallelCorpus(bible / "kjv-rv1909.en-es.en.xz", bible / "kjv-rv1909.en-es.es.xz"))
    train_lex, test_lex = (Lexicon.read(d / p).lower() for p in LEXICONS[args.pair])
    n_tok = [sum(map(len, m)) for m in mono]
    par_tok = [sum(len(p[i]) for p in parallel) for i in (0, 1)]
    print(f"<!-- {args.pair}: mono {args.mono_lines} lines = {n_tok[0]:,} + {n_tok[1]:,} tokens; parallel "
          f"{len(parallel):,} pairs ({n_lohelp:,} lohelp) = {par_tok[0]:,} + {par_tok[1]:,} tokens; "
          f"read in {time.perf_counter() - t0:.0f}s -->", flush=True)

    common = dict(vector_size=args.dim, window=args.window, min_count=args.min_count, epochs=args.epochs,
                  random_state=args.seed, workers=args.threads)
    rows = []

    def report(method, seconds, src, tgt, note=""):
        row = {"pair": args.pair, "method": method, "seconds": seconds, **evaluate(src, tgt, test_lex), "note": note}
        rows.append(row)
        print(f"| {args.pair} | {method} | {seconds:.0f} | {row['nn p@1']:.1f} | {row['nn p@10']:.1f} | "
              f"{row['csls p@1']:.1f} | {row['csls p@10']:.1f} | {row['evaluable']} / {row['n_test']} | {note} |",
              flush=True)
        if args.json:
            with open(args.json, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")

    print("| pair | method | train s | NN P@1 | NN P@10 | CSLS P@1 | CSLS P@10 | evaluable / test words | note |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for method in args.methods.split(","):
        t = time.perf_counter()
        if method == "sgns+procrustes":
            models = [SkipGram(**common).fit(m + [p[i] for p in parallel]) for i, m in enumerate(mono)]
            seconds = time.perf_counter() - t
            src, tgt = procrustes(models[0].embeddings_, models[1].embeddings_, train_lex)
            report(method, seconds, src, tgt, "mono slice + parallel sides, seed lexicon")
        elif method == "bilbowa":
            for lam in (float(x) for x in args.lambdas.split(",")):
                t = time.perf_counter()
                m = BilBOWA(cross_weight=lam, **common).fit(mono[0], mono[1], parallel)
                report(f"bilbowa λ={lam:g}", time.perf_counter() - t, m.src_embeddings_, m.tgt_embeddings_,
                       f"final Ω/pair {m.history_[-1]['cross_loss']:.3f}")
        elif method == "transgram":
            m = TransGram(cross_weight=args.transgram_lambda, **common).fit(mono[0], mono[1], parallel)
            report(f"transgram λ={args.transgram_lambda:g}", time.perf_counter() - t, m.src_embeddings_,
                   m.tgt_embeddings_)
        elif method in ("pseudo", "pseudo+docs"):
            m = PseudoBilingual(**common).fit(mono[0], mono[1], train_lex,
                                              documents=parallel if method == "pseudo+docs" else None)
            report(method, time.perf_counter() - t, m.src_embeddings_, m.tgt_embeddings_,
                   f"{m.n_replaced_:,} of {m.n_eligible_:,} translatable tokens replaced")
        elif method == "full-sgns+procrustes":
            if not (args.sgns_dir / "READY").exists():
                print(f"| {args.pair} | {method} | | | | | | | not available: no {args.sgns_dir / 'READY'} |")
                continue
            src, tgt = (Embeddings.read(next(itertools.chain(args.sgns_dir.glob(f"{lang}.vec*"),
                                                             args.sgns_dir.glob(f"{lang}.bin*"))))
                        for lang in (src_lang, tgt_lang))
            src, tgt = procrustes(src, tgt, train_lex)
            infos = [args.sgns_dir / f"{lang}.json" for lang in (src_lang, tgt_lang)]
            seconds = sum(json.loads(p.read_text())["seconds"] for p in infos) if all(p.exists() for p in infos) else 0.0
            report(method, seconds, src, tgt, "full novels; train s from the vectors' JSON reports")
        else:
            raise SystemExit(f"unknown method {method!r}")


if __name__ == "__main__":
    main()
