"""Float32 error of Poincare parallel transport near the boundary, against float64.

    python benchmarks/poincare_transport_accuracy.py [--draws 200]

For points x at |x| = r (projected onto the ball), y a step of 1e-8 to 1e-2 of the gap
1 - |x| away and random vectors v, prints the largest relative error of `PoincareBall.transp`
in float32 and of Ungar's closed-form gyration (`gyration(y, -x, v)`, the formula before) in
float32, both against the closed form in float64, and the error in units of
eps / (1 - |x|^2).
"""

from __future__ import annotations

import argparse

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from manifolds import PoincareBall  # noqa: E402
from manifolds.poincare import conformal_factor, gyration  # noqa: E402

RADII = (0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999)


def closed_form(x, y, v, c=1.0):
    return gyration(y, -x, v, c) * conformal_factor(x, c) / conformal_factor(y, c)


def worst(out, ref) -> float:
    """Largest relative error of the rows of `out` against `ref` (norms over the last axis)."""
    rel = np.linalg.norm(np.asarray(out, np.float64) - ref, axis=-1)
    return float(np.max(rel / np.linalg.norm(ref, axis=-1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=200)
    args = parser.parse_args()
    ball, eps = PoincareBall(1.0), float(jnp.finfo(jnp.float32).eps)
    rng = np.random.default_rng(0)
    print("| abs x | closed form, float32 | transp, float32 | transp in eps / (1 - abs x^2) |")
    print("|---|---|---|---|")
    for r in RADII:
        dirs = rng.normal(size=(args.draws, 5))
        dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
        x = ball.proj(jnp.asarray(r * dirs, jnp.float32))
        scale = 10 ** rng.uniform(-8, -2, size=(args.draws, 1)) * (1 - r)
        y = ball.proj(x + jnp.asarray(rng.normal(size=(args.draws, 5)) * scale, jnp.float32))
        v = jnp.asarray(rng.normal(size=(args.draws, 5)) * 1e-3, jnp.float32)
        ref = np.asarray(closed_form(*(jnp.asarray(a, jnp.float64) for a in (x, y, v))))

        gap = float(1 - r * r)
        old, new = worst(closed_form(x, y, v), ref), worst(ball.transp(x, y, v), ref)
        print(f"| {r} | {old:.2e} | {new:.2e} | {new * gap / eps:.2f} |")


if __name__ == "__main__":
    main()
