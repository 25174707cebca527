"""Max-margin ranking with intruder negatives (Lazaridou et al. 2015)."""

from __future__ import annotations

import logging

import numpy as np
import torch

from xling._utils import check_random_state, resolve_device, torch_generator
from xling.exceptions import InputError
from xling.map._base import BaseMapper
from xling.retrieval import unit_rows

logger = logging.getLogger(__name__)

__all__ = ["MaxMargin"]


def _cos_rows(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Cosine of matching rows, shape (n,)."""
    return torch.nn.functional.cosine_similarity(A, B, dim=-1, eps=1e-8)


class MaxMargin(BaseMapper):
    """Linear map trained with a margin ranking loss and intruder negatives.

    Lazaridou, Dinu & Baroni (2015), "Hubness and pollution: delving into
    cross-space mapping for zero-shot learning" (ACL). For each seed pair
    (x_i, y_i) with mapped vector ŷ_i = x_i W, the loss is

        Σ_{j ∈ negatives(i)} max(0, γ + cos(ŷ_i, y_j) − cos(ŷ_i, y_i)),

    where the k negatives are *intruders*: target words near ŷ_i but far from
    the true translation, i.e. the highest ``cos(ŷ_i, y_j) − cos(y_i, y_j)``
    among ``n_candidates`` target words sampled at each step. Random negatives
    (``negatives="random"``) show what the intruders buy. Trained with Adam in
    torch on ``device``.

    Parameters
    ----------
    normalize : str or sequence of str, optional
    margin : float
        Margin γ > 0 by which a translation must beat each negative.
    n_negatives : int
        Negatives k per seed pair.
    negatives : {"intruder", "random"}
        Negatives near the mapped source word but far from its translation (Lazaridou et al. 2015), or random words.
    n_candidates : int
        Target words sampled per batch to pick intruders from (all of Z if it
        has fewer rows).
    n_epochs : int
        Passes over the seed pairs.
    batch_size : int
        Seed pairs per Adam step.
    lr : float
        Adam learning rate.
    device : str, optional
        None picks CUDA when available.
    random_state : int, optional
    callbacks : sequence of callables
        Called with one event per epoch (schema of :mod:`xling._progress`; metric ``loss``,
        and ``val_nn_p@1``, ``val_csls_p@1`` when ``fit`` has ``validation`` pairs).

    Attributes
    ----------
    x_map_ : ndarray of shape (d_x, d_z)
    z_map_ : ndarray of shape (d_z, d_z)
        The identity.
    history_ : list of dict
        Mean loss per epoch.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 8)); Q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    >>> m = MaxMargin(n_epochs=10, random_state=0, device="cpu").fit(X, X @ Q)
    >>> Y = m.transform(X); Z = m.transform_target(X @ Q)
    >>> nearest = (Y @ Z.T / np.linalg.norm(Y, axis=1, keepdims=True)).argmax(axis=1)
    >>> bool((nearest == np.arange(300)).mean() > 0.95)
    True
    """

    same_dim = False
    uses_validation = True

    def __init__(
        self,
        normalize="unit",
        margin: float = 0.4,
        n_negatives: int = 10,
        negatives: str = "intruder",
        n_candidates: int = 2000,
        n_epochs: int = 50,
        batch_size: int = 128,
        lr: float = 5e-2,
        device=None,
        random_state=None,
        callbacks=(),
    ):
        self.normalize = normalize
        self.margin = margin
        self.n_negatives = n_negatives
        self.negatives = negatives
        self.n_candidates = n_candidates
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.callbacks = callbacks

    def _fit(self, X, Z, pairs):
        if self.negatives not in ("intruder", "random"):
            raise InputError(f"Expected negatives='intruder' or 'random', got {self.negatives!r}")
        if self.margin <= 0 or self.n_negatives < 1 or self.n_epochs < 1:
            raise InputError(
                f"Expected margin > 0, n_negatives >= 1, n_epochs >= 1, got {self.margin}, "
                f"{self.n_negatives}, {self.n_epochs}"
            )
        if len(Z) < self.n_negatives + 1:
            raise InputError(f"Expected more than n_negatives={self.n_negatives} target rows, got {len(Z)}")
        rng = check_random_state(self.random_state)
        device = resolve_device(self.device)
        gen = torch_generator(rng, device)
        Xt = torch.from_numpy(X).to(device)
        Zt = torch.from_numpy(Z).to(device)
        Zunit = unit_rows(Zt)
        src = torch.from_numpy(pairs[:, 0]).to(device)
        tgt = torch.from_numpy(pairs[:, 1]).to(device)
        # a random semi-orthogonal start: cosines are defined from the first step
        W0 = torch.linalg.qr(torch.randn(max(X.shape[1], Z.shape[1]), max(X.shape[1], Z.shape[1]), generator=gen, device=device))[0]
        W = torch.nn.Parameter(W0[: X.shape[1], : Z.shape[1]].contiguous())
        opt = torch.optim.Adam([W], lr=self.lr)
        n, k = len(pairs), self.n_negatives
        vx, vz = self._validation_rows(len(X), len(Z))
        for epoch in range(self.n_epochs):
            order = torch.randperm(n, generator=gen, device=device)
            total = 0.0
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                x, gold = Xt[src[idx]], tgt[idx]
                y_hat = x @ W
                neg = self._negatives(y_hat.detach(), gold, Zunit, k, gen)
                pos = _cos_rows(y_hat, Zt[gold])
                negcos = _cos_rows(y_hat[:, None, :], Zt[neg])
                loss = torch.clamp(self.margin + negcos - pos[:, None], min=0).sum(dim=1).mean()
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"MaxMargin diverged at epoch {epoch + 1}: loss is {loss.item()} (try a smaller lr)"
                    )
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            logger.info("max-margin epoch %d/%d: loss %.4f", epoch + 1, self.n_epochs, total / n)
            val = self._validation_metrics(Xt[:vx] @ W.detach(), Zt[:vz], device) if vx else {}
            self._emit("train", epoch + 1, self.n_epochs, (epoch + 1) / self.n_epochs, loss=total / n, **val)
        self.n_iter_ = self.n_epochs
        self.x_map_ = W.detach().cpu().numpy()
        self.z_map_ = np.eye(Z.shape[1])

    def _negatives(self, y_hat, gold, Zunit, k, gen) -> torch.Tensor:
        """Indices (batch, k) of negative target rows, never the gold one."""
        m = len(Zunit)
        if self.negatives == "random":
            # draw from m - 1 rows and skip over the gold index
            neg = torch.randint(0, m - 1, (len(gold), k), generator=gen, device=gold.device)
            return neg + (neg >= gold[:, None]).long()
        if m <= self.n_candidates:
            cand = torch.arange(m, device=gold.device)
        else:
            cand = torch.randperm(m, generator=gen, device=gold.device)[: self.n_candidates]
        C = Zunit[cand]
        # not unit_rows: a diverging step makes y_hat non-finite, which the loss check reports as divergence
        y_unit = y_hat / y_hat.norm(dim=1, keepdim=True).clamp_min(1e-12)
        # intruder score: near the mapped vector, far from the true translation
        score = y_unit @ C.T - Zunit[gold] @ C.T
        score[cand[None, :] == gold[:, None]] = -float("inf")
        return cand[score.topk(k, dim=1).indices]
