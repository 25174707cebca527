"""BLI of several sets of monolingual vectors, each aligned the same way (Procrustes + CSLS).

For every system (a folder with ``{lang}.vec``) and language pair, the source
and target vectors are mapped with orthogonal Procrustes (normalisation unit,
center, unit) on the training dictionary and evaluated on the test
dictionary with CSLS (k=10) and plain nearest neighbours; out-of-vocabulary
test words are excluded and coverage is reported. Dictionaries are lower-cased
because the vectors are. Prints one markdown table.

    python scripts/bli_vectors.py runs/vectors/xling-sgns runs/vectors/gensim --lexicons ../shared/data/lexicons
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from xling import Embeddings, Lexicon
from xling.evaluate import bli
from xling.map import Procrustes

PAIRS = {
    "en-es": ("en-es/en-es.0-5000.tsv", "en-es/en-es.5000-6500.tsv"),
    "en-de": ("xling-eval/en-de/yacle.train.freq.5k.en-de.tsv", "xling-eval/en-de/yacle.test.freq.2k.en-de.tsv"),
    "en-fr": ("xling-eval/en-fr/yacle.train.freq.5k.en-fr.tsv", "xling-eval/en-fr/yacle.test.freq.2k.en-fr.tsv"),
    "en-it": ("xling-eval/en-it/yacle.train.freq.5k.en-it.tsv", "xling-eval/en-it/yacle.test.freq.2k.en-it.tsv"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("systems", nargs="+", help="folders holding {lang}.vec")
    parser.add_argument("--lexicons", default="../shared/data/lexicons")
    parser.add_argument("--pairs", default=",".join(PAIRS))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    rows = []
    cache: dict[Path, Embeddings] = {}

    def load(path: Path) -> Embeddings:
        if path not in cache:
            cache[path] = Embeddings.read(path)
        return cache[path]

    for pair in args.pairs.split(","):
        src_lang, tgt_lang = pair.split("-")
        train_file, test_file = PAIRS[pair]
        train = Lexicon.read(Path(args.lexicons) / train_file).lower()
        test = Lexicon.read(Path(args.lexicons) / test_file).lower()
        for system in args.systems:
            src, tgt = load(Path(system) / f"{src_lang}.vec"), load(Path(system) / f"{tgt_lang}.vec")
            pairs, cov = train.to_pairs(src, tgt)
            mapper = Procrustes(normalize=("unit", "center", "unit")).fit(src.vectors, tgt.vectors, pairs)
            src_m = src.with_vectors(mapper.transform(src.vectors))
            tgt_m = tgt.with_vectors(mapper.transform_target(tgt.vectors))
            csls = bli(src_m, tgt_m, test, method="csls", ks=(1, 5, 10))
            nn = bli(src_m, tgt_m, test, method="nn", ks=(1, 10))
            rows.append({"pair": pair, "system": Path(system).name, "train_pairs": len(pairs), "csls": csls, "nn": nn})
        cache.clear()

    print("| pair | vectors | CSLS P@1 | CSLS P@5 | CSLS P@10 | NN P@1 | NN P@10 | coverage (test words) | seed pairs |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        c, n = r["csls"], r["nn"]
        print(f"| {r['pair']} | {r['system']} | {100 * c['p@1']:.2f} | {100 * c['p@5']:.2f} | {100 * c['p@10']:.2f} | "
              f"{100 * n['p@1']:.2f} | {100 * n['p@10']:.2f} | {100 * c['coverage']:.1f}% "
              f"({c['n_queries']}/{c['n_test_words']}) | {r['train_pairs']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
