"""Nearest-neighbour steps used inside the iterative solvers.

Dictionary induction (self-learning, adversarial refinement) and the
unsupervised model-selection criterion need, for two mapped vocabularies A and
B, the best match of every row of A in B *and* of every row of B in A, under
cosine or CSLS (Conneau et al. 2018), optionally with random "dropout" of
similarities (stochastic dictionary induction, Artetxe et al. 2018 ACL). Both
directions are computed tile by tile from the same score blocks, so the full
(n_a, n_b) matrix is never built. The CSLS neighbourhood terms come from
:func:`xling.retrieval.csls_terms`; plain dictionary induction without
dropout or objective is :func:`xling.retrieval.induce_pairs`.
"""

from __future__ import annotations

import numpy as np
import torch

from xling.retrieval import csls, csls_terms

__all__ = ["unit_rows", "mutual_best", "induce_dictionary", "unsupervised_criterion", "DIRECTIONS"]

DIRECTIONS = ("forward", "backward", "union", "intersection")


def unit_rows(A: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit length (zero rows stay zero)."""
    return A / A.norm(dim=1, keepdim=True).clamp_min(1e-12)


def mutual_best(
    A: torch.Tensor,
    B: torch.Tensor,
    *,
    method: str = "csls",
    knn_k: int = 10,
    keep_prob: float = 1.0,
    generator: torch.Generator | None = None,
    batch_size: int = 2048,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best match of each row of A in B and of each row of B in A.

    Parameters
    ----------
    A : Tensor of shape (n_a, d)
    B : Tensor of shape (n_b, d)
        Any scale: rows are unit-normalised here (cosine).
    method : {"nn", "csls"}
        Plain cosine, or CSLS ``2 cos(a, b) − r_B(a) − r_A(b)``.
    knn_k : int
        Neighbourhood size of the CSLS terms.
    keep_prob : float
        Each similarity is kept with this probability and otherwise ignored
        (stochastic dictionary induction); 1 keeps all.
    generator : torch.Generator, optional
        Source of the dropout mask (on A's device).

    Returns
    -------
    fwd_score, fwd_index : Tensors of shape (n_a,)
        For each row of A, the best score and the row of B.
    bwd_score, bwd_index : Tensors of shape (n_b,)
        For each row of B, the best score and the row of A.
    """
    if method not in ("nn", "csls"):
        raise ValueError(f"Expected method 'nn' or 'csls', got {method!r}")
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"Expected keep_prob in (0, 1], got {keep_prob}")
    A, B = unit_rows(A), unit_rows(B)
    device = A.device
    if method == "csls":
        r_a, r_b = (t.to(device) for t in csls_terms(A, B, knn_k=knn_k, device=device))
    bwd_score = torch.full((len(B),), -float("inf"), device=device)
    bwd_index = torch.zeros(len(B), dtype=torch.long, device=device)
    fwd_scores, fwd_indices = [], []
    for start in range(0, len(A), batch_size):
        rows = slice(start, min(start + batch_size, len(A)))
        S = A[rows] @ B.T
        if method == "csls":
            S = 2 * S - r_a[rows, None] - r_b[None, :]
        if keep_prob < 1.0:
            mask = torch.rand(S.shape, generator=generator, device=device) >= keep_prob
            S.masked_fill_(mask, -float("inf"))
        score, index = S.max(dim=1)
        fwd_scores.append(score)
        fwd_indices.append(index)
        col_score, col_index = S.max(dim=0)
        better = col_score > bwd_score
        bwd_score = torch.where(better, col_score, bwd_score)
        bwd_index = torch.where(better, col_index + start, bwd_index)
    return torch.cat(fwd_scores), torch.cat(fwd_indices), bwd_score, bwd_index


def induce_dictionary(
    A: torch.Tensor,
    B: torch.Tensor,
    *,
    method: str = "csls",
    knn_k: int = 10,
    direction: str = "union",
    threshold: float | None = None,
    keep_prob: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[np.ndarray, float]:
    """Induce a dictionary between two mapped vocabularies.

    Parameters
    ----------
    A : Tensor of shape (n_a, d)
    B : Tensor of shape (n_b, d)
    direction : {"forward", "backward", "union", "intersection"}
        Pairs (a, best b), (best a, b), their union, or only the mutual nearest
        neighbours (intersection).
    threshold : float, optional
        Drop pairs whose score (cosine or CSLS) is below it.

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2), int64
        (row of A, row of B), unique, sorted.
    objective : float
        Mean best score over both directions, the quantity self-learning
        maximises (Artetxe et al. 2018 ACL).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"Expected direction in {DIRECTIONS}, got {direction!r}")
    fs, fi, bs, bi = mutual_best(A, B, method=method, knn_k=knn_k, keep_prob=keep_prob, generator=generator)
    fwd = torch.stack([torch.arange(len(A), device=A.device), fi], dim=1)
    bwd = torch.stack([bi, torch.arange(len(B), device=B.device)], dim=1)
    if threshold is not None:
        fwd, bwd = fwd[fs >= threshold], bwd[bs >= threshold]
    fwd, bwd = fwd.cpu().numpy(), bwd.cpu().numpy()
    if direction == "forward":
        pairs = fwd
    elif direction == "backward":
        pairs = bwd
    elif direction == "union":
        pairs = np.concatenate([fwd, bwd])
    else:
        # mutual nearest neighbours: a's best is b and b's best is a (both above the threshold)
        fi_np, bi_np = fi.cpu().numpy(), bi.cpu().numpy()
        keep = bi_np[fi_np] == np.arange(len(fi_np))
        if threshold is not None:
            keep &= (fs >= threshold).cpu().numpy() & (bs >= threshold).cpu().numpy()[fi_np]
        pairs = np.stack([np.arange(len(fi_np)), fi_np], axis=1)[keep]
    pairs = np.unique(pairs.astype(np.int64).reshape(-1, 2), axis=0)
    objective = float((fs.mean() + bs.mean()) / 2)
    return pairs, objective


def unsupervised_criterion(A: torch.Tensor, B: torch.Tensor, *, knn_k: int = 10) -> float:
    """Mean cosine between rows of A and their CSLS translations in B.

    The model-selection criterion of Conneau et al. (2018): A holds the mapped
    vectors of the most frequent source words, B the target vocabulary. It
    needs no dictionary and correlates with translation accuracy.
    """
    A, B = unit_rows(A), unit_rows(B)
    _, index = csls(A, B, k=1, knn_k=knn_k, device=A.device)
    return float((A * B[index[:, 0].to(A.device)]).sum(dim=1).mean())
