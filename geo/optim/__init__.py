"""Riemannian optimizers as optax transformations (Becigneul & Ganea 2019, as in geoopt).

    tx = geo.optim.radam(1e-2, manifolds=geo.optim.manifolds_of(model))

`manifolds` is a pytree prefix of the parameters, fixed at construction; updates are
`new_point - old_point`, and `apply_updates` re-projects onto the manifolds.
"""

from geo.optim.apply import apply_updates
from geo.optim.params import ManifoldParam, manifolds_of
from geo.optim.project import project_params
from geo.optim.radam import RAdamState, radam
from geo.optim.rsgd import RSGDState, rsgd
from geo.optim.sparse import sparse_row_update, sparse_rsgd_step

__all__ = [
    "ManifoldParam",
    "RAdamState",
    "RSGDState",
    "apply_updates",
    "manifolds_of",
    "project_params",
    "radam",
    "rsgd",
    "sparse_row_update",
    "sparse_rsgd_step",
]
