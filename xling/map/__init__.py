"""Mapping solvers: one interface (:class:`BaseMapper`), many methods.

``MAPPERS`` maps the names accepted by ``xling align --method`` to factories
taking keyword settings (``normalize``, ``random_state``, ``device``...).
"""

from xling.map._base import BaseMapper, check_pairs
from xling.map.procrustes import Procrustes, orthogonal_procrustes

MAPPERS = {
    "procrustes": Procrustes,
}

__all__ = ["BaseMapper", "Procrustes", "orthogonal_procrustes", "check_pairs", "MAPPERS"]
