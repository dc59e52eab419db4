"""Sarkar's combinatorial construction of a tree in the Poincare ball, with the refinements of
Sala, De Sa, Gu & Re ("Representation Tradeoffs for Hyperbolic Embeddings", ICML 2018,
Alg. 1): every edge has hyperbolic length tau, and the children of a node leave it in
directions spread as far apart as possible, away from the direction of its parent.

The construction runs in `mpmath` at a chosen binary precision, since a node at depth L lies
about tau L nats from the origin, so 1 - |x| is about 2 e^(-tau L): WordNet's nouns in 2-D
need thousands of bits (`bits_needed`). Its output is exact fixed-point coordinates
(`geo.constructions.fixed_point`), which can then be rounded to float64 or float32.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
from tqdm import tqdm

from geo.constructions.trees import Tree
from geo.watchdog import beat


def scaling_factor(max_degree: int, eps: float) -> float:
    """tau for worst-case distortion 1 + eps (Sala et al., Sec. 3.1): children cones of
    angle beta = pi / (1.2 deg_max) need edges of length 2 log cot(beta / 2) to be
    separated; tau is (1 + eps) / eps times that."""
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    beta = math.pi / (1.2 * max(int(max_degree), 1))
    return (1 + eps) / eps * 2 * math.log(1 / math.tan(beta / 2))


def bits_needed(tree: Tree, tau: float) -> int:
    """Binary digits that resolve 1 - |x| at the deepest node, 2 e^(-tau depth), plus 64."""
    return int(math.ceil(tau * tree.depth() / math.log(2))) + 64


def _mobius_add(x, y):
    """x (+) y in the unit ball, on lists of mpf (Ungar's Mobius addition)."""
    xy = mpmath.fsum(a * b for a, b in zip(x, y, strict=True))
    x2 = mpmath.fsum(a * a for a in x)
    y2 = mpmath.fsum(b * b for b in y)
    den = 1 + 2 * xy + x2 * y2
    cx, cy = (1 + 2 * xy + y2) / den, (1 - x2) / den
    return [cx * a + cy * b for a, b in zip(x, y, strict=True)]


def _norm(v):
    return mpmath.sqrt(mpmath.fsum(a * a for a in v))


def sphere_code(count: int, dim: int) -> list[list]:
    """`count` unit vectors in R^dim spread apart: in 2-D the roots of unity (Sarkar); in
    higher dimensions the +-1 rows of a Sylvester-Hadamard matrix cut to `dim` columns (the
    codewords of a first-order Reed-Muller code, Sala et al. Sec. 4), then +-e_i, then
    greedy farthest points among fixed pseudo-random candidates. mpf entries."""
    if dim == 2:
        return [[mpmath.cos(2 * mpmath.pi * k / count), mpmath.sin(2 * mpmath.pi * k / count)]
                for k in range(count)]  # fmt: skip
    points: list[np.ndarray] = []
    order = 1 << max(0, (dim - 1).bit_length())
    hadamard = np.ones((1, 1))
    while hadamard.shape[0] < order:
        hadamard = np.block([[hadamard, hadamard], [hadamard, -hadamard]])
    rows = {tuple(r[:dim]) for r in np.vstack([hadamard, -hadamard])}
    points += [np.asarray(r) / math.sqrt(dim) for r in sorted(rows, reverse=True)]
    points += [s * np.eye(dim)[i] for i in range(dim) for s in (1, -1)]
    candidates = np.random.default_rng(0).normal(size=(max(4096, 8 * count), dim))
    candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
    chosen = np.asarray(points[:count]) if points else np.zeros((0, dim))
    while len(chosen) < count:
        closeness = candidates @ chosen.T if len(chosen) else np.zeros((len(candidates), 1))
        chosen = np.vstack([chosen, candidates[np.argmin(closeness.max(1))]])
    rows = [[mpmath.mpf(float(a)) for a in row] for row in chosen[:count]]
    return [[a / _norm(row) for a in row] for row in rows]  # unit at the working precision


def _aligned(code: list[list], direction: list) -> list[list]:
    """The code reflected (Householder) so that its first point is `direction`."""
    first = code[0]
    w = [a - b for a, b in zip(first, direction, strict=True)]
    w2 = mpmath.fsum(a * a for a in w)
    if w2 == 0:
        return code
    out = []
    for p in code:
        c = 2 * mpmath.fsum(a * b for a, b in zip(p, w, strict=True)) / w2
        out.append([a - c * b for a, b in zip(p, w, strict=True)])
    return out


def combinatorial_embedding(tree: Tree, dim: int, tau: float, progress: bool = False) -> list[list]:
    """Ball coordinates (mpf lists, N of `dim`) of every node, exact to P = `bits_needed`
    binary digits, enough for the deepest node (the Mobius additions work at 2 P + 64,
    since their denominators near the boundary are products of two quantities of size
    2^-P); `geo.constructions.fixed_point.store` rounds them to the precision wanted.

    The root sits at the origin, its children at distance tau in the directions of a
    `sphere_code`; each further node u is moved to the origin by the isometry
    z -> (-x_u) (+) z, its parent's image fixes one code direction, its children take the
    others at radius tanh(tau / 2), and x_u (+) . moves them back.
    """
    if dim < 2:
        raise ValueError(f"dim must be >= 2, got {dim}")
    children = tree.children()
    codes: dict[int, list] = {}

    def code(count):
        if count not in codes:
            codes[count] = sphere_code(count, dim)
        return codes[count]

    bits = bits_needed(tree, tau)
    with mpmath.workprec(2 * bits + 64):  # (1 - |x|^2)(1 - |y|^2) ~ 2^(-2 bits)
        radius = mpmath.tanh(mpmath.mpf(tau) / 2)
        points: list = [None] * tree.num_nodes
        points[tree.root] = [mpmath.mpf(0)] * dim
        bar = tqdm(tree.order, desc=f"construction, {bits} bits", unit="node",
                   disable=not progress)  # fmt: skip
        for step, node in enumerate(bar):
            if step % 1000 == 0:
                beat(f"node {step} of the construction")
            kids = children[node]
            if len(kids) == 0:
                continue
            x = points[node]
            if tree.parent[node] < 0:
                directions = code(len(kids))
            else:
                back = _mobius_add([-a for a in x], points[tree.parent[node]])
                norm = _norm(back)
                directions = _aligned(code(len(kids) + 1), [a / norm for a in back])[1:]
            for kid, direction in zip(kids, directions, strict=True):
                points[kid] = _mobius_add(x, [radius * a for a in direction])
    return points
