"""Bilingual lexicon induction (BLI) evaluation.

For each source word of a test lexicon, its mapped vector retrieves target
words (by cosine "nn", CSLS, inverted softmax "isf" or inverted nearest
neighbour "invnn", see :mod:`xling.retrieval`); the word counts as
translated at k if *any* of its gold translations is among the top k (MUSE's
convention). Coverage is always reported (VecMap's convention).

Out-of-vocabulary test words
----------------------------
A test source word is *covered* when it has a vector and at least one of its
gold translations has one. Two conventions are selectable:

``oov="exclude"``
    Scores are averaged over the covered words only (VecMap, MUSE).
``oov="wrong"``
    Uncovered words count as misses; scores are averaged over all test source
    words (RCSLS, Joulin et al. 2018).

MRR
---
Mean reciprocal rank of the best-ranked gold translation, over the *full*
ranking of all target words (no cutoff): the rank is one plus the number of
targets that score strictly higher than the best gold translation (ties go to
the gold). Uncovered words contribute 0 under ``oov="wrong"``.

CSLS, inverted softmax and inverted NN use all source vectors
-------------------------------------------------------------
The target-side term of CSLS (r_S, the mean similarity of a target word to its
``knn_k`` nearest source words), the inverted-softmax normaliser and the
inverted-NN ranks are computed against *all* source vectors, as MUSE and VecMap
do, not only against the test queries, so a word's score does not depend on
which other words are in the test set.

Precision
---------
``precision="fp64"`` scores in float64 (a reference for the float32
default), ``"fp16"`` in half precision (memory on GPUs); see
:func:`xling.retrieval.precision`. Ties within the precision's rounding go
to the gold translation, so the ranks are as exact as the scores.

Validation during a fit
-----------------------
:func:`pairs_precision` scores row pairs (no words): the iterative mappers
call it once per iteration on a held-out lexicon (``fit(..., validation=pairs)``).
"""

from __future__ import annotations

import logging
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from xling import distributed
from xling.exceptions import InputError, NotEnoughDataError
from xling import retrieval
from xling.retrieval import METHODS

logger = logging.getLogger(__name__)

__all__ = ["bli", "pairs_precision", "evaluate_many", "format_table"]


def _check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    ks = tuple(ks)
    if not ks:
        raise InputError("Expected at least one k in ks, got none")
    for k in ks:
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise InputError(f"Expected every k in ks to be a positive integer, got {k!r}")
    return tuple(sorted(set(int(k) for k in ks)))


def bli(
    src,
    tgt,
    lexicon,
    *,
    method: str = "csls",
    ks: Sequence[int] = (1, 5, 10),
    knn_k: int = 10,
    beta: float = 30.0,
    oov: str = "exclude",
    batch_size: int | None = None,
    tile_size: int | None = None,
    device=None,
    precision: str | None = None,
) -> dict:
    """Precision at k and MRR of word translation from ``src`` to ``tgt``.

    Parameters
    ----------
    src, tgt : Embeddings
        Source and target vectors in one shared space (e.g. after a mapper's
        ``transform`` / ``transform_target``); rows are unit-normalised inside.
    lexicon : Lexicon
        Test dictionary, source word -> gold translations.
    method : {"nn", "csls", "isf", "invnn"}
        Retrieval score: cosine, CSLS (Conneau et al. 2018), inverted softmax
        (Smith et al. 2017) or inverted nearest neighbour (VecMap; Dinu et al. 2015).
    ks : sequence of int
        Cut-offs of precision at k.
    knn_k : int
        CSLS neighbourhood size (used by "csls" only).
    beta : float
        Inverse temperature of the inverted softmax (used by "isf" only).
    oov : {"exclude", "wrong"}
        Average over covered test words only, or count uncovered ones as misses.
    batch_size, tile_size, device
        As in :func:`xling.retrieval.knn`.
    precision : {"fp16", "fp32", "fp64"}, optional
        Floating-point precision of the retrieval (see
        :func:`xling.retrieval.precision`); None: the current one (fp32 by default).

    Returns
    -------
    dict
        ``"p@k"`` for each k and ``"mrr"`` (fractions in [0, 1]); ``"coverage"``
        (covered / all test source words); ``"n_queries"`` (covered words, the
        queries actually retrieved); ``"n_test_words"``; ``"n_scored"`` (the
        denominator: n_queries or n_test_words); ``"method"``, ``"oov"``, and
        ``"knn_k"`` or ``"beta"`` when the method uses it.

    Raises
    ------
    NotEnoughDataError
        No test word is covered (the message gives the counts).
    ValueError
        Bad method, ks, oov, or source and target of different dimensions.

    Examples
    --------
    >>> import numpy as np
    >>> from xling import Embeddings, Lexicon
    >>> src = Embeddings(["a", "b"], np.eye(2)); tgt = Embeddings(["x", "y"], np.eye(2))
    >>> r = bli(src, tgt, Lexicon([("a", "x"), ("b", "x"), ("c", "y")]), method="nn", ks=(1,))
    >>> r["p@1"], r["coverage"], r["n_queries"]
    (0.5, 0.6666666666666666, 2)
    """
    if method not in METHODS:
        raise InputError(f"Expected method to be one of {', '.join(METHODS)}, got {method!r}")
    ks = _check_ks(ks)
    if oov not in ("exclude", "wrong"):
        raise InputError(f"Expected oov='exclude' or 'wrong', got {oov!r}")
    if src.dim != tgt.dim:
        raise InputError(
            f"Expected source and target vectors of the same dimension, got {src.dim} and {tgt.dim}"
        )

    query_rows, golds = [], []
    n_src_oov = n_tgt_oov = 0
    for word in lexicon.sources:
        row = src.word_to_index.get(word)
        gold = sorted({tgt.word_to_index[t] for t in lexicon[word] if t in tgt.word_to_index})
        if row is None:
            n_src_oov += 1
        elif not gold:
            n_tgt_oov += 1
        else:
            query_rows.append(row)
            golds.append(gold)
    n_test, n_queries = len(lexicon), len(query_rows)
    if n_queries == 0:
        raise NotEnoughDataError(
            f"Expected test words with vectors on both sides, got none of {n_test}: {n_src_oov} source words "
            f"have no vector and {n_tgt_oov} have no translation with a vector. Do the vectors and the "
            "lexicon share case and language direction?"
        )

    with retrieval.at_precision(precision):
        # inside xling.distributed.scope(group), each rank scores its rows of the targets (the same numbers)
        scorer = distributed.scorer(src.vectors[query_rows], tgt.vectors, method=method, knn_k=knn_k, beta=beta,
                                    sources=src.vectors, batch_size=batch_size, tile_size=tile_size, device=device,
                                    group=distributed.current_group())
        _, top = scorer.top(max(ks))
        gold_idx = _gold_matrix(golds)
        first = _first_hit(top, gold_idx)
        ranks = first.to(torch.float64)
        missed = (first == 0).nonzero().flatten()
        if len(missed):
            ranks[missed] = scorer.best_rank(gold_idx[missed], rows=missed).to(torch.float64)
    hits = {k: int(((first > 0) & (first <= k)).sum()) for k in ks}
    denominator = n_queries if oov == "exclude" else n_test
    result = {f"p@{k}": hits[k] / denominator for k in ks}
    result["mrr"] = float((1.0 / ranks).sum()) / denominator
    result.update(
        coverage=n_queries / n_test,
        n_queries=n_queries,
        n_test_words=n_test,
        n_scored=denominator,
        method=method,
        oov=oov,
    )
    if method == "csls":
        result["knn_k"] = knn_k
    elif method == "isf":
        result["beta"] = float(beta)
    logger.info(
        "BLI %s: %s, MRR %.4f, coverage %.4f (%d of %d test words)",
        method, ", ".join(f"P@{k} {result[f'p@{k}']:.4f}" for k in ks), result["mrr"],
        result["coverage"], n_queries, n_test,
    )
    return result


def _gold_matrix(golds: Sequence[Sequence[int]]) -> torch.Tensor:
    """Gold rows per query as an (n, width) int64 matrix, -1 padding the shorter lists."""
    width = max(len(g) for g in golds)
    gold_idx = torch.full((len(golds), width), -1, dtype=torch.int64)
    for q, g in enumerate(golds):
        gold_idx[q, : len(g)] = torch.as_tensor(g)
    return gold_idx


def _first_hit(top: torch.Tensor, gold_idx: torch.Tensor) -> torch.Tensor:
    """1-based position of the first gold row among each query's retrieved rows (0: none in ``top``)."""
    hit = (top.unsqueeze(2) == gold_idx.unsqueeze(1)).any(dim=2)
    return torch.where(hit.any(dim=1), hit.int().argmax(dim=1) + 1, 0)


def pairs_precision(
    Y,
    W,
    pairs,
    *,
    methods: Iterable[str] = ("nn", "csls"),
    knn_k: int = 10,
    device=None,
) -> dict[str, float]:
    """P@1 of row pairs: each source row retrieves among the rows of ``W``; any of its gold rows first is right.

    The metric of a validation lexicon during a fit: ``Y`` and ``W`` are the
    current mapped source and target rows (a prefix of each vocabulary), and
    ``pairs`` the validation pairs within them. The CSLS and inverted-softmax
    terms are taken over all rows of ``Y`` (as :func:`bli` takes them over all
    source vectors).

    Parameters
    ----------
    Y : array-like or Tensor of shape (n_y, k)
    W : array-like or Tensor of shape (n_w, k)
    pairs : array-like of shape (n_pairs, 2), int
        ``(row of Y, row of W)``; a row of Y with several pairs has several gold rows.
    methods : iterable of {"nn", "csls", "isf", "invnn"}
    knn_k : int
        CSLS neighbourhood size.
    device : str, optional

    Returns
    -------
    dict
        ``{method: P@1}``, fractions of the distinct source rows.

    Examples
    --------
    >>> import numpy as np
    >>> pairs_precision(np.eye(3), np.eye(3)[[1, 0, 2]], [[0, 1], [1, 1], [2, 2]], methods=["nn"])
    {'nn': 0.6666666666666666}
    """
    from xling.retrieval import Scorer  # one process: a fit's validation is not sharded

    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if not len(pairs):
        raise NotEnoughDataError("Expected at least one validation pair, got none")
    rows, inverse = np.unique(pairs[:, 0], return_inverse=True)
    golds: list[list[int]] = [[] for _ in rows]
    for q, t in zip(inverse.tolist(), pairs[:, 1].tolist()):
        golds[q].append(t)
    Y = Y if isinstance(Y, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(Y, dtype=np.float32))
    gold_idx = _gold_matrix(golds)
    result = {}
    for method in methods:
        if method not in METHODS:
            raise InputError(f"Expected methods from {', '.join(METHODS)}, got {method!r}")
        _, top = Scorer(Y[torch.as_tensor(rows)], W, method=method, knn_k=knn_k, sources=Y, device=device).top(1)
        result[method] = float((_first_hit(top, gold_idx) == 1).double().mean())
    return result


def evaluate_many(src, tgt, lexicon, methods: Iterable[str] = METHODS, *, callbacks=(), **kwargs) -> dict[str, dict]:
    """:func:`bli` for several methods; returns ``{method: result}`` in order.

    ``kwargs`` go to :func:`bli` (ks, knn_k, beta, oov, device, ...).
    ``callbacks`` receive one event (schema of :mod:`xling._progress`,
    ``phase="evaluate"``) after each method, for a progress bar.
    """
    from xling._progress import make_event

    methods = list(methods)
    results = {}
    for step, method in enumerate(methods, 1):
        results[method] = bli(src, tgt, lexicon, method=method, **kwargs)
        event = make_event("evaluate", step, len(methods), step / len(methods), partial=True, method=method)
        for callback in callbacks:
            callback(event)
    return results


def format_table(results: Mapping[str, Mapping]) -> str:
    """A markdown table of BLI results, one row per entry, scores in percent.

    Parameters
    ----------
    results : mapping name -> result of :func:`bli`

    Returns
    -------
    str
        Columns: name, P@k for every k present, MRR, coverage, queries/test words.
    """
    if not results:
        raise InputError("Expected at least one result to format, got none")
    ks = sorted({int(key[2:]) for r in results.values() for key in r if key.startswith("p@")})
    header = ["method", *[f"P@{k}" for k in ks], "MRR", "coverage", "queries"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, r in results.items():
        cells = [str(name)]
        cells += [f"{100 * r[f'p@{k}']:.2f}" if f"p@{k}" in r else "" for k in ks]
        cells += [f"{100 * r['mrr']:.2f}", f"{100 * r['coverage']:.1f}%", f"{r['n_queries']}/{r['n_test_words']}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
