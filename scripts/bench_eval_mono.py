"""Monolingual evaluation (word similarity, analogies) of trained vectors, timed; optionally BLI with invnn.

    python scripts/fetch_eval_data.py --out-dir eval-data            # WordSim-353, SimLex-999 (not shipped)
    flock /tmp/xling-heavy.lock nice -n 5 python scripts/bench_eval_mono.py runs/vectors/xling-sgns/en.vec \\
        --similarity eval-data/wordsim353.tsv --similarity eval-data/simlex999.tsv \\
        --bli runs/vectors/xling-sgns/es.vec lexicons/en-es/en-es.0-5000.tsv lexicons/en-es/en-es.5000-6500.tsv

Prints markdown tables: every score with its coverage, and the seconds of each phase (reading,
similarity, analogies by both methods and by 3CosAdd alone; with --bli, Procrustes and BLI by each
retrieval method, invnn included, side by side in one run).
"""

from __future__ import annotations

import argparse
import time

import torch

from xling import Embeddings
from xling.map import Procrustes
from xling.evaluate import bli, format_table
from xling.evaluate_mono import analogies, format_mono_table, word_similarity
from xling.workflow import read_lexicon


def timed(seconds: dict, name: str, fn):
    start = time.perf_counter()
    out = fn()
    seconds[name] = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("vectors")
    parser.add_argument("--similarity", action="append", default=[])
    parser.add_argument("--restrict-vocab", type=int, default=300_000)
    parser.add_argument("--bli", nargs=3, metavar=("TGT_VECTORS", "TRAIN", "TEST"), default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    seconds: dict[str, float] = {}
    emb = timed(seconds, "read vectors", lambda: Embeddings.read(args.vectors))
    results = {"similarity": [timed(seconds, f"similarity {p}", lambda p=p: word_similarity(emb, p))
                              for p in args.similarity]}
    results["analogies"] = [timed(seconds, "analogies (3CosAdd + 3CosMul)", lambda: analogies(
        emb, restrict_vocab=args.restrict_vocab, device=args.device))]
    timed(seconds, "analogies (3CosAdd alone)", lambda: analogies(
        emb, methods=["3cosadd"], restrict_vocab=args.restrict_vocab, device=args.device))
    print(f"{args.vectors}: {len(emb)} words, dim {emb.dim}, torch threads {torch.get_num_threads()}\n")
    print(format_mono_table(results))
    if args.bli:
        tgt = timed(seconds, "read target vectors", lambda: Embeddings.read(args.bli[0]))
        train, test = (read_lexicon(p, emb, tgt) for p in args.bli[1:])
        pairs, _ = train.to_pairs(emb, tgt)
        m = timed(seconds, "procrustes", lambda: Procrustes().fit(emb.vectors, tgt.vectors, pairs))
        src_m, tgt_m = emb.with_vectors(m.transform(emb.vectors)), tgt.with_vectors(m.transform_target(tgt.vectors))
        rows = {method: timed(seconds, f"BLI {method}", lambda method=method: bli(src_m, tgt_m, test, method=method,
                                                                                 device=args.device))
                for method in ("nn", "csls", "isf", "invnn")}
        print(f"\nBLI {args.vectors} -> {args.bli[0]} ({len(emb)} x {len(tgt)} words), test {args.bli[2]}:\n")
        print(format_table(rows))
    print("\n| phase | seconds |\n|---|---|")
    for name, value in seconds.items():
        print(f"| {name} | {value:.1f} |")


if __name__ == "__main__":
    main()
