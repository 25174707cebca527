"""Group line-aligned parallel text into line-aligned documents (one document per line of each output file).

The document-based trainers (``xling train-joint --method inverted-index --documents SRC TGT``) take two
files whose line ``j`` is one document of aligned pair ``j``. The parallel corpora of the shared data are
aligned by segment, so any grouping of consecutive aligned lines gives aligned documents:

* ``--ids FILE --key chapter``: lines with the same chapter id form one document (the Bible's
  ``kjv-rv1909.en-es.ids.xz`` has one ``Book.chapter.verse`` id a line: 1,189 chapters from 31,084 verses);
  ``--key book`` groups by book (66 documents).
* ``--lines N``: blocks of N consecutive aligned lines (the LibreOffice help files carry no page
  boundaries, so a block of paragraphs stands in for a help page).

Example::

    python scripts/build_aligned_documents.py ../shared/data/parallel/bible/kjv-rv1909.en-es.{en,es}.xz \\
        --ids ../shared/data/parallel/bible/kjv-rv1909.en-es.ids.xz --key chapter --out bible-chapters.en bible-chapters.es
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import itertools
import lzma
from pathlib import Path
from typing import Iterable, Iterator, Sequence

_OPENERS = {".xz": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}


def read_lines(path: Path) -> list[str]:
    """The lines of a (possibly compressed) UTF-8 text file, without their line ends."""
    with _OPENERS.get(Path(path).suffix, open)(path, "rt", encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh]


def chapter_keys(ids: Iterable[str], key: str = "chapter") -> list[str]:
    """``Book.chapter.verse`` ids -> the group of each line (``Book.chapter``, or ``Book`` for ``key="book"``).

    >>> chapter_keys(["Gen.1.1", "Gen.1.2", "Gen.2.1"])
    ['Gen.1', 'Gen.1', 'Gen.2']
    """
    parts = {"chapter": 2, "book": 1}[key]
    out = []
    for number, value in enumerate(ids, start=1):
        fields = value.strip().split(".")
        if len(fields) < parts + 1:
            raise SystemExit(f"line {number} of the ids: expected Book.chapter.verse, got {value!r}")
        out.append(".".join(fields[:parts]))
    return out


def block_keys(n_lines: int, size: int) -> list[int]:
    """Blocks of ``size`` consecutive lines: ``[0]*size + [1]*size + ...``."""
    if size < 1:
        raise SystemExit(f"--lines: expected a block size >= 1, got {size}")
    return [i // size for i in range(n_lines)]


def group_documents(src: Sequence[str], tgt: Sequence[str], keys: Sequence) -> Iterator[tuple[str, str]]:
    """Aligned documents: runs of consecutive lines with the same key, joined by spaces on each side."""
    if not len(src) == len(tgt) == len(keys):
        raise SystemExit(f"expected line-aligned inputs, got {len(src)} source, {len(tgt)} target lines and "
                         f"{len(keys)} keys")
    rows = zip(keys, src, tgt)
    for _, group in itertools.groupby(rows, key=lambda row: row[0]):
        group = list(group)
        yield " ".join(g[1] for g in group), " ".join(g[2] for g in group)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("tgt", type=Path)
    how = ap.add_mutually_exclusive_group(required=True)
    how.add_argument("--ids", type=Path, help="one Book.chapter.verse id a line, aligned with the inputs")
    how.add_argument("--lines", type=int, help="documents of this many consecutive lines")
    ap.add_argument("--key", choices=("chapter", "book"), default="chapter", help="grouping of --ids")
    ap.add_argument("--out", nargs=2, type=Path, required=True, metavar=("SRC_OUT", "TGT_OUT"))
    args = ap.parse_args()
    src, tgt = read_lines(args.src), read_lines(args.tgt)
    keys = chapter_keys(read_lines(args.ids), args.key) if args.ids else block_keys(len(src), args.lines)
    docs = list(group_documents(src, tgt, keys))
    for path, side in zip(args.out, (0, 1)):
        path.write_text("".join(d[side] + "\n" for d in docs), encoding="utf-8")
    print(f"{len(docs)} aligned documents from {len(src)} lines -> {args.out[0]}, {args.out[1]}")


if __name__ == "__main__":
    main()
