"""Relaxed CSLS loss (Joulin et al. 2018)."""

from __future__ import annotations

import logging

import numpy as np
import torch

from xling._utils import check_random_state, resolve_device
from xling.exceptions import InputError
from xling.map._base import BaseMapper
from xling.map.procrustes import orthogonal_procrustes
from xling.retrieval import knn, unit_rows

logger = logging.getLogger(__name__)

__all__ = ["RCSLS"]

_CONSTRAINTS = (None, "none", "spectral", "orthogonal")


class RCSLS(BaseMapper):
    """Linear map trained to maximise the relaxed CSLS retrieval criterion.

    Joulin, Bojanowski, Mikolov, Jégou & Grave (2018), "Loss in translation:
    learning bilingual word mapping with a retrieval criterion" (EMNLP).
    With unit vectors and ŷ_i = x_i W, the loss over the seed pairs is

        (1/n) Σ_i [ −2 ŷ_iᵀ y_i + (1/k) Σ_{y ∈ N_Y(ŷ_i)} ŷ_iᵀ y + (1/k) Σ_{ŷ ∈ N_X(y_i)} ŷᵀ y_i ],

    where N_Y(ŷ_i) are the k nearest target words of ŷ_i and N_X(y_i) the k
    nearest mapped source words of y_i, both searched among the first
    ``n_neighbours`` (most frequent) words of each side. Full-batch gradient
    descent from the Procrustes solution; the step is halved (and the update
    undone) when the loss rises, as in the paper's implementation. The map is
    unconstrained, or projected after each step onto the unit spectral-norm
    ball (``"spectral"``, the convex relaxation of the paper) or onto the
    orthogonal matrices (``"orthogonal"``).

    The defaults are those of the reference implementation (fastText's
    ``alignment/align.py``): unit-length vectors without centring, 10 steps of
    step size 1, no constraint, neighbours among 200,000 words; on en-es they
    give align.py's CSLS P@1 (BENCHMARKS.md, "Side by side with VecMap, MUSE
    and fastText"), where the unit-center-unit, 20-step, spectral setting
    this class had before lost 2 points.

    Parameters
    ----------
    normalize : str or sequence of str, optional
    knn_k : int
        k of the CSLS neighbourhoods.
    n_neighbours : int
        Vocabulary subset (first rows of X and Z) searched for neighbours.
    n_iter : int
        Gradient steps.
    lr : float
        Initial step size.
    constraint : {None, "spectral", "orthogonal"}
    max_pairs : int, optional
        Train on the first this many seed pairs only (fastText's ``--maxsup``).
    batch_size : int, optional
        Stochastic gradient steps on this many seed pairs a step, drawn without
        replacement (fastText's ``--sgd --batchsize``); every step is then
        taken (no halving: a mini-batch loss does not compare across steps).
        None: full-batch steps.
    reg : float
        Weight decay: each step first scales the map by ``1 - lr * reg``
        (fastText's ``--reg``).
    random_state : int, numpy Generator or None
        Seeds the mini-batches (unused with full batches).
    device : str, optional
    callbacks : sequence of callables
        Called with one event per iteration (schema of :mod:`xling._progress`;
        metrics ``loss`` (of the step's mini-batch with ``batch_size``), ``lr``, and
        ``val_nn_p@1``, ``val_csls_p@1`` when ``fit`` has ``validation`` pairs).

    Attributes
    ----------
    x_map_ : ndarray of shape (d, d)
    z_map_ : ndarray of shape (d, d)
        The identity.
    initial_loss_ : float
        Loss of the Procrustes starting point.
    history_ : list of dict
        Loss per iteration.

    Notes
    -----
    fastText's ``--center`` is ``normalize=("unit", "center", "unit")``.
    Deterministic with full batches (exact neighbours); mini-batches follow
    ``random_state``. ``fit(..., validation=pairs)`` scores the map of every iteration on
    held-out pairs (see :class:`~xling.map.BaseMapper`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 10)); Q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    >>> m = RCSLS(n_iter=5, device="cpu").fit(X, X @ Q + 0.05 * rng.normal(size=(500, 10)))
    >>> m.x_map_.shape
    (10, 10)
    """

    uses_validation = True

    def __init__(
        self,
        normalize=("unit",),
        knn_k: int = 10,
        n_neighbours: int = 200_000,
        n_iter: int = 10,
        lr: float = 1.0,
        constraint: str | None = None,
        max_pairs: int | None = None,
        batch_size: int | None = None,
        reg: float = 0.0,
        random_state=None,
        device=None,
        callbacks=(),
    ):
        self.normalize = normalize
        self.knn_k = knn_k
        self.n_neighbours = n_neighbours
        self.n_iter = n_iter
        self.lr = lr
        self.constraint = constraint
        self.max_pairs = max_pairs
        self.batch_size = batch_size
        self.reg = reg
        self.random_state = random_state
        self.device = device
        self.callbacks = callbacks

    def _fit(self, X, Z, pairs):
        if self.constraint not in _CONSTRAINTS:
            raise InputError(f"Expected constraint in {_CONSTRAINTS}, got {self.constraint!r}")
        if self.knn_k < 1 or self.n_iter < 0 or self.lr <= 0:
            raise InputError(f"Expected knn_k >= 1, n_iter >= 0, lr > 0, got {self.knn_k}, {self.n_iter}, {self.lr}")
        for name in ("max_pairs", "batch_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
                raise InputError(f"Expected {name} to be None or a positive integer, got {value!r}")
        if not 0 <= self.reg < 1 / self.lr:
            raise InputError(f"Expected 0 <= reg < 1 / lr = {1 / self.lr:g}, got {self.reg}")
        device = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        k = min(self.knn_k, len(X), len(Z), self.n_neighbours)
        Xt, Zt = unit_rows(X, "X", device), unit_rows(Z, "Z", device)
        pairs = pairs[: self.max_pairs]
        X_all, Y_all = Xt[pairs[:, 0]], Zt[pairs[:, 1]]
        Xneg, Zneg = Xt[: self.n_neighbours], Zt[: self.n_neighbours]
        W = torch.from_numpy(orthogonal_procrustes(X_all.cpu().numpy(), Y_all.cpu().numpy()).astype(np.float32)).to(device)
        minibatch = self.batch_size is not None and self.batch_size < len(pairs)

        def loss_and_grad(W, Xs=X_all, Ys=Y_all):
            # The neighbourhoods are constants of each step (as in the paper), so the loss is linear in W
            # given them and its gradient has a closed form: three d × n by n × d products, no autograd
            # and no (n, k, d) × (d, d) product of the gathered neighbours.
            Yhat = Xs @ W
            nn_y = knn(Yhat, Zneg, k, metric="dot", device=device)[1].to(device)  # N_Y(ŷ_i), by dot product
            nn_x = knn(Ys, Xneg @ W, k, metric="dot", device=device)[1].to(device)  # N_X(y_i)
            z_sum = Zneg[nn_y].sum(dim=1)  # (n, d): Σ_{z ∈ N_Y(ŷ_i)} z
            x_sum = Xneg[nn_x].sum(dim=1)  # (n, d): Σ_{x ∈ N_X(y_i)} x, unmapped
            n = len(Xs)
            loss = (-2 * (Yhat * Ys).sum() + ((Yhat * z_sum).sum() + ((x_sum @ W) * Ys).sum()) / k) / n
            grad = (Xs.T @ (z_sum / k - 2 * Ys) + x_sum.T @ Ys / k) / n
            return loss.item(), grad

        def batch():
            rows = torch.from_numpy(rng.choice(len(pairs), size=self.batch_size, replace=False)).to(device)
            return X_all[rows], Y_all[rows]

        lr = self.lr
        loss, grad = loss_and_grad(W)
        self.initial_loss_ = loss
        vx, vz = self._validation_rows(len(X), len(Z))
        for it in range(1, self.n_iter + 1):
            if minibatch:
                # fastText's --sgd: the step of a fresh mini-batch, always taken (its loss goes to the history)
                loss, grad = loss_and_grad(W, *batch())
                W = self._project(W * (1 - lr * self.reg) - lr * grad)
                if not np.isfinite(loss):
                    raise FloatingPointError(f"RCSLS diverged at iteration {it}: loss is {loss} (try a smaller lr)")
            else:
                W_new = self._project(W * (1 - lr * self.reg) - lr * grad)
                new_loss, new_grad = loss_and_grad(W_new)
                if not np.isfinite(new_loss):
                    raise FloatingPointError(f"RCSLS diverged at iteration {it}: loss is {new_loss} (try a smaller lr)")
                if new_loss > loss:
                    lr /= 2  # overshoot: undo the step and retry with half the step size
                else:
                    W, loss, grad = W_new, new_loss, new_grad
            logger.info("rcsls iteration %d/%d: loss %.5f, lr %.3g", it, self.n_iter, loss, lr)
            val = self._validation_metrics(Xt[:vx] @ W, Zt[:vz], device) if vx else {}
            self._emit("train", it, self.n_iter, it / self.n_iter, loss=loss, lr=lr, **val)
        self.n_iter_ = self.n_iter
        self.x_map_ = W.cpu().numpy()
        self.z_map_ = np.eye(Z.shape[1])

    def _project(self, W: torch.Tensor) -> torch.Tensor:
        if self.constraint in (None, "none"):
            return W
        U, s, Vh = torch.linalg.svd(W.double(), full_matrices=False)
        if self.constraint == "orthogonal":
            return (U @ Vh).to(W.dtype)
        return ((U * s.clamp(max=1.0)) @ Vh).to(W.dtype)
