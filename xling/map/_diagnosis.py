"""Did an unsupervised mapping work? Checks that need no dictionary."""

from __future__ import annotations

import re
import warnings
from typing import Sequence

import numpy as np
import torch

from xling.exceptions import ConvergenceWarning
from xling.map.procrustes import orthogonal_procrustes
from xling.preprocessing import normalize
from xling.retrieval import csls, unsupervised_criterion

__all__ = ["diagnose", "diagnose_dictionary", "spelling_check", "conclude"]

# An orthogonal map is called successful when its criterion beats a random
# rotation by this much (mean cosine of CSLS translations; a real alignment of
# even small-corpus vectors lifts it by 0.2 or more).
MARGIN = 0.05
# An induced dictionary is called consistent when a map fitted on half of it
# recovers at least this share of the other half (real alignments of small-corpus
# vectors: about 0.5 for induced dictionaries, 0.2 even for a gold one; a failed
# unsupervised run on en-es: 0.05).
MIN_AGREEMENT = 0.1
# The spelling check: words written the same in both vocabularies (names, places,
# cognates, numbers) whose CSLS translation is that same word. On the novels'
# xling vectors a supervised Procrustes map recovers 15-17% of them (en-es, en-de);
# failed unsupervised runs, whose criterion and held-out agreement looked fine,
# recovered 0.0-0.2%, as does a random rotation. Fewer than MIN_IDENTICAL shared
# spellings (e.g. languages in different scripts) make the check inconclusive.
MIN_IDENTICAL = 30
MIN_IDENTICAL_RECOVERY = 0.03
_NUMERAL = re.compile(r"^[0-9]+([.,:/-][0-9]+)*$")


def diagnose(A: torch.Tensor, B: torch.Tensor, *, knn_k: int = 10, generator: torch.Generator | None = None) -> dict:
    """Compare the unsupervised criterion of an orthogonal mapping with a random one.

    Parameters
    ----------
    A : Tensor of shape (n_a, d)
        Mapped vectors of the most frequent source words.
    B : Tensor of shape (n_b, d)
        Target vectors in the same space.

    Returns
    -------
    dict
        ``criterion`` (mean cosine of CSLS translations, Conneau et al. 2018),
        ``random_baseline`` (the same after a random rotation of A),
        ``success`` (criterion > baseline + 0.05) and a ``message``.
    """
    d = A.shape[1]
    Q = torch.linalg.qr(torch.randn(d, d, generator=generator, device=A.device))[0]
    criterion = unsupervised_criterion(A, B, knn_k=knn_k, device=A.device)
    baseline = unsupervised_criterion(A @ Q, B, knn_k=knn_k, device=A.device)
    success = bool(np.isfinite(criterion) and criterion > baseline + MARGIN)
    if success:
        message = f"unsupervised criterion {criterion:.3f} vs {baseline:.3f} for a random rotation"
    else:
        message = (
            f"the unsupervised criterion ({criterion:.3f}) never rose clearly above its value for a random "
            f"rotation ({baseline:.3f}): the mapping has probably failed (too little or too different data?)"
        )
    return {"criterion": criterion, "random_baseline": baseline, "success": success, "message": message}


def diagnose_dictionary(X: np.ndarray, Z: np.ndarray, pairs: np.ndarray, *, rng: np.random.Generator,
                        knn_k: int = 10, device=None) -> dict:
    """Held-out consistency of an induced dictionary, whatever map produced it.

    The source words of ``pairs`` are split in two random halves; an
    orthogonal map is fitted (Procrustes, on unit-center-unit vectors) to the
    first half. On the second half, (1) the unsupervised criterion must rise
    above its value for a random rotation, and (2) the map must recover a
    share of its pairs (the *agreement*). A dictionary that reflects a real
    alignment generalises from one half to the other. Fitting on one half and
    checking on the other avoids the circularity of scoring a map on the words
    it was fitted to, and works whatever mapper induced the dictionary (the
    criterion is only comparable across orthogonal maps). The agreement
    catches runs that matched groups of words (raising the criterion) without
    matching translations.

    Parameters
    ----------
    X : ndarray of shape (n, d_x)
    Z : ndarray of shape (m, d_z)
        The vectors the pair indices refer to (e.g. the most frequent words).
    pairs : ndarray of shape (n_pairs, 2)

    Returns
    -------
    dict
        ``heldout_criterion`` (the unsupervised criterion of Conneau et al.
        2018 on the held-out source words), ``random_baseline`` (the same after
        a random rotation), ``heldout_agreement``, ``success`` (criterion above
        the baseline by 0.05 and agreement >= 0.1) and a ``message``.
    """
    if X.shape[1] != Z.shape[1] or len(pairs) < 4:
        return {"heldout_agreement": float("nan"), "success": False,
                "message": f"cannot check a dictionary of {len(pairs)} pairs between dimensions {X.shape[1]} and {Z.shape[1]}"}
    Xn, Zn = normalize(X), normalize(Z)
    sources = np.unique(pairs[:, 0])
    first = np.isin(pairs[:, 0], rng.permutation(sources)[: len(sources) // 2])
    W = orthogonal_procrustes(Xn[pairs[first, 0]], Zn[pairs[first, 1]]).astype(np.float32)
    held = pairs[~first]
    A, B = torch.from_numpy(Xn[np.unique(held[:, 0])] @ W), torch.from_numpy(Zn)
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
    check = diagnose(A, B, knn_k=knn_k, generator=gen)
    _, index = csls(Xn[held[:, 0]] @ W, Zn, k=1, knn_k=knn_k, sources=Xn @ W, device=device)
    agreement = float((index[:, 0].numpy() == held[:, 1]).mean())
    success = check["success"] and agreement >= MIN_AGREEMENT
    if success:
        message = (f"held-out unsupervised criterion {check['criterion']:.3f} vs {check['random_baseline']:.3f} for a "
                   f"random rotation; {100 * agreement:.0f}% of held-out induced pairs recovered")
    elif not check["success"]:
        message = "on held-out words, " + check["message"]
    else:
        message = (
            f"the induced dictionary is not consistent: a map fitted on half of it recovers only "
            f"{100 * agreement:.1f}% of the other half (< {100 * MIN_AGREEMENT:.0f}%), although the unsupervised "
            f"criterion rose ({check['criterion']:.3f} vs {check['random_baseline']:.3f}): it matches groups of "
            "words, not translations; the mapping has probably failed"
        )
    return {"heldout_criterion": check["criterion"], "random_baseline": check["random_baseline"],
            "heldout_agreement": agreement, "success": success, "message": message}


def spelling_check(A, B, src_words: Sequence[str], tgt_words: Sequence[str], *, skip_numerals: bool = False,
                   knn_k: int = 10, device=None) -> dict:
    """Share of the words spelled alike on both sides that the map translates to themselves.

    No bilingual dictionary is used, only the vocabularies: between languages
    that share a script, many identical strings are translations (names,
    places, numbers, cognates), and a right map sends a good share of them to
    their twin while a wrong one sends almost none. This catches the failure
    that the criterion and the held-out agreement cannot see: a wrong map that
    is consistent with the dictionary it induced.

    Parameters
    ----------
    A : array-like of shape (n_a, d)
        Mapped source vectors of ``src_words`` (e.g. the most frequent words).
    B : array-like of shape (n_b, d)
        Target vectors of ``tgt_words`` in the same space.
    skip_numerals : bool
        Leave numerals out (when the map was seeded with them, they would make
        the check circular).

    Returns
    -------
    dict
        ``identical_words`` (how many were checked), ``identical_recovered``
        (their share translated to their twin by CSLS, NaN when inconclusive),
        ``conclusive`` (at least 30 such words), ``success`` (conclusive and a
        share of at least 3%), the ``message`` and, when conclusive, its
        ``evidence`` (the message without the verdict).
    """
    index = {w: i for i, w in enumerate(tgt_words)}
    shared = np.array([(i, index[w]) for i, w in enumerate(src_words)
                       if w in index and not (skip_numerals and _NUMERAL.match(w))], dtype=np.int64).reshape(-1, 2)
    kind = "non-numeral words" if skip_numerals else "words"
    if len(shared) < MIN_IDENTICAL:
        return {"identical_words": int(len(shared)), "identical_recovered": float("nan"), "conclusive": False,
                "success": False, "message": f"only {len(shared)} {kind} spelled alike on both sides: spelling check inconclusive"}
    A, B = np.asarray(A, dtype=np.float32), np.asarray(B, dtype=np.float32)
    _, top = csls(A[shared[:, 0]], B, k=1, knn_k=knn_k, sources=A, device=device)
    recovered = float((top[:, 0].numpy() == shared[:, 1]).mean())
    success = recovered >= MIN_IDENTICAL_RECOVERY
    evidence = f"{100 * recovered:.1f}% of {len(shared)} {kind} spelled alike translated to themselves"
    if not success:
        evidence += f" (< {100 * MIN_IDENTICAL_RECOVERY:.0f}%, about what a random rotation gives)"
    return {"identical_words": int(len(shared)), "identical_recovered": recovered, "conclusive": True,
            "success": success, "evidence": evidence,
            "message": evidence + ("" if success else ": the mapping has probably failed")}


def conclude(mapper, X, Z, src_words=None, tgt_words=None, *, cut: int, skip_numerals: bool = False,
             warn: bool = True, label: str | None = None) -> None:
    """Finish ``mapper.diagnosis_`` after fitting: spelling check, history entry, warning.

    With the words of the rows of X and Z, :func:`spelling_check` runs on the
    ``cut`` most frequent words of each side (mapped by ``transform`` /
    ``transform_target``). A conclusive check decides the verdict, because it
    measures translations directly where the other checks measure consistency
    (on the novels' en-fr vectors a working unsupervised map, CSLS P@1 10, had
    a held-out agreement of only 8%); an inconclusive one only adds its
    message. The verdict is then appended to
    ``history_`` (so that reports built from it show it) and, when it is a
    failure and ``warn`` is set, raised as a :class:`ConvergenceWarning`.
    """
    diagnosis = mapper.diagnosis_
    if src_words is not None and tgt_words is not None:
        cut_x, cut_z = min(cut, len(X)), min(cut, len(Z))
        check = spelling_check(mapper.transform(X[:cut_x]), mapper.transform_target(Z[:cut_z]),
                               list(src_words[:cut_x]), list(tgt_words[:cut_z]), skip_numerals=skip_numerals,
                               knn_k=getattr(mapper, "knn_k", 10), device=getattr(mapper, "device", None))
        diagnosis["spelling"] = {k: v for k, v in check.items() if k not in ("message", "evidence")}
        if check["conclusive"] and check["success"] != diagnosis["success"]:
            verdict = "the mapping works" if check["success"] else "the mapping has probably failed"
            diagnosis["message"] = (f"{check['evidence']}: {verdict}; this spelling check overrules the other one, "
                                    f"which said: {diagnosis['message']}")
        elif check["conclusive"] and not check["success"]:
            # both failed: the first message already ends with the verdict
            diagnosis["message"] += "; the spelling check agrees: " + check["evidence"]
        else:
            diagnosis["message"] += "; " + check["message"]
        if check["conclusive"]:
            diagnosis["success"] = check["success"]
    mapper._emit("diagnosis", len(mapper.history_) + 1, None, 1.0, **diagnosis)
    if warn and not diagnosis["success"]:
        warnings.warn(f"{label or type(mapper).__name__}: {diagnosis['message']}", ConvergenceWarning, stacklevel=3)
