"""Which recipe should ``xling demo`` use? Measure the options on the shipped data.

Vectors (the demo's size: dim 100, min count 5, the shipped 1.7M-token novel
samples ``xling/data/{en,es}.txt.xz``, lower-cased): skip-gram (10 epochs, as
the demo) and PPMI-SVD. Maps onto es with the shipped seed lexicon
``lexicons/en-es/en-es.0-5000.tsv``: Procrustes, multi-step
(artetxe2018-supervised) and self-learning from the seed pairs around the
multi-step map. BLI (NN and CSLS, P@1 / P@10) on ``en-es.5000-6500.tsv``, with
the wall time of training and of fitting. Library API only.

    python scripts/bench_demo.py --out runs/bench_demo      # about 5 minutes on 2 cores

Prints a markdown table; ``--out`` also keeps the vectors and a JSON of the results.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from xling import LineCorpus
from xling.map import SelfLearning
from xling.map.presets import Artetxe2018Supervised
from xling.resources import bli_split, demo_corpus_path
from xling.train import PPMISVD, SkipGram
from xling.workflow import align

TRAINERS = {
    # The demo's skip-gram settings (xling demo: dim 100, 10 epochs).
    "sgns": lambda seed: SkipGram(vector_size=100, epochs=10, random_state=seed),
    "ppmi-svd": lambda seed: PPMISVD(vector_size=100, random_state=seed),
}


def mappers(max_iter: int) -> dict:
    return {
        "procrustes": "procrustes",
        "multistep": "artetxe2018-supervised",
        "selflearning": SelfLearning(mapper=Artetxe2018Supervised(), seed="pairs", max_iter=max_iter),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_demo"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-iter", type=int, default=10, help="Self-learning iterations at most.")
    parser.add_argument("--vectors", nargs="+", default=list(TRAINERS), choices=list(TRAINERS))
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    train_lex, test_lex = bli_split("en-es")
    rows, results = [], []
    for system in args.vectors:
        spaces, train_s = {}, 0.0
        for lang in ("en", "es"):
            start = time.perf_counter()
            trainer = TRAINERS[system](args.seed).fit(LineCorpus(demo_corpus_path(lang), lowercase=True))
            train_s += time.perf_counter() - start
            spaces[lang] = trainer.embeddings_
            trainer.embeddings_.write(args.out / system / f"{lang}.vec")
        for name, method in mappers(args.max_iter).items():
            start = time.perf_counter()
            result = align(spaces, "es", {"en": train_lex}, method=method, evals={"en": test_lex}, seed=args.seed)
            wall = time.perf_counter() - start
            entry = result.report["sources"]["en"]
            nn, cs = entry["bli"]["nn"], entry["bli"]["csls"]
            results.append({"vectors": system, "mapper": name, "train_seconds": round(train_s, 1),
                            "fit_seconds": entry["fit_seconds"], "align_eval_seconds": round(wall, 1),
                            "n_iter": entry["n_iter"], "bli": entry["bli"]})
            rows.append(f"| {system} | {name} | {train_s:.0f} | {entry['fit_seconds']:.1f} | {entry['n_iter']} | "
                        f"{100 * nn['p@1']:.1f} | {100 * nn['p@10']:.1f} | {100 * cs['p@1']:.1f} | {100 * cs['p@10']:.1f} | "
                        f"{cs['n_queries']}/{cs['n_test_words']} |")
            print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\n| vectors | map | train s (en+es) | fit s | iterations | NN P@1 | NN P@10 | CSLS P@1 | CSLS P@10 | evaluable |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
