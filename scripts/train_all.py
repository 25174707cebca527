"""Train full-corpus vectors for several languages, a few per locked process.

Languages are trained in child processes under the shared heavy-job lock
(``flock LOCK``), ``--per-lock`` languages per child so that one locked run
stays short (a few minutes per language on 2 cores), and the vectors are
written atomically to ``OUT/{system}/{lang}.vec``. ``--system gensim`` trains
gensim Word2Vec with the same settings on the same tokens (gensim only needed
then). When all languages of a system exist, ``OUT/{system}/READY`` is created.

    python scripts/train_all.py --out runs/vectors --system xling-sgns --langs en,es,de,fr,it --per-lock 2
    python scripts/train_all.py --out runs/vectors --system gensim --langs en,es,de,fr,it
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def train_one(args, lang: str) -> None:
    import torch

    from xling import Embeddings, LineCorpus

    torch.set_num_threads(args.workers)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    corpus = LineCorpus(Path(args.data) / f"{lang}.txt.xz")
    out = Path(args.out) / args.system / f"{lang}.vec"
    settings = dict(vector_size=args.dim, window=args.window, negative=args.negative, min_count=args.min_count,
                    sample=args.sample, epochs=args.epochs, workers=args.workers)
    t0 = time.perf_counter()
    if args.system.startswith("xling"):
        from xling.train import TRAINERS

        model = TRAINERS[args.system.split("-", 1)[1]](**settings, random_state=args.seed).fit(corpus)
        emb, extra = model.embeddings_, {"backend": model.backend_, "history": model.history_}
    else:
        from gensim.models import Word2Vec

        sentences = list(corpus)
        model = Word2Vec(sentences, sg=1, hs=0, seed=args.seed, **settings)
        kv = model.wv
        emb, extra = Embeddings(list(kv.index_to_key), np.asarray(kv.vectors)), {}
    seconds = time.perf_counter() - t0
    emb.write(out)
    meta = {"lang": lang, "system": args.system, "seconds": seconds, "n_words": len(emb), **settings, **extra}
    (out.parent / f"{lang}.json").write_text(json.dumps(meta, indent=1))
    print(f"{args.system} {lang}: {len(emb)} words in {seconds:.0f} s -> {out}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/mono", help="folder with {lang}.txt.xz")
    parser.add_argument("--out", default="runs/vectors")
    parser.add_argument("--system", default="xling-sgns", choices=["xling-sgns", "xling-cbow", "gensim"])
    parser.add_argument("--langs", default="en,es,de,fr,it")
    parser.add_argument("--per-lock", type=int, default=1, help="languages trained in one locked child process")
    parser.add_argument("--child-langs", help=argparse.SUPPRESS)  # set in the child process
    parser.add_argument("--lock", default="/tmp/xling-heavy.lock")
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--sample", type=float, default=1e-4)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.child_langs:
        for lang in args.child_langs.split(","):
            train_one(args, lang)
        return
    langs = args.langs.split(",")
    for i in range(0, len(langs), args.per_lock):
        group = ",".join(langs[i : i + args.per_lock])
        cmd = ["flock", args.lock, sys.executable, __file__, *sys.argv[1:], "--child-langs", group]
        subprocess.run(cmd, check=True)
    if all((Path(args.out) / args.system / f"{lang}.vec").exists() for lang in ("en", "es", "de", "fr", "it")):
        (Path(args.out) / args.system / "READY").touch()


if __name__ == "__main__":
    main()
