"""Many languages at once: multiCCA, multiCluster and the pairwise Procrustes hub on en, de, es, fr, it.

Three ways to put five languages into one space, evaluated on the same pairs:

* ``hub``: xling's hub of pairwise maps, :func:`xling.align` with orthogonal
  Procrustes (unit, center, unit), every language mapped onto English;
* ``multicca``: :func:`xling.align` with :class:`xling.map.MultiCCA` (Ammar
  et al. 2016), every language mapped into English's original space;
* ``multicluster``: :class:`xling.train.MultiCluster` trained on the five
  monolingual corpora with the same seed lexicons.

The first two use the full-corpus skip-gram vectors (``--vectors``, the
``--limit`` most frequent words of each language); multiCluster trains its own
vectors (``--dim``, ``--epochs``, ``--max-lines`` per corpus). Seed lexicons
are those of BENCHMARKS "End-to-end BLI" (en-es ``en-es.0-5000``, xling-eval
``yacle.train.freq.5k`` for en-de/fr/it), lower-cased. Every en-xx pair is
tested on its test lexicon (en-es ``5000-6500``, ``yacle.test.freq.2k``), and
the non-English pairs on the Open Multilingual Wordnet gold pivoted through
English (``scripts/build_omw_pairs.py``; ``--gold``, the ``5000-6500`` part),
which no method saw. BLI P@1/P@10 by NN and CSLS, with the evaluable counts;
the target vocabulary of every pair is cut to the ``--limit`` most frequent
words for all three methods.

Example::

    python scripts/build_omw_pairs.py
    flock /tmp/xling-heavy.lock nice -n 5 python scripts/bench_multilingual.py \\
        --json runs/bench_multilingual/results.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from xling import Embeddings, Lexicon, LineCorpus, align
from xling.evaluate import bli
from xling.train import MultiCluster

LANGS = ("en", "de", "es", "fr", "it")
SEED = {"es": "lexicons/en-es/en-es.0-5000.tsv",
        **{l: f"lexicons/en-{l}/yacle.train.freq.5k.en-{l}.tsv" for l in ("de", "fr", "it")}}
TEST = {"es": "lexicons/en-es/en-es.5000-6500.tsv",
        **{l: f"lexicons/en-{l}/yacle.test.freq.2k.en-{l}.tsv" for l in ("de", "fr", "it")}}
OTHER_PAIRS = ("de-fr", "es-it", "de-es", "fr-it", "de-it", "es-fr")


def evaluate(emb: dict[str, Embeddings], tests: dict[str, Lexicon], limit: int, device) -> dict:
    rows = {}
    for pair, test in tests.items():
        a, b = pair.split("-")
        src, tgt = emb[a].subset(limit), emb[b].subset(limit)
        row = {}
        for method in ("nn", "csls"):
            r = bli(src, tgt, test, method=method, ks=(1, 10), device=device)
            row[method] = {k: r[k] for k in ("p@1", "p@10", "n_queries", "n_test_words")}
        rows[pair] = row
        print(f"    {pair}: NN P@1 {100 * row['nn']['p@1']:.1f}, CSLS P@1 {100 * row['csls']['p@1']:.1f} "
              f"({row['csls']['n_queries']}/{row['csls']['n_test_words']})", flush=True)
    return rows


def table(results: dict) -> str:
    lines = ["| pair | method | NN P@1 | NN P@10 | CSLS P@1 | CSLS P@10 | evaluable |", "|---|---|---|---|---|---|---|"]
    pairs = next(iter(results.values()))["bli"]
    for pair in pairs:
        for method, res in results.items():
            nn, cs = res["bli"][pair]["nn"], res["bli"][pair]["csls"]
            lines.append(f"| {pair} | {method} | {100 * nn['p@1']:.1f} | {100 * nn['p@10']:.1f} | {100 * cs['p@1']:.1f} | "
                         f"{100 * cs['p@10']:.1f} | {cs['n_queries']}/{cs['n_test_words']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vectors", type=Path, default=Path("runs/vectors/xling-sgns"))
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--gold", type=Path, default=Path("runs/omw-pairs"))
    parser.add_argument("--methods", default="hub,multicca,multicluster")
    parser.add_argument("--limit", type=int, default=50_000, help="most frequent words read / retrieved per language")
    parser.add_argument("--multicca-reg", type=float, default=1e-3, help="multiCCA's relative ridge")
    parser.add_argument("--dim", type=int, default=300, help="multiCluster vector size")
    parser.add_argument("--epochs", type=int, default=3, help="multiCluster epochs")
    parser.add_argument("--max-lines", type=int, default=None, help="multiCluster: first N paragraphs of each corpus")
    parser.add_argument("--max-cluster-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    methods = args.methods.split(",")

    seeds = {l: Lexicon.read(path).lower() for l, path in SEED.items()}
    tests = {f"en-{l}": Lexicon.read(path).lower() for l, path in TEST.items()}
    tests.update({p: Lexicon.read(args.gold / f"{p}.5000-6500.tsv") for p in OTHER_PAIRS})
    results = {}

    if {"hub", "multicca"} & set(methods):
        start = time.perf_counter()
        spaces = {l: Embeddings.read(args.vectors / f"{l}.vec", limit=args.limit) for l in LANGS}
        print(f"read vectors in {time.perf_counter() - start:.0f} s: " + ", ".join(f"{l} {len(e)}" for l, e in spaces.items()))
        # align() takes xx -> en lexicons: the hub is English
        to_en = {l: lex.inverse() for l, lex in seeds.items()}
        for name, method in (("hub", "procrustes"), ("multicca", "multicca")):
            if name not in methods:
                continue
            print(f"{name} ({method})", flush=True)
            start = time.perf_counter()
            params = {"reg": args.multicca_reg} if method == "multicca" else {}
            result = align(spaces, "en", to_en, method=method, params=params, seed=args.seed, device=args.device)
            seconds = time.perf_counter() - start
            results[name] = {"method": method, "params": params, "fit_seconds": round(seconds, 1),
                             "pairs_used": {l: e["pairs_used"] for l, e in result.report["sources"].items()},
                             "bli": evaluate(result.embeddings, tests, args.limit, args.device)}

    if "multicluster" in methods:
        corpora = {l: LineCorpus(args.data / "mono" / f"{l}.txt.xz", max_lines=args.max_lines) for l in LANGS}
        model = MultiCluster(vector_size=args.dim, window=5, min_count=5, negative=5, sample=1e-4, epochs=args.epochs,
                             max_cluster_size=args.max_cluster_size, workers=args.threads, random_state=args.seed,
                             device=args.device)
        print(f"multicluster: dim {args.dim}, {args.epochs} epochs, max_lines {args.max_lines}", flush=True)
        start = time.perf_counter()
        model.fit(corpora, {("en", l): lex for l, lex in seeds.items()})
        seconds = time.perf_counter() - start
        results["multicluster"] = {
            "settings": {k: v for k, v in model.get_params().items() if k != "callbacks"},
            "fit_seconds": round(seconds, 1), "clusters": model.clusters_.summary(),
            "n_words": {l: len(e) for l, e in model.embeddings_.items()},
            "history": model.history_, "bli": evaluate(model.embeddings_, tests, args.limit, args.device),
        }
        print(f"  trained in {seconds:.0f} s; clusters {results['multicluster']['clusters']}", flush=True)

    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
