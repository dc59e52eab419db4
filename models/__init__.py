"""Flax NNX layers and models built on `manifolds` and `geo`.

Hyperbolic layers take their input points and the curvature magnitude c (curvature -c) at
call time, `layer(x, c)`: the inputs must already lie on the ball (or the hyperboloid for
`LorentzLinear`), e.g. `PoincareBall(c).expmap0(features)`; a learned curvature is a
`Curvature` module whose value is passed on. SPD and Grassmann layers take (..., n, n) SPD
matrices or (..., n, p) orthonormal frames.
"""

from models.covariance import CovariancePooling, covariance
from models.embeddings import EmbeddingSpace, HierarchyEmbedding, embedding_space
from models.grassmann import FRMap, GrassmannClassHead, OrthMap, ProjMap, ProjPooling, ReOrth
from models.hgcn import (
    EuclideanGeometry,
    HGCNConv,
    LorentzGeometry,
    PoincareGeometry,
    aggregate,
    fermi_dirac,
    geometry,
    graph_operator,
)
from models.hnn import (
    Curvature,
    HyperbolicMLR,
    LorentzLinear,
    MobiusLinear,
    PoincareFC,
    PoincareMLR,
    run_checked,
)
from models.nickel_kiela import poincare_ranking_loss_and_grad, ranking_loss
from models.spd import BiMap, ExpEig, LogEig, ReEig, check_spd
from models.spd_batchnorm import SPDBatchNorm

__all__ = [
    "BiMap",
    "CovariancePooling",
    "Curvature",
    "EmbeddingSpace",
    "ExpEig",
    "FRMap",
    "EuclideanGeometry",
    "LorentzGeometry",
    "PoincareGeometry",
    "GrassmannClassHead",
    "HGCNConv",
    "HierarchyEmbedding",
    "HyperbolicMLR",
    "LogEig",
    "LorentzLinear",
    "MobiusLinear",
    "OrthMap",
    "PoincareFC",
    "PoincareMLR",
    "ProjMap",
    "ProjPooling",
    "ReEig",
    "ReOrth",
    "SPDBatchNorm",
    "aggregate",
    "check_spd",
    "covariance",
    "embedding_space",
    "fermi_dirac",
    "geometry",
    "graph_operator",
    "poincare_ranking_loss_and_grad",
    "ranking_loss",
    "run_checked",
]
