"""Did an unsupervised mapping work? Checks that need no dictionary."""

from __future__ import annotations

import numpy as np
import torch

from xling.map._neighbours import unsupervised_criterion
from xling.map.procrustes import orthogonal_procrustes
from xling.preprocessing import normalize
from xling.retrieval import csls

__all__ = ["diagnose", "diagnose_dictionary"]

# An orthogonal map is called successful when its criterion beats a random
# rotation by this much (mean cosine of CSLS translations; a real alignment of
# even small-corpus vectors lifts it by 0.2 or more).
MARGIN = 0.05
# An induced dictionary is called consistent when a map fitted on half of it
# recovers at least this share of the other half (real alignments of small-corpus
# vectors: about 0.5 for induced dictionaries, 0.2 even for a gold one; a failed
# unsupervised run on en-es: 0.05).
MIN_AGREEMENT = 0.1


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
    criterion = unsupervised_criterion(A, B, knn_k=knn_k)
    baseline = unsupervised_criterion(A @ Q, B, knn_k=knn_k)
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
