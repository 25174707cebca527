"""Did an unsupervised mapping work? A check that needs no dictionary."""

from __future__ import annotations

import numpy as np
import torch

from xling.map._neighbours import unsupervised_criterion

__all__ = ["diagnose"]

# A mapping is called successful when its criterion beats the random-rotation
# baseline by this much (mean cosine of CSLS translations; a real alignment of
# even small-corpus vectors lifts it by 0.1 or more, random rotations by < 0.01).
MARGIN = 0.05


def diagnose(A: torch.Tensor, B: torch.Tensor, *, knn_k: int = 10, generator: torch.Generator | None = None) -> dict:
    """Compare the unsupervised criterion of a mapping with a random one.

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
