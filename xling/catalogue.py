"""Every method of every command, with its settings explained (``xling methods``).

The explanations come from the classes' numpydoc docstrings (the first line
of each entry of their *Parameters* section), so the catalogue cannot drift
from the code.
"""

from __future__ import annotations

import inspect
import re

from xling._utils import jsonable

__all__ = ["catalogue", "settings_help"]

_ENTRY = re.compile(r"^(\s*)([A-Za-z_][\w, ]*?)\s*:\s*(.*)$")


def settings_help(cls, fallback: dict[str, str] | None = None) -> dict[str, str]:
    """``{setting: one-line explanation}`` from the *Parameters* section of ``cls`` or its bases.

    A setting documented by its type alone takes the explanation of the same
    setting in ``fallback`` (its family), else keeps the type.
    """
    described: dict[str, str] = {}
    typed: dict[str, str] = {}
    for klass in inspect.getmro(cls):
        for name, (kind, text) in _parameters(inspect.getdoc(klass) or "").items():
            if text:
                described.setdefault(name, text)
            typed.setdefault(name, kind)
    fallback = fallback or {}
    return {name: described.get(name) or fallback.get(name) or typed[name] for name in {**typed, **described}}


def _parameters(doc: str) -> dict[str, tuple[str, str]]:
    """Parse a numpydoc *Parameters* section into ``{name: (type, first sentence of its text)}``."""
    match = re.search(r"^Parameters\n-{3,}\n(.*?)(?=^\S[^\n]*\n-{3,}\n|\Z)", doc, re.MULTILINE | re.DOTALL)
    if not match:
        return {}
    kinds: dict[str, str] = {}
    texts: dict[str, list[str]] = {}
    names: list[str] = []
    for line in match.group(1).splitlines():
        entry = _ENTRY.match(line)
        if entry and not entry.group(1):  # "name : type" at the left margin starts an entry
            names = [n.strip() for n in entry.group(2).split(",") if n.strip()]
            for name in names:
                kinds[name], texts[name] = entry.group(3).strip(), []
        elif line.strip() and names and not any(t and t[-1].endswith(".") for t in (texts[names[0]],)):
            for name in names:
                texts[name].append(line.strip())  # up to the end of the first sentence
    return {name: (kinds[name], _first_sentence(" ".join(texts[name]))) for name in kinds}


def _first_sentence(text: str, limit: int = 160) -> str:
    sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


def catalogue() -> dict:
    """``{command: {method: {"class", "summary", "settings": {name: {"default", "help"}}}}}``.

    Commands: ``train``, ``train-joint``, ``train-multi``, ``align``.
    """
    from xling.map import MAPPERS
    from xling.train import JOINT_TRAINERS, MULTILINGUAL_TRAINERS, TRAINERS

    result = {}
    for command, registry in (("train", TRAINERS), ("train-joint", JOINT_TRAINERS),
                              ("train-multi", MULTILINGUAL_TRAINERS), ("align", MAPPERS)):
        methods = {}
        # a setting a class does not document itself means what it means in its family
        family: dict[str, str] = {}
        for cls in registry.values():
            for klass in inspect.getmro(cls):
                for key, (_, text) in _parameters(inspect.getdoc(klass) or "").items():
                    if text:
                        family.setdefault(key, text)
        for name, cls in sorted(registry.items()):
            helps = settings_help(cls, family)
            defaults = cls().get_params(deep=False)
            summary = (inspect.getdoc(cls) or "").strip().splitlines()
            methods[name] = {
                "class": f"{cls.__module__}.{cls.__qualname__}",
                "summary": summary[0] if summary else "",
                "settings": {key: {"default": jsonable(value), "help": helps.get(key) or family.get(key, "")}
                             for key, value in defaults.items() if key != "callbacks"},
            }
        result[command] = methods
    return result
