"""RCSLS step size and iterations on real vectors: how far from Procrustes should it go?

Fits :class:`xling.map.RCSLS` with several (lr, n_iter, constraint) settings on
the training lexicon and reports the training loss it reached next to BLI on
the test lexicon (CSLS and NN, P@1/P@10), so that under-training and
over-fitting show side by side. fastText's reference script runs
``--lr 25 --niter 10``; xling's default is lr 1.0 with 20 steps.

    flock /tmp/xling-heavy.lock python scripts/bench_rcsls.py runs/vectors/xling-sgns --pair en-es
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from xling import Embeddings, Lexicon
from xling.evaluate import bli
from xling.map import RCSLS
from xling.resources import bli_split

SETTINGS = [  # (lr, n_iter, constraint)
    (1.0, 10, "spectral"),
    (1.0, 20, "spectral"),
    (25.0, 10, "spectral"),
    (25.0, 10, None),
    (25.0, 30, "spectral"),
    (1.0, 10, "orthogonal"),
    (25.0, 10, "orthogonal"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("vectors_dir", type=Path, help="folder with en.vec and <lang>.vec")
    parser.add_argument("--pair", default="en-es")
    parser.add_argument("--limit", type=int, default=50_000, help="most frequent words read per language")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    src_lang, tgt_lang = args.pair.split("-")
    src = Embeddings.read(args.vectors_dir / f"{src_lang}.vec", limit=args.limit)
    tgt = Embeddings.read(args.vectors_dir / f"{tgt_lang}.vec", limit=args.limit)
    train, test = bli_split(args.pair)
    pairs, _ = Lexicon.read(train).lower().to_pairs(src, tgt)
    test_lex = Lexicon.read(test).lower()
    print(f"{args.pair}: {len(src)} x {len(tgt)} words, {len(pairs)} training pairs; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| lr | steps | constraint | train loss (start → end) | CSLS P@1 | CSLS P@10 | NN P@1 | NN P@10 | fit s |")
    print("|---:|---:|---|---|---:|---:|---:|---:|---:|")
    for lr, n_iter, constraint in SETTINGS:
        start = time.perf_counter()
        m = RCSLS(lr=lr, n_iter=n_iter, constraint=constraint, n_neighbours=args.limit, device="cpu")
        m.fit(src.vectors, tgt.vectors, pairs)
        seconds = time.perf_counter() - start
        s, z = src.with_vectors(m.transform(src.vectors)), tgt.with_vectors(m.transform_target(tgt.vectors))
        cs, nn = (bli(s, z, test_lex, method=r, ks=(1, 10)) for r in ("csls", "nn"))
        print(f"| {lr:g} | {n_iter} | {constraint or 'none'} | {m.initial_loss_:.4f} → {m.history_[-1]['loss']:.4f} | "
              f"{100 * cs['p@1']:.1f} | {100 * cs['p@10']:.1f} | {100 * nn['p@1']:.1f} | {100 * nn['p@10']:.1f} | "
              f"{seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
