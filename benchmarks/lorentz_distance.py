"""The hyperboloid's float32 distance far from the origin: `python benchmarks/lorentz_distance.py`.

For points at each radius (`--radii`), and partners 0.001 to 3 away along a random tangent
direction (`--pairs` per gap), both rounded to float32 and lifted back onto the sheet,
prints the largest relative error of `manifolds.lorentz.lorentz_dist` and of the difference
form arcosh(1 + <x - y, x - y>_L / 2) (this module's `difference_form`, the formula used
before) against the exact distance of the float32 points (mpmath, 50 digits). Then times
the ranking loss and its gradient (autodiff, 250 edges x 51 candidates, dims 2 and 10) with
each form, after compilation: the price of the accurate form. Also the float32 Riemannian
gradient's error against float64 at the same points, for each form, and the float32 log map
(`lorentz_logmap` and the direct form theta / sinh(theta) (y + <x, y>_L x)) against its exact
value, with the round trip exp_x(log_x(y)) against y. Results: docs/numerics.md.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import mpmath
import numpy as np

from manifolds import Lorentz
from manifolds.lorentz import lorentz_inner
from manifolds.lorentz_exact import exact_lorentz_dist, exact_lorentz_logmap
from manifolds.numerics import arcosh1p, sinhc
from models.embeddings import autodiff_ranking_loss

jax.config.update("jax_enable_x64", True)  # the points are built in float64, then rounded
GAPS = (1e-3, 0.1, 1.0, 3.0)


def difference_form(x: jax.Array, y: jax.Array) -> jax.Array:
    """arcosh(1 + <x - y, x - y>_L / 2) on Lorentz(1): accurate for nearby points only."""
    diff = x - y
    return arcosh1p(lorentz_inner(diff, diff) / 2)


def direct_logmap(x: jax.Array, y: jax.Array) -> jax.Array:
    """theta / sinh(theta) (y + <x, y>_L x) on Lorentz(1): the log map's textbook form."""
    theta = Lorentz(1.0).dist(x, y)[..., None]
    return (y + lorentz_inner(x, y, keepdims=True) * x) / sinhc(theta)


def float32_pair(rng: np.random.Generator, radius: float, gap: float, dim: int):
    """float32 x at `radius` and y at `gap` from it along a random tangent direction."""
    m = Lorentz(1.0)
    direction = rng.normal(size=dim)
    x = m.expmap0(
        jnp.asarray(np.concatenate([[0.0], radius * direction / np.linalg.norm(direction)]))
    )
    u = m.proju(x, jnp.asarray(rng.normal(size=dim + 1)))
    y = m.expmap(x, gap * u / m.norm(x, u))
    return m.proj(x.astype(jnp.float32)), m.proj(y.astype(jnp.float32))


def accuracy_table(radii: list[float], pairs: int, dim: int) -> str:
    m, rng = Lorentz(1.0), np.random.default_rng(0)
    lines = [
        "| radius | x_0 | `lorentz_dist` max rel. error | difference form |",
        "|---|---|---|---|",
    ]
    for radius in radii:
        worst_new = worst_old = 0.0
        for gap in GAPS:
            for _ in range(pairs):
                x, y = float32_pair(rng, radius, gap, dim)
                want = exact_lorentz_dist(np.asarray(x), np.asarray(y))
                worst_new = max(worst_new, abs(float(m.dist(x, y)) - want) / want)
                worst_old = max(worst_old, abs(float(difference_form(x, y)) - want) / want)
        lines.append(f"| {radius:g} | {np.cosh(radius):.3g} | {worst_new:.1e} | {worst_old:.1e} |")
    return "\n".join(lines)


def gradient_table(radii: list[float], pairs: int, dim: int) -> str:
    """The float32 Riemannian gradient of d(., y) at x (autodiff, then `egrad2rgrad`) against
    float64 at the same float32 points, for partners 0.05 to 2 away: the error's norm."""
    m, rng = Lorentz(1.0), np.random.default_rng(1)
    head = "| radius | " + " | ".join(f"{r:g}" for r in radii) + " |"
    rows = {"`lorentz_dist`": m.dist, "difference form": difference_form}
    errors = {name: [] for name in rows}
    for radius in radii:
        worst = dict.fromkeys(rows, 0.0)
        for _ in range(pairs):
            x32, y32 = float32_pair(rng, radius, float(rng.uniform(0.05, 2.0)), dim)
            x64, y64 = x32.astype(jnp.float64), y32.astype(jnp.float64)
            want = m.egrad2rgrad(x64, jax.grad(m.dist)(x64, y64))
            for name, dist in rows.items():
                got = m.egrad2rgrad(x32, jax.grad(dist)(x32, y32))
                worst[name] = max(worst[name], float(m.norm(x64, got.astype(jnp.float64) - want)))
        for name in rows:
            errors[name].append(worst[name])
    lines = [head, "|---" * (len(radii) + 1) + "|"]
    for name, errs in errors.items():
        lines.append(f"| {name} | " + " | ".join(f"{e:.1e}" for e in errs) + " |")
    return "\n".join(lines)


def logmap_table(radii: list[float], pairs: int, dim: int) -> str:
    """Max error, in units of eps x_0 (the float32 points' own resolution), of the float32 log
    map against the exact one (the error's norm at x), and of exp_x(log_x(y)) against y."""
    m, rng = Lorentz(1.0), np.random.default_rng(2)
    eps = float(jnp.finfo(jnp.float32).eps)
    forms = {"`lorentz_logmap`": m.logmap, "direct form": direct_logmap}
    lines = [
        "| radius | x_0 | " + " | ".join(f"{n} log / round trip" for n in forms) + " |",
        "|---|---|" + "---|" * len(forms),
    ]
    for radius in radii:
        worst = {name: [0.0, 0.0] for name in forms}
        for gap in GAPS:
            for _ in range(pairs):
                x, y = float32_pair(rng, radius, gap, dim)
                x64, y64 = m.proj(x.astype(jnp.float64)), m.proj(y.astype(jnp.float64))
                unit = eps * float(x64[0])
                want = exact_lorentz_logmap(np.asarray(x), np.asarray(y))
                for name, logmap in forms.items():
                    log = logmap(x, y)
                    error = float(m.norm(x64, log.astype(jnp.float64) - want)) / unit
                    back = m.proj(m.expmap(x, log)).astype(jnp.float64)
                    trip = float(m.dist(back, y64)) / unit
                    worst[name] = [max(worst[name][0], error), max(worst[name][1], trip)]
        cells = " | ".join(f"{a:.1f} / {b:.1f}" for a, b in worst.values())
        lines.append(f"| {radius:g} | {np.cosh(radius):.3g} | {cells} |")
    return "\n".join(lines)


def seconds_per_call(fn, args, calls: int = 200, repeats: int = 5) -> float:
    jax.block_until_ready(fn(*args))  # compile
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            out = fn(*args)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def cost_table() -> str:
    m = Lorentz(1.0)
    lines = ["| dim | `lorentz_dist` us | difference form us | ratio |", "|---|---|---|---|"]
    for dim in (2, 10):
        shape = (1, 250, 52, dim + 1)
        rows = m.proj(jax.random.normal(jax.random.PRNGKey(0), shape, jnp.float32))
        args = (rows, jnp.ones((1, 250, 51), bool), jnp.full((1, 250), 1 / 250, jnp.float32))
        new = seconds_per_call(jax.jit(autodiff_ranking_loss(m.dist)), args)
        old = seconds_per_call(jax.jit(autodiff_ranking_loss(difference_form)), args)
        lines.append(f"| {dim} | {new * 1e6:.0f} | {old * 1e6:.0f} | {new / old:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--radii", default="0.5,3,6,9,10,11,12")
    parser.add_argument("--pairs", type=int, default=20, help="pairs per radius and gap")
    parser.add_argument("--dim", type=int, default=10)
    args = parser.parse_args()
    with mpmath.workdps(50):
        print(accuracy_table([float(r) for r in args.radii.split(",")], args.pairs, args.dim))
    print()
    print("Riemannian gradient, float32 against float64, max error norm:")
    print(gradient_table([0.5, 2.0, 4.0, 6.0, 8.0], 5 * args.pairs, args.dim))
    print()
    print("Log map, float32 against exact, max error in eps x_0 (log / round trip):")
    with mpmath.workdps(50):
        print(logmap_table([float(r) for r in args.radii.split(",")], args.pairs, args.dim))
    print()
    print("Ranking loss and gradient, 250 edges x 51 candidates, per call after compilation:")
    print(cost_table())


if __name__ == "__main__":
    main()
