"""Files that ship with xling: the demo corpora and the bilingual lexicons."""

from __future__ import annotations

from pathlib import Path

from xling.exceptions import InputError

__all__ = ["lexicon_path", "demo_corpus_path", "bli_split", "LEXICON_DIR"]

_PACKAGE = Path(__file__).resolve().parent
# In a wheel the lexicons sit inside the package (see pyproject.toml); in a
# checkout or an editable install they sit at the top of the repository.
LEXICON_DIR = next(
    (p for p in (_PACKAGE / "lexicons", _PACKAGE.parent / "lexicons") if (p / "SOURCES.md").exists()),
    _PACKAGE.parent / "lexicons",
)


def lexicon_path(name: str) -> Path:
    """Path of a shipped lexicon, e.g. ``lexicon_path("en-es/en-es.0-5000.tsv")``."""
    path = LEXICON_DIR / name
    if not path.exists():
        available = sorted(str(p.relative_to(LEXICON_DIR)) for p in LEXICON_DIR.glob("*/*.tsv"))
        raise FileNotFoundError(f"No shipped lexicon {name!r}; available: {', '.join(available)}")
    return path


def demo_corpus_path(lang: str) -> Path:
    """Path of the shipped demo corpus for ``lang`` ("en" or "es")."""
    path = _PACKAGE / "data" / f"{lang}.txt.xz"
    if not path.exists():
        raise FileNotFoundError(f"No shipped demo corpus for {lang!r} (expected {path})")
    return path


# The standard BLI splits of the shipped lexicons: en-es in MUSE's style
# (ranks 0-5000 train, 5000-6500 test); en-de/fr/it from xling-eval (Glavaš et
# al. 2019: 500/1k/3k/5k train, 2k test).
_XLING_EVAL_SIZES = ("500", "1k", "3k", "5k")


def bli_split(pair: str, train_size: str = "5k") -> tuple[Path, Path]:
    """(train, test) lexicon paths of the standard BLI split for ``pair``.

    Parameters
    ----------
    pair : {"en-es", "en-de", "en-fr", "en-it"}
    train_size : {"500", "1k", "3k", "5k"}
        Seed dictionary size; en-es ships only "5k" (en-es.0-5000).

    Examples
    --------
    >>> [p.name for p in bli_split("en-de", "1k")]
    ['yacle.train.freq.1k.en-de.tsv', 'yacle.test.freq.2k.en-de.tsv']
    """
    if pair == "en-es":
        if train_size != "5k":
            raise InputError(f"Expected train_size '5k' for en-es (the only shipped split), got {train_size!r}")
        return lexicon_path("en-es/en-es.0-5000.tsv"), lexicon_path("en-es/en-es.5000-6500.tsv")
    if pair not in ("en-de", "en-fr", "en-it"):
        raise InputError(f"Expected pair in en-es, en-de, en-fr, en-it, got {pair!r}")
    if train_size not in _XLING_EVAL_SIZES:
        raise InputError(f"Expected train_size in {_XLING_EVAL_SIZES}, got {train_size!r}")
    return (lexicon_path(f"{pair}/yacle.train.freq.{train_size}.{pair}.tsv"),
            lexicon_path(f"{pair}/yacle.test.freq.2k.{pair}.tsv"))
