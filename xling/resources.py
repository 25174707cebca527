"""Files that ship with xling: the demo corpora and the bilingual lexicons."""

from __future__ import annotations

from pathlib import Path

__all__ = ["lexicon_path", "demo_corpus_path", "LEXICON_DIR"]

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
