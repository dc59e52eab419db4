"""A short tour of the framework: Riemannian optimizers on three manifolds (`make demo`)."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import optax

import geo.optim as go
from manifolds import SPD, Grassmann, PoincareBall, Sphere, frechet_mean


def _minimize(tx, loss, x, steps):
    state = tx.init(x)

    @jax.jit
    def run(x, state):
        def body(carry, _):
            x, state = carry
            updates, state = tx.update(jax.grad(loss)(x), state, x)
            return (optax.apply_updates(x, updates), state), None

        return jax.lax.scan(body, (x, state), None, length=steps)[0][0]

    return run(x, state)


def main() -> None:
    key = jax.random.PRNGKey(0)
    q, _ = jnp.linalg.qr(jax.random.normal(key, (50, 50)))
    a = (q * jnp.linspace(0.1, 1.0, 50)) @ q.T  # a clear spectrum, eigengaps ~0.02
    top = q
    start = time.perf_counter()

    sphere = Sphere()
    x = _minimize(go.rsgd(0.5, sphere), lambda x: -x @ a @ x, sphere.random(key, (50,)), 2000)
    print(f"Sphere S^49, RSGD: |cos(x, top eigenvector)| = {float(jnp.abs(x @ top[:, -1])):.7f}")

    grassmann = Grassmann(50, 3)
    u = _minimize(
        go.radam(optax.exponential_decay(0.05, 200, 0.8), grassmann),
        lambda u: -jnp.trace(u.T @ a @ u),
        grassmann.random(key, (50, 3)),
        3000,
    )
    err = float(jnp.max(jnp.abs(u @ u.T - top[:, -3:] @ top[:, -3:].T)))
    print(f"Grassmann Gr(50, 3), RAdam: top-3 eigenspace projector error = {err:.2e}")

    ball = PoincareBall(1.0)
    target = ball.proj(jnp.array([0.7, -0.6, 0.2]))
    p = _minimize(go.rsgd(0.2, ball), lambda p: ball.dist(p, target) ** 2, ball.origin((3,)), 200)
    print(
        f"Poincare ball, RSGD: distance to a target at hyperbolic radius "
        f"{float(ball.dist(ball.origin((3,)), target)):.2f} is {float(ball.dist(p, target)):.1e}"
    )

    spd = SPD(8, "affine")
    data = spd.random(key, (1000, 8, 8), std=0.5)
    mean = jax.jit(lambda d: frechet_mean(spd, d))(data)
    print(
        f"SPD(8), affine Karcher mean of 1000 matrices: min eigenvalue "
        f"{float(jnp.linalg.eigvalsh(mean)[0]):.3f}"
    )
    print(f"done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
