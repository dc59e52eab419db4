"""h-MDS: hyperbolic multidimensional scaling (Sala, De Sa, Gu & Re, ICML 2018, Alg. 2).

For points x_i = (x0_i, z_i) on the hyperboloid, Y = cosh(D) is their Minkowski Gram matrix
x0 x0^T - Z Z^T. A Lorentz isometry makes the configuration centred, Z^T x0 = 0, without
changing Y; then x0 is the eigenvector of Y's one positive eigenvalue |x0|^2, and
x0 x0^T - Y = Z Z^T, whose top `dim` eigenpairs give Z (the rank reduction; exact for a
hyperbolic configuration of dimension <= dim, a least-squares fit otherwise).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def hmds(distances: np.ndarray, dim: int, scale: float = 1.0, dtype=np.float64) -> np.ndarray:
    """(N, dim) Poincare-ball points whose distances approximate scale * distances.

    Args:
        distances: (N, N) symmetric, zero diagonal, finite (a connected graph).
        dim: target dimension.
        scale: distances are multiplied by it before cosh (a larger scale is more tree-like
            and needs more precision: cosh grows as e^(scale d)).
        dtype: float64 or float32 arithmetic.

    Raises:
        ValueError: distances not square, not symmetric, not finite (a disconnected graph),
            or overflowing cosh in this dtype.
    """
    d = np.asarray(distances, np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"distances must be a square matrix, got shape {d.shape}")
    if not np.isfinite(d).all():
        raise ValueError(
            "distances are not all finite: the graph is disconnected; embed each connected "
            "component separately (e.g. the largest)"
        )
    if not np.allclose(d, d.T) or np.any(np.diag(d) != 0):
        raise ValueError("distances must be symmetric with a zero diagonal")
    if not 1 <= dim < len(d):
        raise ValueError(f"dim must be in 1 .. {len(d) - 1}, got {dim}")
    dtype = np.dtype(dtype)
    top = float(scale * d.max())
    if top >= np.log(np.finfo(dtype).max):
        raise ValueError(f"cosh({top:.1f}) overflows {dtype.name}: lower scale or use float64")
    y = np.cosh(scale * d).astype(dtype)
    n = len(y)
    value, vector = scipy.linalg.eigh(y, subset_by_index=[n - 1, n - 1])
    x0 = np.sqrt(max(float(value[0]), 0.0)) * vector[:, 0]
    x0 = x0 * np.sign(np.sum(x0))
    gram = np.outer(x0, x0).astype(dtype) - y
    values, vectors = scipy.linalg.eigh(gram, subset_by_index=[n - dim, n - 1])
    z = vectors * np.sqrt(np.maximum(values, 0.0))
    z = z.astype(np.float64)
    return (z / (1 + np.sqrt(1 + np.sum(z * z, 1, keepdims=True)))).astype(dtype)
