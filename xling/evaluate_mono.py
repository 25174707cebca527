"""Intrinsic evaluation of one vector space: word similarity and word analogies.

Word similarity
---------------
A file of word pairs with gold scores (WordSim-353, SimLex-999, MEN, ...):
the Spearman rank correlation between the cosine of each pair's vectors and
its gold score (Pearson too). Pairs with a word out of vocabulary are left
out and counted, and the coverage (pairs evaluated / all pairs) is always
reported, as MUSE and gensim do. :func:`cross_lingual_similarity` does the
same for pairs of a source and a target word scored in one shared space
(SemEval-2017 Task 2, subtask 2).

Analogies
---------
Questions ``a b c d`` ("a is to b as c is to d", Mikolov et al. 2013) in
sections (``: capital-common-countries`` lines; word2vec's
``questions-words.txt``, which ships with xling: :func:`analogy_path`). The
answer is the word d* that maximises, over the vocabulary minus a, b and c
(Levy & Goldberg 2014, "Linguistic regularities in sparse and explicit word
representations"), with cosines ``cos(d, .)``::

    3CosAdd   cos(d, b) - cos(d, a) + cos(d, c)
    3CosMul   cos'(d, b) cos'(d, c) / (cos'(d, a) + 0.001),   cos' = (cos + 1) / 2

3CosAdd ranks as gensim's ``most_similar(positive=[b, c], negative=[a])``.
Answers and questions are restricted to the ``restrict_vocab`` most frequent
words (rows, in .vec order), as gensim's ``evaluate_word_analogies``; the
default 300,000 is gensim's. A question with a word outside them is not
evaluated and counts against the coverage. Accuracy is over the evaluated
questions, per section and overall. The questions go through the tiles of
:mod:`xling.retrieval` in batches (both objectives from the same products).

Case
----
``case="auto"`` (the default) lower-cases the test words when the vocabulary
holds no upper-case word (vectors trained on lower-cased text, as xling's
trainers do by default) and says so in the log; ``"lower"`` always does,
``"keep"`` never. Vocabulary words are never changed.

Files are read strictly: a malformed line is a :class:`~xling.FormatError`
naming the file and the line.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from xling._progress import make_event
from xling._utils import PathLike, iter_lines, resolve_device
from xling.embeddings import Embeddings
from xling.exceptions import FormatError, InputError, NotEnoughDataError
from xling.retrieval import _sizes, _tiles, unit_rows

logger = logging.getLogger(__name__)

__all__ = [
    "WordPairs",
    "Analogies",
    "read_similarity",
    "read_analogies",
    "word_similarity",
    "cross_lingual_similarity",
    "analogies",
    "format_mono_table",
    "analogy_path",
    "ANALOGY_METHODS",
]

ANALOGY_METHODS = ("3cosadd", "3cosmul")
_COSMUL_EPS = 1e-3  # Levy & Goldberg (2014): keeps the division finite
_CASES = ("auto", "lower", "keep")
_CASE_SAMPLE = 20_000  # vocabulary words looked at by case="auto"
_DATA = Path(__file__).resolve().parent / "data" / "eval"


def analogy_path() -> Path:
    """Path of the shipped ``questions-words.txt`` (word2vec's 19,544 English analogy questions, Apache-2.0)."""
    path = _DATA / "questions-words.txt.xz"
    if not path.exists():
        raise FileNotFoundError(f"The shipped analogy questions are missing (expected {path})")
    return path


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class WordPairs:
    """Word pairs with gold similarity scores.

    Attributes
    ----------
    name : str
        What results call the set (the file name without extension).
    words1, words2 : tuple of str
        The two words of each pair (for cross-lingual sets: source and target words).
    scores : ndarray of shape (n_pairs,), float64
    """

    name: str
    words1: tuple[str, ...]
    words2: tuple[str, ...]
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


@dataclass(frozen=True)
class Analogies:
    """Analogy questions ``a b c d`` in named sections.

    Attributes
    ----------
    name : str
    sections : tuple of (str, tuple of (a, b, c, d))
    """

    name: str
    sections: tuple[tuple[str, tuple[tuple[str, str, str, str], ...]], ...]

    def __len__(self) -> int:
        return sum(len(questions) for _, questions in self.sections)


def _stem(path: PathLike) -> str:
    name = Path(path).name
    for suffix in (".gz", ".xz", ".bz2", ".txt", ".tsv", ".tab", ".csv"):
        name = name[: -len(suffix)] if name.endswith(suffix) else name
    return name


def read_similarity(path: PathLike, *, encoding: str = "utf-8", name: str | None = None) -> WordPairs:
    """Read word pairs with gold scores: ``word1 word2 score`` per line.

    Fields are separated by tabs when the line has one, else by whitespace;
    columns after the score are ignored. Blank lines and lines starting with
    ``#`` are skipped. Compressed files (.gz, .xz, .bz2) are read as they are.

    Parameters
    ----------
    path : path
    encoding : str
    name : str, optional
        Default: the file name without its extensions.

    Returns
    -------
    WordPairs

    Raises
    ------
    FormatError
        A line without three fields, a score that is not a finite number, or
        no pair at all (the message names the file and the line).
    """
    words1, words2, scores = [], [], []
    for number, line in iter_lines(path, encoding):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields]
        if len(fields) < 3 or not fields[0] or not fields[1]:
            raise FormatError(f"Expected 'word1<TAB>word2<TAB>score', got {len(fields)} field(s): {line[:60]!r}",
                              str(path), number)
        try:
            score = float(fields[2])
        except ValueError:
            score = math.nan
        if not math.isfinite(score):
            raise FormatError(f"Expected a number as the score (3rd field), got {fields[2][:30]!r}", str(path), number)
        words1.append(fields[0])
        words2.append(fields[1])
        scores.append(score)
    if not scores:
        raise FormatError("Expected at least one 'word1<TAB>word2<TAB>score' line, got none", str(path))
    return WordPairs(name or _stem(path), tuple(words1), tuple(words2), np.asarray(scores, dtype=np.float64))


def read_analogies(path: PathLike, *, encoding: str = "utf-8", name: str | None = None) -> Analogies:
    """Read analogy questions in word2vec's format: ``: section`` lines, then ``a b c d`` lines.

    Blank lines are skipped.

    Raises
    ------
    FormatError
        A question without exactly four words, a question before the first
        section line, a section without a name, or no question at all.
    """
    sections: list[tuple[str, list]] = []
    for number, line in iter_lines(path, encoding):
        text = line.strip()
        if not text:
            continue
        if text.startswith(":"):
            title = text[1:].strip()
            if not title:
                raise FormatError("Expected a section name after ':', got none", str(path), number)
            sections.append((title, []))
            continue
        words = text.split()
        if len(words) != 4:
            raise FormatError(f"Expected a question of four words 'a b c d', got {len(words)}: {text[:60]!r}",
                              str(path), number)
        if not sections:
            raise FormatError("Expected a ': section' line before the first question", str(path), number)
        sections[-1][1].append(tuple(words))
    if not any(questions for _, questions in sections):
        raise FormatError("Expected at least one analogy question 'a b c d', got none", str(path))
    return Analogies(name or _stem(path), tuple((title, tuple(qs)) for title, qs in sections))


def _as_pairs(data) -> WordPairs:
    if isinstance(data, WordPairs):
        return data
    if isinstance(data, (str, Path)):
        return read_similarity(data)
    raise InputError(f"Expected WordPairs or a path to a word-pair file, got {type(data).__name__}")


# ---------------------------------------------------------------------------
# case
# ---------------------------------------------------------------------------
def _lowers(emb: Embeddings, case: str) -> bool:
    """Whether the test words are lower-cased for this vocabulary (see the module docstring)."""
    if case not in _CASES:
        raise InputError(f"Expected case 'auto', 'lower' or 'keep', got {case!r}")
    if case == "auto":
        return not any(w != w.lower() for w in emb.words[:_CASE_SAMPLE])
    return case == "lower"


def _cased(words: Sequence[str], lower: bool, what: str) -> list[str]:
    if not lower:
        return list(words)
    changed = sum(w != w.lower() for w in words)
    if changed:
        logger.info("%s: lower-cased %d words to match a vocabulary without upper case (case='keep' to disable)",
                    what, changed)
    return [w.lower() for w in words]


# ---------------------------------------------------------------------------
# word similarity
# ---------------------------------------------------------------------------
def word_similarity(emb: Embeddings, data, *, case: str = "auto") -> dict:
    """Spearman (and Pearson) correlation of cosines with gold similarity scores.

    Parameters
    ----------
    emb : Embeddings
    data : WordPairs or path
        E.g. WordSim-353 or SimLex-999 (``scripts/fetch_eval_data.py`` fetches them).
    case : {"auto", "lower", "keep"}
        See the module docstring.

    Returns
    -------
    dict
        ``name``, ``spearman``, ``pearson`` (None when undefined: constant
        scores), ``n_pairs``, ``n_evaluated``, ``n_oov`` (pairs with a word
        out of vocabulary), ``coverage`` (n_evaluated / n_pairs), ``oov_words``
        (up to ten).

    Raises
    ------
    NotEnoughDataError
        Fewer than two pairs have both vectors.

    Examples
    --------
    >>> import numpy as np
    >>> emb = Embeddings(["a", "b", "c"], np.array([[1.0, 0.0], [1.0, 0.2], [0.0, 1.0]]))
    >>> pairs = WordPairs("toy", ("a", "a", "b", "a"), ("b", "c", "c", "zz"), np.array([9.0, 1.0, 2.0, 5.0]))
    >>> r = word_similarity(emb, pairs)
    >>> r["spearman"], r["n_evaluated"], r["coverage"]
    (1.0, 3, 0.75)
    """
    return _similarity(emb, emb, _as_pairs(data), case)


def cross_lingual_similarity(src: Embeddings, tgt: Embeddings, data, *, case: str = "auto") -> dict:
    """Spearman correlation of cross-lingual word pairs scored in one shared space.

    ``data`` holds pairs ``source_word target_word score`` (SemEval-2017 Task 2,
    subtask 2, e.g. en-es; ``scripts/fetch_eval_data.py`` joins its data and
    gold files into this format). The first word is looked up in ``src``, the
    second in ``tgt``; both must already be in one space (mapped vectors).

    Returns and raises as :func:`word_similarity`.
    """
    if src.dim != tgt.dim:
        raise InputError(f"Expected source and target vectors of one dimension, got {src.dim} and {tgt.dim} "
                         "(map them into one space first)")
    return _similarity(src, tgt, _as_pairs(data), case)


def _similarity(emb1: Embeddings, emb2: Embeddings, data: WordPairs, case: str) -> dict:
    from scipy.stats import pearsonr, spearmanr

    words1 = _cased(data.words1, _lowers(emb1, case), data.name)
    words2 = _cased(data.words2, _lowers(emb2, case), data.name)
    rows1 = [emb1.word_to_index.get(w) for w in words1]
    rows2 = [emb2.word_to_index.get(w) for w in words2]
    ok = np.array([i is not None and j is not None for i, j in zip(rows1, rows2)], dtype=bool)
    n, n_ok = len(data), int(ok.sum())
    oov = sorted({w for w, i in zip(words1, rows1) if i is None} | {w for w, j in zip(words2, rows2) if j is None})
    if n_ok < 2:
        raise NotEnoughDataError(
            f"{data.name}: Expected at least 2 word pairs with vectors, got {n_ok} of {n} "
            f"(out of vocabulary: {', '.join(oov[:10])}); do the vectors and the test share case and language?"
        )
    A = unit_rows(emb1.vectors[[i for i, good in zip(rows1, ok) if good]], "vectors").numpy()
    B = unit_rows(emb2.vectors[[j for j, good in zip(rows2, ok) if good]], "vectors").numpy()
    cosines = (A.astype(np.float64) * B).sum(axis=1)
    gold = data.scores[ok]
    constant = np.ptp(gold) == 0 or np.ptp(cosines) == 0
    if constant:
        logger.warning("%s: the gold scores or the cosines are constant: the correlations are undefined", data.name)
    result = {
        "name": data.name,
        "spearman": None if constant else float(spearmanr(gold, cosines)[0]),
        "pearson": None if constant else float(pearsonr(gold, cosines)[0]),
        "n_pairs": n,
        "n_evaluated": n_ok,
        "n_oov": n - n_ok,
        "coverage": n_ok / n,
        "oov_words": oov[:10],
    }
    logger.info("%s: Spearman %s over %d of %d pairs (%d out of vocabulary)", data.name,
                "n/a" if constant else f"{result['spearman']:.4f}", n_ok, n, n - n_ok)
    return result


# ---------------------------------------------------------------------------
# analogies
# ---------------------------------------------------------------------------
def analogies(
    emb: Embeddings,
    data=None,
    *,
    methods: Iterable[str] = ANALOGY_METHODS,
    restrict_vocab: int = 300_000,
    case: str = "auto",
    batch_size: int = 1024,
    tile_size: int | None = None,
    device=None,
    callbacks=(),
) -> dict:
    """Accuracy on analogy questions by 3CosAdd and 3CosMul, per section and overall.

    Parameters
    ----------
    emb : Embeddings
        Rows sorted by frequency (as in .vec files).
    data : Analogies or path, optional
        Default: the shipped ``questions-words.txt`` (:func:`analogy_path`).
    methods : iterable of {"3cosadd", "3cosmul"}
    restrict_vocab : int
        Questions and answers use only the first ``restrict_vocab`` rows
        (gensim's default, 300,000).
    case : {"auto", "lower", "keep"}
    batch_size : int
        Questions scored together (each tile holds 3 x batch_size query rows).
    tile_size : int, optional
        Vocabulary rows per tile (as in :func:`xling.retrieval.knn`).
    device : str, optional
        None picks CUDA when available.
    callbacks : sequence of callables
        Receive a progress event (schema of :mod:`xling._progress`,
        ``phase="analogies"``) after each batch.

    Returns
    -------
    dict
        ``name``, ``restrict_vocab`` (rows used), ``n_questions``,
        ``n_evaluated``, ``n_oov``, ``coverage``, per method its accuracy
        (``"3cosadd"``, ``"3cosmul"``: fractions of the evaluated questions,
        None when none is) and ``n_correct``; ``sections``: the same per
        section, in file order.

    Raises
    ------
    NotEnoughDataError
        No question has all four words in the restricted vocabulary.

    Examples
    --------
    >>> import numpy as np
    >>> words = ["man", "woman", "king", "queen", "apple"]
    >>> V = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [0, -1, 0.2]], dtype=float)
    >>> data = Analogies("toy", (("royal", (("man", "woman", "king", "queen"), ("man", "king", "pear", "x"))),))
    >>> r = analogies(Embeddings(words, V), data, device="cpu")
    >>> r["3cosadd"], r["3cosmul"], r["n_evaluated"], r["coverage"]
    (1.0, 1.0, 1, 0.5)
    """
    methods = list(methods)
    bad = [m for m in methods if m not in ANALOGY_METHODS]
    if bad or not methods:
        raise InputError(f"Expected methods from {', '.join(ANALOGY_METHODS)}, got {methods}")
    if not isinstance(restrict_vocab, (int, np.integer)) or isinstance(restrict_vocab, bool) or restrict_vocab < 1:
        raise InputError(f"Expected restrict_vocab to be a positive integer, got {restrict_vocab!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InputError(f"Expected batch_size to be a positive integer, got {batch_size!r}")
    if data is None:
        data = analogy_path()
    if isinstance(data, (str, Path)):
        data = read_analogies(data)
    if not isinstance(data, Analogies):
        raise InputError(f"Expected Analogies or a path to a questions file, got {type(data).__name__}")
    n_vocab = min(int(restrict_vocab), len(emb))
    lower = _lowers(emb, case)
    index = emb.word_to_index

    def row(word: str) -> int:
        j = index.get(word.lower() if lower else word, -1)
        return j if j < n_vocab else -1

    questions, section_of = [], []
    for s, (_, qs) in enumerate(data.sections):
        for q in qs:
            questions.append([row(w) for w in q])
            section_of.append(s)
    Q = np.array(questions, dtype=np.int64).reshape(-1, 4)
    section_of = np.array(section_of, dtype=np.int64)
    covered = (Q >= 0).all(axis=1)
    n, n_ok = len(Q), int(covered.sum())
    if lower and any(w != w.lower() for _, qs in data.sections for q in qs for w in q):
        logger.info("%s: lower-cased the questions to match a vocabulary without upper case (case='keep' to disable)",
                    data.name)
    if n_ok == 0:
        raise NotEnoughDataError(
            f"{data.name}: Expected questions with all four words among the first {n_vocab} words, got none of {n}; "
            "do the vectors and the questions share case and language?"
        )
    predictions = _answer(emb.vectors[:n_vocab], Q[covered], methods, batch_size, tile_size, device, callbacks)
    correct = {m: predictions[m] == Q[covered, 3] for m in methods}

    def scores(mask_all: np.ndarray) -> dict:
        """Counts and accuracies of the questions selected by ``mask_all`` (over all questions)."""
        mask = mask_all[covered]
        k = int(mask.sum())
        out = {"n_questions": int(mask_all.sum()), "n_evaluated": k,
               "coverage": k / int(mask_all.sum()) if mask_all.any() else None}
        for m in methods:
            hits = int(correct[m][mask].sum())
            out[m] = hits / k if k else None
            out.setdefault("n_correct", {})[m] = hits
        return out

    result = {"name": data.name, "restrict_vocab": n_vocab, **scores(np.ones(n, dtype=bool)), "n_oov": n - n_ok}
    result["sections"] = [{"section": title, **scores(section_of == s)} for s, (title, _) in enumerate(data.sections)]
    logger.info("%s: %s over %d of %d questions (first %d words)", data.name,
                ", ".join(f"{m} {result[m]:.4f}" for m in methods), n_ok, n, n_vocab)
    return result


def _answer(V: np.ndarray, Q: np.ndarray, methods: Sequence[str], batch_size: int, tile_size, device,
            callbacks) -> dict[str, np.ndarray]:
    """Best answer row of each question (a, b, c, d) by each method, the question words excluded.

    Each batch stacks the unit vectors of its a, b and c as the query rows of
    the retrieval tiles, so one product gives the three cosines that both
    objectives combine; 3CosAdd alone needs only ``b - a + c`` (its score is
    linear in the cosines), a third of the products.
    """
    dev = resolve_device(device)
    U = unit_rows(V, "vectors", dev)
    _, bt = _sizes(dev, None, tile_size)
    n, nb = len(Q), min(batch_size, len(Q))
    Qt = torch.from_numpy(Q).to(dev)
    best = {m: torch.empty(n, dtype=torch.int64, device=dev) for m in methods}
    for step, start in enumerate(range(0, n, nb), 1):
        q = Qt[start: start + nb]
        b = len(q)
        linear = "3cosmul" not in methods
        if linear:
            stacked = U[q[:, 1]] - U[q[:, 0]] + U[q[:, 2]]
        else:
            stacked = torch.cat([U[q[:, 0]], U[q[:, 1]], U[q[:, 2]]])
        top = {m: (torch.full((b,), -math.inf, device=dev), torch.zeros(b, dtype=torch.int64, device=dev))
               for m in methods}
        rows = torch.arange(b, device=dev)
        for _, ks, S in _tiles(stacked, U, len(stacked), bt):
            ca, cb, cc = (None, None, None) if linear else (S[:b], S[b: 2 * b], S[2 * b:])
            for m in methods:
                if linear:
                    score = S  # the tile is a view of a buffer _tiles rewrites at the next step: free to change
                elif m == "3cosadd":
                    score = cb - ca + cc
                else:  # cos shifted to [0, 1] (Levy & Goldberg 2014)
                    score = (cb + 1) * (cc + 1) / (2 * (ca + 1) + 4 * _COSMUL_EPS)
                for j in range(3):  # the question words are not answers
                    local = q[:, j] - ks.start
                    inside = (local >= 0) & (local < score.shape[1])
                    score[rows[inside], local[inside]] = -math.inf
                value, arg = score.max(dim=1)
                old_value, old_arg = top[m]
                better = value > old_value  # ties keep the earlier (more frequent) word
                top[m] = (torch.where(better, value, old_value), torch.where(better, arg + ks.start, old_arg))
        for m in methods:
            best[m][start: start + b] = top[m][1]
        event = make_event("analogies", step, -(-n // nb), min(1.0, (start + b) / n), partial=True)
        for callback in callbacks:
            callback(event)
    return {m: best[m].cpu().numpy() for m in methods}


# ---------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------
def format_mono_table(results: Mapping[str, Sequence[Mapping]]) -> str:
    """A markdown table of :func:`word_similarity` and :func:`analogies` results.

    Parameters
    ----------
    results : mapping
        ``"similarity"``: results of the similarity functions; ``"analogies"``:
        results of :func:`analogies` (each with its sections).

    Returns
    -------
    str
        One row per similarity set (Spearman ρ x 100) and per analogy set and
        section (accuracy in percent), with coverage.
    """
    lines = ["| test | metric | score | coverage |", "|---|---|---|---|"]

    def pct(value) -> str:
        return "n/a" if value is None else f"{100 * value:.2f}"

    for r in results.get("similarity", ()):
        lines.append(f"| {r['name']} | Spearman ρ x 100 | {pct(r['spearman'])} | "
                     f"{100 * r['coverage']:.1f}% ({r['n_evaluated']}/{r['n_pairs']}) |")
    for r in results.get("analogies", ()):
        methods = [m for m in ANALOGY_METHODS if m in r]
        for label, entry in [(r["name"], r)] + [(f"{r['name']}: {s['section']}", s) for s in r["sections"]]:
            for m in methods:
                coverage = "" if entry["coverage"] is None else f"{100 * entry['coverage']:.1f}% "
                lines.append(f"| {label} | {m} accuracy % | {pct(entry[m])} | "
                             f"{coverage}({entry['n_evaluated']}/{entry['n_questions']}) |")
    if len(lines) == 2:
        raise InputError("Expected at least one result to format, got none")
    return "\n".join(lines)
