"""Train spectral (M*) and PPMI-SVD vectors and evaluate them by BLI.

Two sub-commands, so each heavy run stays short under the shared lock:

    # one method, some languages: writes OUT/{method}/{lang}.vec and {lang}.json (timings)
    flock /tmp/xling-heavy.lock python scripts/bench_spectral.py train --method spectral --langs en es

    # Procrustes (unit,center,unit) on the train lexicon, NN and CSLS on the test lexicon
    flock /tmp/xling-heavy.lock python scripts/bench_spectral.py eval --systems spectral ppmi-svd xling-sgns

Lexicons (lower-cased, since the vectors are): en-es MUSE-style 0-5000 -> 5000-6500, and
en-de/fr/it xling-eval yacle.train.freq.5k -> yacle.test.freq.2k. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import torch

from xling import Embeddings, LineCorpus, Lexicon
from xling.evaluate import bli
from xling.map import Procrustes
from xling.train import TRAINERS

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
OUT = REPO / "runs" / "vectors"
PAIRS = ("en-es", "en-de", "en-fr", "en-it")


def lexicon_paths(data: Path, pair: str) -> tuple[Path, Path]:
    src, tgt = pair.split("-")
    if pair == "en-es":
        folder = data / "lexicons" / "en-es"
        return folder / "en-es.0-5000.tsv", folder / "en-es.5000-6500.tsv"
    folder = data / "lexicons" / "xling-eval" / pair
    return folder / f"yacle.train.freq.5k.{pair}.tsv", folder / f"yacle.test.freq.2k.{pair}.tsv"


def train(args) -> None:
    cls = TRAINERS[args.method]
    for lang in args.langs:
        corpus = LineCorpus(args.data / "mono" / f"{lang}.txt.xz")
        model = cls(vector_size=args.dim, window=args.window, min_count=args.min_count,
                    max_vocab_size=args.max_vocab_size, random_state=args.seed)
        start = time.perf_counter()
        model.fit(corpus)
        seconds = time.perf_counter() - start
        out = args.out / args.method
        model.embeddings_.write(out / f"{lang}.vec", precision=6)
        info = {"lang": lang, "method": args.method, "seconds": seconds, "n_words": len(model.embeddings_),
                "params": {k: v for k, v in model.get_params().items() if k != "callbacks"},
                "phases": model.history_, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        (out / f"{lang}.json").write_text(json.dumps(info, indent=1))
        phases = ", ".join(f"{h['phase']} {h['seconds']:.1f} s" for h in model.history_)
        print(f"{args.method} {lang}: {len(model.embeddings_)} words, {seconds:.1f} s ({phases})", flush=True)


def evaluate(args) -> None:
    rows = []
    for system in args.systems:
        folder = args.out / system
        for pair in args.pairs:
            src_lang, tgt_lang = pair.split("-")
            paths = [folder / f"{src_lang}.vec", folder / f"{tgt_lang}.vec"]
            if not all(p.exists() for p in paths):
                print(f"skipping {system} {pair}: missing {[str(p) for p in paths if not p.exists()]}", flush=True)
                continue
            src, tgt = (Embeddings.read(p) for p in paths)
            train_path, test_path = lexicon_paths(args.data, pair)
            train_lex, test_lex = Lexicon.read(train_path).lower(), Lexicon.read(test_path).lower()
            pairs, _ = train_lex.to_pairs(src, tgt)
            mapper = Procrustes(normalize="unit,center,unit").fit(src.vectors, tgt.vectors, pairs)
            src_m = src.with_vectors(mapper.transform(src.vectors))
            tgt_m = tgt.with_vectors(mapper.transform_target(tgt.vectors))
            result = {m: bli(src_m, tgt_m, test_lex, method=m, ks=(1, 10)) for m in ("nn", "csls")}
            seconds = []
            for lang in (src_lang, tgt_lang):
                meta = folder / f"{lang}.json"
                if meta.exists():
                    seconds.append(json.loads(meta.read_text())["seconds"])
            rows.append({"system": system, "pair": pair, "seed_pairs": len(pairs),
                         "coverage": f"{result['csls']['n_queries']}/{result['csls']['n_test_words']}",
                         "nn": result["nn"], "csls": result["csls"],
                         "train_s": sum(seconds) if len(seconds) == 2 else None})
            print(json.dumps(rows[-1]), flush=True)
    print()
    print("| vectors | pair | train time (src + tgt) | seed pairs | test coverage | NN P@1 | NN P@10 | CSLS P@1 | CSLS P@10 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        t = f"{r['train_s']:.0f} s" if r["train_s"] is not None else "n/a"
        print(f"| {r['system']} | {r['pair']} | {t} | {r['seed_pairs']} | {r['coverage']} | "
              f"{100 * r['nn']['p@1']:.1f} | {100 * r['nn']['p@10']:.1f} | "
              f"{100 * r['csls']['p@1']:.1f} | {100 * r['csls']['p@10']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=OUT, help="vectors folder: OUT/{system}/{lang}.vec")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--method", choices=("spectral", "ppmi-svd"), required=True)
    t.add_argument("--langs", nargs="+", default=["en", "es", "de", "fr", "it"])
    t.add_argument("--dim", type=int, default=300)
    t.add_argument("--window", type=int, default=5)
    t.add_argument("--min-count", type=int, default=5)
    t.add_argument("--max-vocab-size", type=int, default=None)
    t.add_argument("--seed", type=int, default=0)
    e = sub.add_parser("eval")
    e.add_argument("--systems", nargs="+", default=["spectral", "ppmi-svd", "xling-sgns"])
    e.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=PAIRS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(2)
    (train if args.command == "train" else evaluate)(args)


if __name__ == "__main__":
    main()
