"""Manifold operations side by side: this framework (JAX, jit) vs geoopt (PyTorch) vs geomstats
(numpy), on the same data in one run.

    make bench            # installs the `bench` extra (torch CPU, geoopt) and runs this
    python benchmarks/manifold_ops.py --points 1000000 --spd 10000

Workloads (issue 2): dist, expmap and logmap on 1M Poincare points of dim 10 (float32 for the
JAX/PyTorch pair; geomstats' numpy backend computes in float64), and on 10k SPD 16 x 16
matrices the affine-invariant distance and the Karcher mean (float64 everywhere). geoopt has no
Karcher mean, so its column runs the same Karcher flow written with geoopt's expmap/logmap, as
its users would. Times are medians of --reps runs after a warm-up; JAX's compile time is
reported apart. The last columns give the speed ratio (peer time / ours) and the largest
relative difference between our result and the peer's.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
warnings.filterwarnings("ignore")

from manifolds import SPD, PoincareBall, frechet_mean  # noqa: E402


def timed(fn, reps):
    """(median seconds, result) over `reps` calls after one warm-up call."""
    result = fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def jax_timed(fn, args, reps):
    """(compile seconds, median run seconds, result) for a jitted fn."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    run = lambda: jax.block_until_ready(compiled(*args))  # noqa: E731
    seconds, result = timed(run, reps)
    return compile_s, seconds, np.asarray(result)


def rel_diff(ours, theirs):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    return float(np.max(np.abs(ours - theirs)) / max(1e-30, np.max(np.abs(theirs))))


def row(name, compile_s, ours_s, geoopt_s, gs_s, ours, geoopt_out, gs_out):
    """One table row: times and the largest relative difference to each peer."""
    return (
        name,
        compile_s,
        ours_s,
        geoopt_s,
        gs_s,
        rel_diff(ours, geoopt_out),
        rel_diff(ours, gs_out),
    )


def poincare_rows(n, dim, reps):
    import geoopt
    import torch
    from geomstats.geometry.poincare_ball import PoincareBall as GsBall

    ball = PoincareBall(1.0)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    x = ball.random(keys[0], (n, dim), jnp.float32, std=0.3)
    y = ball.random(keys[1], (n, dim), jnp.float32, std=0.3)
    u = 0.1 * jax.random.normal(keys[2], (n, dim), jnp.float32)
    tx, ty, tu = (torch.from_numpy(np.asarray(a)) for a in (x, y, u))
    gball = geoopt.PoincareBall(c=1.0)
    gs = GsBall(dim).metric
    nx, ny, nu = (np.asarray(a, np.float64) for a in (x, y, u))
    ops = {
        "dist": (
            lambda a, b: ball.dist(a, b),
            (x, y),
            lambda: gball.dist(tx, ty),
            lambda: gs.dist(nx, ny),
        ),
        "expmap": (
            lambda a, b: ball.expmap(a, b),
            (x, u),
            lambda: gball.expmap(tx, tu),
            lambda: gs.exp(nu, nx),
        ),
        "logmap": (
            lambda a, b: ball.logmap(a, b),
            (x, y),
            lambda: gball.logmap(tx, ty),
            lambda: gs.log(ny, nx),
        ),
    }
    rows = []
    with torch.no_grad():
        for name, (fn, args, geoopt_fn, gs_fn) in ops.items():
            compile_s, ours_s, ours = jax_timed(fn, args, reps)
            geoopt_s, theirs = timed(geoopt_fn, reps)
            gs_s, gs_out = timed(gs_fn, max(1, reps // 2))
            rows.append(
                row(
                    f"Poincare {name} ({n:,} x {dim})",
                    compile_s,
                    ours_s,
                    geoopt_s,
                    gs_s,
                    ours,
                    theirs.numpy(),
                    gs_out,
                )
            )
    return rows


def spd_rows(n, size, reps, karcher_iters):
    import geoopt
    import torch
    from geomstats.geometry.spd_matrices import SPDMatrices
    from geomstats.learning.frechet_mean import FrechetMean

    m = SPD(size, "affine")
    keys = jax.random.split(jax.random.PRNGKey(1), 2)
    x = m.random(keys[0], (n, size, size), jnp.float64, std=0.3)
    y = m.random(keys[1], (n, size, size), jnp.float64, std=0.3)
    tx, ty = torch.from_numpy(np.asarray(x)), torch.from_numpy(np.asarray(y))
    gspd = geoopt.SymmetricPositiveDefinite()
    space = SPDMatrices(size)
    nx, ny = np.asarray(x), np.asarray(y)
    rows = []
    with torch.no_grad():
        compile_s, ours_s, ours = jax_timed(lambda a, b: m.dist(a, b), (x, y), reps)
        geoopt_s, theirs = timed(lambda: gspd.dist(tx, ty), reps)
        gs_s, gs_out = timed(lambda: space.metric.dist(nx, ny), max(1, reps // 2))
        rows.append(
            row(
                f"SPD affine dist ({n:,} x {size}x{size})",
                compile_s,
                ours_s,
                geoopt_s,
                gs_s,
                ours,
                theirs.numpy(),
                gs_out,
            )
        )

        # One stopping rule for all three: geomstats stops when |step|^2 <= epsilon * dim.
        epsilon = 1e-10
        tol = float(np.sqrt(epsilon * size * (size + 1) / 2))
        compile_s, ours_s, ours = jax_timed(
            lambda a: frechet_mean(m, a, tol=tol, max_iter=karcher_iters), (x,), max(1, reps // 2)
        )

        def geoopt_karcher():
            mean = tx[0].clone()
            for _ in range(karcher_iters):
                step = gspd.logmap(mean.expand_as(tx), tx).mean(0)
                mean = gspd.expmap(mean, step)
                if float(gspd.norm(mean, step)) < tol:
                    break
            return mean

        geoopt_s, theirs = timed(geoopt_karcher, max(1, reps // 2))
        estimator = FrechetMean(space)
        estimator.set(max_iter=karcher_iters, epsilon=epsilon, init_step_size=1.0)
        gs_s, gs_out = timed(lambda: estimator.fit(nx).estimate_, 1)
        rows.append(
            row(
                f"SPD affine Karcher mean ({n:,} x {size}x{size})",
                compile_s,
                ours_s,
                geoopt_s,
                gs_s,
                ours,
                theirs.numpy(),
                gs_out,
            )
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="Poincare points")
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--spd", type=int, default=10_000, help="SPD matrices")
    parser.add_argument("--size", type=int, default=16, help="SPD matrix size")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--karcher-iters", type=int, default=50)
    parser.add_argument("--skip-poincare", action="store_true", help="only the SPD rows")
    args = parser.parse_args()
    try:
        import geoopt  # noqa: F401
        import torch
    except ImportError as err:
        raise SystemExit(
            f"{err}: run `make bench`, which installs the bench extra (torch, geoopt)"
        ) from None

    print(
        f"JAX {jax.__version__} on {jax.devices()[0].platform}; torch {torch.__version__} "
        f"with {torch.get_num_threads()} threads"
    )
    rows = [] if args.skip_poincare else poincare_rows(args.points, args.dim, args.reps)
    rows += spd_rows(args.spd, args.size, args.reps, args.karcher_iters)
    header = (
        "| operation | ours compile (s) | ours (s) | geoopt (s) | geomstats (s) "
        "| geoopt / ours | geomstats / ours | rel. diff geoopt | rel. diff geomstats |"
    )
    print(header)
    print("|" + "---|" * 9)
    for name, compile_s, ours_s, geoopt_s, gs_s, d_geoopt, d_gs in rows:
        print(
            f"| {name} | {compile_s:.2f} | {ours_s:.4f} | {geoopt_s:.4f} | {gs_s:.4f} "
            f"| {geoopt_s / ours_s:.1f}x | {gs_s / ours_s:.1f}x | {d_geoopt:.1e} | {d_gs:.1e} |"
        )


if __name__ == "__main__":
    main()
