"""End-to-end BLI through the command line: `xling align` + its report, for en-es/de/fr/it.

Given a folder of monolingual vectors trained by `xling train` (en.vec, es.vec, de.vec,
fr.vec, it.vec), maps each foreign language's English counterpart onto it with
`xling align --eval` and prints one markdown table of P@1/5/10 (NN and CSLS),
coverage and fit time, read from each report.json.

Example::

    python scripts/bench_e2e.py runs/vectors/xling-sgns --out-dir runs/e2e
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from xling.resources import bli_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("vectors_dir", type=Path, help="folder with en.vec and <lang>.vec")
    parser.add_argument("--out-dir", type=Path, default=Path("runs/e2e"))
    parser.add_argument("--langs", default="es,de,fr,it")
    parser.add_argument("--method", default="procrustes")
    parser.add_argument("--limit", type=int, default=200_000)
    args = parser.parse_args()

    rows = []
    for lang in args.langs.split(","):
        train, test = bli_split(f"en-{lang}")
        out = args.out_dir / f"en-{lang}"
        cmd = [
            sys.executable, "-m", "xling", "align", str(args.vectors_dir / "en.vec"), str(args.vectors_dir / f"{lang}.vec"),
            "--lexicon", str(train), "--eval", str(test), "--method", args.method,
            "--limit", str(args.limit), "--out-dir", str(out),
        ]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        entry = json.loads((out / "report.json").read_text())["sources"]["en"]
        for retrieval in ("nn", "csls"):
            r = entry["bli"][retrieval]
            rows.append(
                f"| en-{lang} | {test.name} | {retrieval} | {100 * r['p@1']:.1f} | {100 * r['p@5']:.1f} | "
                f"{100 * r['p@10']:.1f} | {r['n_queries']}/{r['n_test_words']} ({100 * r['coverage']:.0f}%) | "
                f"{entry['pairs_used']} | {entry['fit_seconds']:.2f} |"
            )
    print("| pair | test lexicon | retrieval | P@1 | P@5 | P@10 | test words evaluable | seed pairs used | fit s |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
