"""Distributions on manifolds: `log_prob(x)` (with respect to the Riemannian volume) and
`sample(key, shape)`, jit- and vmap-able, each a small immutable pytree."""

from manifolds.distributions.mixture import Mixture
from manifolds.distributions.uniform import Uniform, log_volume
from manifolds.distributions.von_mises_fisher import VonMisesFisher
from manifolds.distributions.wrapped_normal import WrappedNormal

__all__ = ["Mixture", "Uniform", "VonMisesFisher", "WrappedNormal", "log_volume"]
