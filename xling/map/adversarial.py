"""Adversarial mapping without a seed lexicon (Conneau et al. 2018; Barone 2016)."""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch
from torch import nn

from xling._utils import check_random_state, resolve_device, torch_generator
from xling.exceptions import InputError
from xling.map._base import BaseMapper
from xling.map._diagnosis import conclude, diagnose, diagnose_dictionary
from xling.map.procrustes import orthogonal_procrustes
from xling.retrieval import induce_pairs, unsupervised_criterion

logger = logging.getLogger(__name__)

__all__ = ["Adversarial", "AdversarialAutoencoder"]


def _discriminator(dim: int, hidden: int, layers: int, input_dropout: float, dropout: float) -> nn.Sequential:
    """MLP scoring "this vector is a mapped source vector" (logit)."""
    mods: list[nn.Module] = [nn.Dropout(input_dropout)]
    width = dim
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
        width = hidden
    mods.append(nn.Linear(width, 1))
    return nn.Sequential(*mods)


class Adversarial(BaseMapper):
    """Orthogonal map learned by fooling a discriminator, then Procrustes refinement.

    Conneau, Lample, Ranzato, Denoyer & Jégou (2018), "Word translation without
    parallel data" (ICLR). A discriminator (MLP) learns to tell mapped source
    vectors ``x W`` from target vectors, both drawn from the ``max_rank`` most
    frequent words; W learns to fool it. After each W step, W is pulled back
    towards the orthogonal matrices by ``W ← (1 + β) W − β (W Wᵀ) W``. Then
    ``n_refinement`` rounds of Procrustes on the dictionary of mutual CSLS
    nearest neighbours among the ``refinement_max_rank`` most frequent words.

    Model selection never looks at a dictionary: after every epoch and every
    refinement round the unsupervised criterion (mean cosine between the
    ``criterion_size`` most frequent mapped source words and their CSLS
    translations) is computed and the best W is kept; the learning rate is
    shrunk when the criterion drops. ``diagnosis_`` compares the criterion of
    the selected W with that of a random rotation (on held-out pairs when W
    came from a refinement dictionary, see
    ``xling.map._diagnosis.diagnose_dictionary``). Given the words of both
    sides, ``fit`` also checks that words spelled alike mostly translate to
    themselves, which catches a wrong map that the criterion likes (on the
    novels' en-es vectors a failed run scored 0.38 against 0.21 for a random
    rotation, and translated 0.2% of shared spellings to themselves against
    17% for a supervised map). When the diagnosis fails, the fit warns
    (:class:`ConvergenceWarning`) that it has probably failed.

    Parameters
    ----------
    normalize : str or sequence of str, optional
    n_epochs : int
        Adversarial epochs (MUSE: 5).
    epoch_size : int
        Source samples per epoch (MUSE: 1,000,000).
    batch_size : int
        Words per discriminator and map update (MUSE: 32).
    dis_hidden, dis_layers : int
        Discriminator width and number of hidden layers (MUSE: 2048, 2).
    dis_input_dropout, dis_dropout : float
        Dropout on the discriminator's input and on its hidden layers (MUSE: 0.1, 0).
    dis_steps : int
        Discriminator updates per map update.
    dis_lr, map_lr : float
        SGD learning rates of the discriminator and the map.
    lr_decay : float
        Map learning rate factor per epoch.
    lr_shrink : float
        Extra factor when the criterion drops.
    dis_smooth : float
        Label smoothing of the discriminator targets.
    beta : float
        Orthogonalisation step β (0: none).
    max_rank : int
        Most frequent words fed to the discriminator.
    n_refinement : int
        Procrustes refinement rounds.
    refinement_max_rank : int
        Most frequent words among which refinement induces its dictionary (MUSE: 15,000).
    criterion_size : int
        Most frequent source words scored by the unsupervised model-selection criterion (MUSE: 10,000).
    knn_k : int
        CSLS neighbourhood size.
    device : str, optional
    random_state : int, optional
    callbacks : sequence of callables
        Called with one event per epoch and refinement round (schema of
        :mod:`xling._progress`: ``phase`` "adversarial" or "refinement", ``step``,
        ``total``, ``progress``; metrics ``criterion``, ``dis_loss``, ``n_pairs``,
        and ``val_nn_p@1``, ``val_csls_p@1`` when ``fit`` has ``validation``
        pairs: they are logged, never used for model selection).

    Attributes
    ----------
    x_map_ : ndarray of shape (d, d)
        The selected W.
    z_map_ : ndarray of shape (d, d)
        The identity.
    criterion_ : float
        Unsupervised criterion of the selected W.
    diagnosis_ : dict
        ``criterion``, ``random_baseline``, ``success``, ``message``.
    history_ : list of dict
        One entry per epoch and refinement round, then one with
        ``phase="diagnosis"`` (the content of ``diagnosis_``).
    """

    supervised = False
    uses_validation = True
    _autoencoder = False

    def __init__(
        self,
        normalize=("unit", "center", "unit"),
        n_epochs: int = 5,
        epoch_size: int = 250_000,
        batch_size: int = 32,
        dis_hidden: int = 2048,
        dis_layers: int = 2,
        dis_input_dropout: float = 0.1,
        dis_dropout: float = 0.0,
        dis_steps: int = 5,
        dis_lr: float = 0.1,
        map_lr: float = 0.1,
        lr_decay: float = 0.98,
        lr_shrink: float = 0.5,
        dis_smooth: float = 0.1,
        beta: float = 0.001,
        max_rank: int = 75_000,
        n_refinement: int = 5,
        refinement_max_rank: int = 15_000,
        criterion_size: int = 10_000,
        knn_k: int = 10,
        device=None,
        random_state=None,
        callbacks=(),
    ):
        self.normalize = normalize
        self.n_epochs = n_epochs
        self.epoch_size = epoch_size
        self.batch_size = batch_size
        self.dis_hidden = dis_hidden
        self.dis_layers = dis_layers
        self.dis_input_dropout = dis_input_dropout
        self.dis_dropout = dis_dropout
        self.dis_steps = dis_steps
        self.dis_lr = dis_lr
        self.map_lr = map_lr
        self.lr_decay = lr_decay
        self.lr_shrink = lr_shrink
        self.dis_smooth = dis_smooth
        self.beta = beta
        self.max_rank = max_rank
        self.n_refinement = n_refinement
        self.refinement_max_rank = refinement_max_rank
        self.criterion_size = criterion_size
        self.knn_k = knn_k
        self.device = device
        self.random_state = random_state
        self.callbacks = callbacks

    # -- fitting --------------------------------------------------------------
    def _check_params(self) -> None:
        ints = {"n_epochs": 0, "epoch_size": 1, "batch_size": 1, "dis_hidden": 1, "dis_layers": 0, "dis_steps": 1,
                "max_rank": 1, "n_refinement": 0, "refinement_max_rank": 1, "criterion_size": 1, "knn_k": 1}
        for name, low in ints.items():
            if getattr(self, name) < low:
                raise InputError(f"Expected {name} >= {low}, got {getattr(self, name)}")
        if self.n_epochs == 0 and self.n_refinement == 0:
            raise InputError("Expected n_epochs > 0 or n_refinement > 0, got neither")
        if not 0 <= self.dis_smooth < 0.5:
            raise InputError(f"Expected 0 <= dis_smooth < 0.5, got {self.dis_smooth}")

    def fit(self, X, Z, pairs=None, *, src_words: Sequence[str] | None = None,
            tgt_words: Sequence[str] | None = None, validation=None) -> "Adversarial":
        """Learn the map without a seed lexicon, then diagnose it.

        Parameters
        ----------
        X : array-like of shape (n_x, d)
        Z : array-like of shape (n_z, d)
            Rows sorted by frequency (the discriminator, the criterion and the
            refinement use the first rows).
        pairs : None
            Refused: the method uses no bilingual signal.
        src_words, tgt_words : sequence of str, optional
            The words of the rows of X and Z. Not used for learning; with them
            the diagnosis adds a spelling check (words written alike on both
            sides should mostly translate to themselves after a right map).
        validation : array-like of shape (n_val, 2), optional
            Held-out (row in X, row in Z) pairs scored after every epoch and
            refinement round (P@1 in ``history_``); never used to select W.

        Returns
        -------
        self
        """
        super().fit(X, Z, pairs, src_words=src_words, tgt_words=tgt_words, validation=validation)
        conclude(self, X, Z, src_words, tgt_words, cut=self.refinement_max_rank)
        return self

    def _fit(self, X, Z, pairs):
        if pairs is not None:
            raise InputError(f"Expected pairs=None: {type(self).__name__} learns without a seed lexicon")
        self._check_params()
        rng = check_random_state(self.random_state)
        device = resolve_device(self.device)
        gen = torch_generator(rng, device)
        torch_seed = int(rng.integers(0, 2**63 - 1))
        Xt, Zt = torch.from_numpy(X).to(device), torch.from_numpy(Z).to(device)
        d = X.shape[1]
        n_crit = min(self.criterion_size, len(X))
        Zcrit = Zt[: min(self.criterion_size, len(Z))]

        def criterion(W: torch.Tensor) -> float:
            return unsupervised_criterion(Xt[:n_crit] @ W, Zcrit, knn_k=self.knn_k, device=device)

        W = torch.eye(d, device=device)
        best_W, best = W.clone(), -np.inf
        total = self.n_epochs + self.n_refinement
        if self.n_epochs:
            W, best_W, best = self._adversarial(Xt, Zt, W, gen, torch_seed, criterion, total)
        W = best_W if self.n_epochs else W
        best_pairs = None  # the refinement dictionary behind best_W, if any
        cut = min(self.refinement_max_rank, len(X), len(Z))
        for r in range(1, self.n_refinement + 1):
            # refine from the best adversarial W: mutual CSLS nearest neighbours → Procrustes
            pairs_r = induce_pairs(Xt[:cut] @ W, Zt[:cut], method="csls", knn_k=self.knn_k, direction="intersection",
                                   device=device)
            if len(pairs_r) < 2:
                logger.warning("refinement round %d: only %d mutual pairs; stopping refinement", r, len(pairs_r))
                break
            W = torch.from_numpy(
                orthogonal_procrustes(X[pairs_r[:, 0]], Z[pairs_r[:, 1]]).astype(np.float32)
            ).to(device)
            value = criterion(W)
            if value > best:
                best, best_W, best_pairs = value, W.clone(), pairs_r
            logger.info("refinement %d/%d: %d mutual pairs, criterion %.4f", r, self.n_refinement, len(pairs_r), value)
            self._emit("refinement", self.n_epochs + r, total, (self.n_epochs + r) / total, criterion=value,
                       n_pairs=int(len(pairs_r)), **self._validation_of(Xt, Zt, W))
        self.n_iter_ = len(self.history_)
        self.criterion_ = best
        if best_pairs is None:
            # W came from adversarial training, which saw no pairs: its criterion is not circular
            self.diagnosis_ = diagnose(Xt[:n_crit] @ best_W, Zcrit, knn_k=self.knn_k, generator=gen)
        else:
            # W was fitted to a dictionary of these very words: check it on held-out pairs instead
            self.diagnosis_ = diagnose_dictionary(X[:cut], Z[:cut], best_pairs, rng=rng, knn_k=self.knn_k, device=device)
        self.x_map_ = best_W.cpu().numpy()
        self.z_map_ = np.eye(Z.shape[1])

    def _validation_of(self, Xt, Zt, W) -> dict:
        """Validation P@1 of the map W (empty without validation pairs)."""
        vx, vz = self._validation_rows(len(Xt), len(Zt))
        return self._validation_metrics(Xt[:vx] @ W, Zt[:vz], Xt.device) if vx else {}

    def _adversarial(self, Xt, Zt, W0, gen, torch_seed, criterion, total):
        device, d = Xt.device, Xt.shape[1]
        # the discriminator's initial weights and dropout masks come from the derived seed
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(torch_seed)
            dis = _discriminator(d, self.dis_hidden, self.dis_layers, self.dis_input_dropout, self.dis_dropout).to(device)
            W = nn.Parameter(W0.clone())
            decoder = nn.Parameter(W0.clone()) if self._autoencoder else None
            dis_opt = torch.optim.SGD(dis.parameters(), lr=self.dis_lr)
            map_params = [W] + ([decoder] if decoder is not None else [])
            map_opt = torch.optim.SGD(map_params, lr=self.map_lr)
            bce = nn.BCEWithLogitsLoss()
            n_x, n_z = min(self.max_rank, len(Xt)), min(self.max_rank, len(Zt))
            bs = self.batch_size
            # source samples → label 1 − smooth, target samples → smooth
            labels = torch.cat([torch.full((bs, 1), 1 - self.dis_smooth), torch.full((bs, 1), self.dis_smooth)]).to(device)
            best_W, best = W.detach().clone(), -np.inf
            steps = max(1, self.epoch_size // bs)
            for epoch in range(1, self.n_epochs + 1):
                dis_total = 0.0
                for _ in range(steps):
                    dis.train()
                    for _ in range(self.dis_steps):
                        xs = Xt[torch.randint(0, n_x, (bs,), generator=gen, device=device)]
                        zs = Zt[torch.randint(0, n_z, (bs,), generator=gen, device=device)]
                        with torch.no_grad():
                            mapped = xs @ W
                        loss = bce(dis(torch.cat([mapped, zs])), labels)
                        dis_opt.zero_grad()
                        loss.backward()
                        dis_opt.step()
                        dis_total += loss.item()
                    # map step: fool the discriminator (flipped labels); only W (and the decoder) move
                    dis.eval()
                    xs = Xt[torch.randint(0, n_x, (bs,), generator=gen, device=device)]
                    mapped = xs @ W
                    loss = bce(dis(mapped), labels[bs:])  # the target's label, dis_smooth
                    if decoder is not None:
                        # Barone (2016): the decoder must recover x from x W (cosine reconstruction)
                        recon = mapped @ decoder
                        loss = loss + self.reconstruction_weight * (1 - nn.functional.cosine_similarity(recon, xs)).mean()
                    map_opt.zero_grad()
                    loss.backward()
                    map_opt.step()
                    if self.beta > 0:
                        with torch.no_grad():
                            W.mul_(1 + self.beta).sub_(self.beta * (W @ W.T) @ W)
                    if not torch.isfinite(W).all():
                        raise FloatingPointError(
                            f"{type(self).__name__} diverged in epoch {epoch}: W has NaN or inf (try a smaller map_lr)"
                        )
                value = criterion(W.detach())
                if value > best:
                    best, best_W = value, W.detach().clone()
                elif self.lr_shrink < 1:
                    for group in map_opt.param_groups:
                        group["lr"] *= self.lr_shrink
                for group in map_opt.param_groups + dis_opt.param_groups:
                    group["lr"] *= self.lr_decay
                dis_loss = dis_total / (steps * self.dis_steps)
                logger.info("adversarial epoch %d/%d: discriminator loss %.4f, criterion %.4f",
                            epoch, self.n_epochs, dis_loss, value)
                self._emit("adversarial", epoch, total, epoch / total, criterion=value, dis_loss=dis_loss,
                           **self._validation_of(Xt, Zt, W.detach()))
        return W.detach(), best_W, best


class AdversarialAutoencoder(Adversarial):
    """Adversarial auto-encoder mapping (Barone 2016).

    Barone (2016), "Towards cross-lingual distributed representations without
    parallel text trained with adversarial autoencoders" (RepL4NLP). The
    encoder W maps source vectors into the target space and must fool the
    discriminator, as in :class:`Adversarial`; a linear decoder must recover
    the source vector from ``x W`` (cosine reconstruction loss weighted by
    ``reconstruction_weight``), which keeps W close to invertible instead of
    the explicit orthogonalisation (``beta=0`` by default). The original
    method has no refinement (``n_refinement=0``); model selection and the
    failure diagnosis are those of :class:`Adversarial`.

    Parameters
    ----------
    reconstruction_weight : float
        Weight of the reconstruction loss.
    Others
        As in :class:`Adversarial`.
    """

    _autoencoder = True

    def __init__(
        self,
        normalize=("unit", "center", "unit"),
        n_epochs: int = 5,
        epoch_size: int = 250_000,
        batch_size: int = 32,
        dis_hidden: int = 2048,
        dis_layers: int = 2,
        dis_input_dropout: float = 0.1,
        dis_dropout: float = 0.0,
        dis_steps: int = 5,
        dis_lr: float = 0.1,
        map_lr: float = 0.1,
        lr_decay: float = 0.98,
        lr_shrink: float = 0.5,
        dis_smooth: float = 0.1,
        beta: float = 0.0,
        max_rank: int = 75_000,
        n_refinement: int = 0,
        refinement_max_rank: int = 15_000,
        criterion_size: int = 10_000,
        knn_k: int = 10,
        reconstruction_weight: float = 1.0,
        device=None,
        random_state=None,
        callbacks=(),
    ):
        super().__init__(
            normalize=normalize, n_epochs=n_epochs, epoch_size=epoch_size, batch_size=batch_size,
            dis_hidden=dis_hidden, dis_layers=dis_layers, dis_input_dropout=dis_input_dropout,
            dis_dropout=dis_dropout, dis_steps=dis_steps, dis_lr=dis_lr, map_lr=map_lr, lr_decay=lr_decay,
            lr_shrink=lr_shrink, dis_smooth=dis_smooth, beta=beta, max_rank=max_rank, n_refinement=n_refinement,
            refinement_max_rank=refinement_max_rank, criterion_size=criterion_size, knn_k=knn_k, device=device,
            random_state=random_state, callbacks=callbacks,
        )
        self.reconstruction_weight = reconstruction_weight
