"""Several languages in one space: map every language into a hub language."""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
from sklearn.base import clone

from xling.embeddings import Embeddings
from xling.lexicon import Coverage, Lexicon
from xling.map._base import BaseMapper

logger = logging.getLogger(__name__)

__all__ = ["HubAlignment", "map_to_hub"]


@dataclass
class HubAlignment:
    """The result of :func:`map_to_hub`.

    Attributes
    ----------
    hub : str
        The hub language.
    mappers : dict str -> BaseMapper
        For each non-hub language, its fitted map into the hub space.
    embeddings : dict str -> Embeddings
        Every language (the hub included) in the shared space.
    coverage : dict str -> Coverage
        For each language fitted with a lexicon, how much of it was usable.
    """

    hub: str
    mappers: dict[str, BaseMapper]
    embeddings: dict[str, Embeddings]
    coverage: dict[str, Coverage] = field(default_factory=dict)

    def pair(self, src: str, tgt: str) -> tuple[Embeddings, Embeddings]:
        """Source and target embeddings of any two languages, in the hub space.

        Raises
        ------
        KeyError
            A language that was not aligned.
        """
        for lang in (src, tgt):
            if lang not in self.embeddings:
                raise KeyError(f"Expected a language among {sorted(self.embeddings)}, got {lang!r}")
        return self.embeddings[src], self.embeddings[tgt]


def map_to_hub(
    spaces: Mapping[str, Embeddings],
    hub: str,
    lexicons: Mapping[str, Lexicon] | None = None,
    *,
    method: str | BaseMapper = "procrustes",
    **params,
) -> HubAlignment:
    """Map every language of ``spaces`` into the space of ``hub``.

    Each non-hub language is mapped independently onto the hub with its own
    lexicon (or none, for unsupervised methods), so that any two languages,
    neither of them the hub, can be compared through the hub space (e.g.
    de→fr BLI with en as hub; see Heyman et al. 2019 and Kementchedjhieva et al.
    2018 on multilingual alignment through a pivot).

    Parameters
    ----------
    spaces : mapping str -> Embeddings
        One vector space per language, the hub included.
    hub : str
        The key of the hub language in ``spaces``.
    lexicons : mapping str -> Lexicon, optional
        ``lexicons[lang]`` translates ``lang`` words into hub words (invert a
        hub→lang file with :meth:`Lexicon.inverse`). Required for every
        non-hub language by supervised methods, refused by unsupervised ones.
    method : str or BaseMapper
        A name in :data:`xling.map.MAPPERS` (built with ``**params``), or a
        mapper instance cloned for each language.
    **params
        Hyperparameters of the named method.

    Returns
    -------
    HubAlignment

    Raises
    ------
    ValueError
        Unknown hub or method, missing lexicon, or a method that also moves the
        hub side in a language-dependent way (e.g. CCA, whitening): a hub
        needs a map that leaves the hub's own vectors the same for every
        language.

    Examples
    --------
    >>> import numpy as np
    >>> from xling import Embeddings, Lexicon
    >>> rng = np.random.default_rng(0)
    >>> words = [f"w{i}" for i in range(50)]
    >>> H = rng.normal(size=(50, 4)); Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    >>> spaces = {"en": Embeddings(words, H), "xx": Embeddings([w + "x" for w in words], H @ Q)}
    >>> al = map_to_hub(spaces, "en", {"xx": Lexicon((w + "x", w) for w in words)})
    >>> sorted(al.embeddings), al.mappers["xx"].x_map_.shape
    (['en', 'xx'], (4, 4))
    """
    from xling.map import MAPPERS

    if hub not in spaces:
        raise ValueError(f"Expected the hub among the languages {sorted(spaces)}, got {hub!r}")
    if len(spaces) < 2:
        raise ValueError(f"Expected at least two languages, got {sorted(spaces)}")
    if isinstance(method, BaseMapper):
        if params:
            raise ValueError(f"Expected no extra settings with a mapper instance, got {sorted(params)}")
        template = method
    elif method in MAPPERS:
        template = MAPPERS[method](**params)
    else:
        raise ValueError(f"Expected method in {sorted(MAPPERS)} or a mapper instance, got {method!r}")
    lexicons = dict(lexicons or {})
    unknown = set(lexicons) - set(spaces) | ({hub} & set(lexicons))
    if unknown:
        raise ValueError(f"Expected lexicons keyed by non-hub languages {sorted(set(spaces) - {hub})}, got {sorted(unknown)}")
    hub_emb = spaces[hub]
    mappers: dict[str, BaseMapper] = {}
    coverage: dict[str, Coverage] = {}
    mapped: dict[str, Embeddings] = {}
    hub_vectors = None
    for lang, emb in spaces.items():
        if lang == hub:
            continue
        mapper = clone(template)
        pairs = None
        if mapper.supervised:
            if lang not in lexicons:
                raise ValueError(f"Expected a {lang}→{hub} lexicon for the supervised method {type(mapper).__name__}")
            pairs, coverage[lang] = lexicons[lang].to_pairs(
                emb, hub_emb, min_pairs=mapper.min_pairs, name=f"{lang}-{hub} lexicon"
            )
        elif lang in lexicons:
            raise ValueError(f"Expected no lexicon for the unsupervised method {type(mapper).__name__}, got one for {lang!r}")
        fit_kwargs = {}
        if "src_words" in inspect.signature(mapper.fit).parameters and getattr(mapper, "seed", None) in ("identical", "numerals"):
            fit_kwargs = {"src_words": emb.words, "tgt_words": hub_emb.words}
        logger.info("mapping %s (%d words) into the %s hub with %s", lang, len(emb), hub, type(mapper).__name__)
        mapper.fit(emb.vectors, hub_emb.vectors, pairs, **fit_kwargs)
        target = mapper.transform_target(hub_emb.vectors)
        if hub_vectors is None:
            hub_vectors = target
        elif target.shape != hub_vectors.shape or not np.allclose(target, hub_vectors, atol=1e-4):
            raise ValueError(
                f"Expected a method that leaves the hub vectors the same for every language, but "
                f"{type(mapper).__name__} moves the {hub} side differently for {lang!r}; use a one-sided method "
                "(e.g. procrustes, lstsq, rcsls) for a hub space"
            )
        mappers[lang] = mapper
        mapped[lang] = emb.with_vectors(mapper.transform(emb.vectors))
    mapped[hub] = hub_emb.with_vectors(hub_vectors)
    return HubAlignment(hub=hub, mappers=mappers, embeddings={lang: mapped[lang] for lang in spaces}, coverage=coverage)
