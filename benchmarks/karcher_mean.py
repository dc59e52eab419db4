"""Karcher mean of SPD matrices (affine-invariant metric): ours against pyriemann, one run.

    python benchmarks/karcher_mean.py [--count 10000] [--size 16] [--repeats 3]
        [--dof N --shift S]   # Wishart degrees of freedom (default 2 x size), + S I (0.1)

Both run Riemannian gradient descent from the arithmetic mean (the Karcher flow, Pennec
2006, Alg. 1) in float64 with the same stopping rule: the Frobenius norm of the whitened
mean logarithm below 1e-8 (pyriemann's `tol`, our `tol` in the affine norm, which is the
same number). pyriemann's `mean_riemann` loops in NumPy with step lengths 1, 0.95, 0.95^2,
... (halved when the step grows); ours is one jitted `lax.while_loop` with Barzilai-Borwein
lengths. Prints the seconds of each (best of --repeats, after a warm-up; our compile time
apart), the ratio, the largest entry-wise difference relative to the largest entry of the
mean, and the time of one batched eigen-decomposition: every iteration of either
implementation decomposes every matrix, so that time bounds the speed-up.
"""

from __future__ import annotations

import argparse
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from manifolds import SPD, frechet_mean  # noqa: E402


def pyriemann_mean_riemann(x: np.ndarray, **kwargs) -> np.ndarray:
    """pyriemann's Karcher mean (pyriemann.geometry.mean since 0.12, .utils.mean before)."""
    try:
        from pyriemann.geometry.mean import mean_riemann
    except ImportError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from pyriemann.utils.mean import mean_riemann
    return mean_riemann(x, **kwargs)


def random_spd(count: int, size: int, dof: int, shift: float, seed: int = 0) -> np.ndarray:
    """Wishart SPD matrices A A^T / dof + shift I, A (size, dof); dof = 2 size spreads the
    eigenvalues over about a decade, dof = size and a small shift far more."""
    a = np.random.default_rng(seed).standard_normal((count, size, dof))
    return a @ a.transpose(0, 2, 1) / dof + shift * np.eye(size)


def best_of(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dof", type=int, default=None, help="Wishart degrees of freedom")
    parser.add_argument("--shift", type=float, default=0.1, help="added multiple of I")
    args = parser.parse_args()
    dof = 2 * args.size if args.dof is None else args.dof
    if dof < 1 or args.shift < 0:
        raise SystemExit("--dof must be a positive integer and --shift non-negative")
    if dof < args.size and args.shift == 0:
        raise SystemExit("--dof below --size with --shift 0 gives singular matrices")
    try:
        import pyriemann  # noqa: F401
    except ImportError:
        raise SystemExit("pyriemann is missing: pip install -e '.[bench]'") from None

    x = random_spd(args.count, args.size, dof, args.shift)
    xj = jnp.asarray(x)
    spd = SPD(args.size)
    ours = jax.jit(lambda x: frechet_mean(spd, x, tol=1e-8, max_iter=50))
    t0 = time.perf_counter()
    compiled = ours.lower(xj).compile()
    compile_seconds = time.perf_counter() - t0
    compiled(xj).block_until_ready()  # warm-up
    ours_s, ours_mean = best_of(lambda: compiled(xj).block_until_ready(), args.repeats)
    theirs_s, theirs_mean = best_of(
        lambda: pyriemann_mean_riemann(x, tol=1e-8, maxiter=50), args.repeats
    )
    eigh = jax.jit(jnp.linalg.eigh)
    jax.block_until_ready(eigh(xj))
    eigh_s, _ = best_of(lambda: jax.block_until_ready(eigh(xj)), args.repeats)
    diff = np.max(np.abs(np.asarray(ours_mean) - theirs_mean)) / np.max(np.abs(theirs_mean))
    print(f"Karcher mean of {args.count} SPD {args.size}x{args.size} matrices (Wishart, {dof} "
          f"degrees of freedom, + {args.shift} I), float64, CPU")  # fmt: skip
    print("| implementation | seconds | speed vs pyriemann |")
    print("|---|---|---|")
    print(f"| pyriemann mean_riemann | {theirs_s:.3f} | 1.0x |")
    print(f"| ours (jit, compile {compile_seconds:.2f} s apart) | {ours_s:.3f} | "
          f"{theirs_s / ours_s:.2f}x |")  # fmt: skip
    print(f"max |ours - pyriemann| / max |mean| = {diff:.2e}")
    print(f"one eigh of all {args.count} matrices (each Karcher iteration needs one, in either "
          f"implementation): {eigh_s:.3f} s = pyriemann / {theirs_s / eigh_s:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
