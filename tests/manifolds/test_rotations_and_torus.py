"""SO(3) near the identity and near angle pi in float32, and the torus's angles."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from manifolds import SpecialOrthogonal, Torus
from manifolds.special_orthogonal import so3_exp, so3_log

ANGLES = [0.0, 1e-7, 1e-4, 0.5, 2.0, 2.1, np.pi - 1e-2, np.pi - 1e-4]


@pytest.mark.parametrize("angle", ANGLES)
def test_so3_log_exp_and_gradients_stay_finite_in_float32(angle):
    axis = jnp.asarray([0.3, -0.5, 0.8], jnp.float32)
    w = axis / jnp.linalg.norm(axis) * jnp.float32(angle)
    back = so3_log(so3_exp(w))
    assert float(jnp.max(jnp.abs(back - w))) <= 2e-6 * (1 + angle)
    m = SpecialOrthogonal()
    x = m.random(jax.random.key(0), (3, 3))
    y = x @ so3_exp(w)
    for fn in (
        lambda w: jnp.sum(so3_log(so3_exp(w)) ** 2),
        lambda w: m.dist(x, x @ so3_exp(w)),
        lambda w: jnp.sum(m.logmap(x, x @ so3_exp(w)) ** 2),
    ):
        value, grad = jax.value_and_grad(fn)(w)
        assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad))), angle
    assert abs(float(m.dist(x, y)) - angle) <= 2e-6 * (1 + angle)


def test_so3_bad_input_and_riemannian_gradient():
    with pytest.raises(ValueError, match="only n = 3"):
        SpecialOrthogonal(4)
    m = SpecialOrthogonal()
    with pytest.raises(ValueError, match=r"trailing shape \(3, 3\)"):
        m.expmap(jnp.eye(2), jnp.eye(2))
    assert not m.check(np.diag([1.0, 1.0, -1.0]))[0]  # a reflection
    # The metric is tr(U^T V) / 2: for f(R) = <A, R>_F, <rgrad, V>_R equals df(V) = <A, V>_F.
    x = m.random(jax.random.key(1), (3, 3))
    a = jax.random.normal(jax.random.key(2), (3, 3))
    v = m.proju(x, jax.random.normal(jax.random.key(3), (3, 3)))
    assert np.isclose(float(m.inner(x, m.egrad2rgrad(x, a), v)), float(jnp.sum(a * v)), rtol=1e-5)


def test_torus_wraps_angles():
    t = Torus()
    x = jnp.asarray([3.0, -3.0])
    y = t.expmap(x, jnp.asarray([0.5, -0.5]))
    assert np.allclose(np.asarray(y), [3.5 - 2 * np.pi, -3.5 + 2 * np.pi], atol=1e-6)
    assert np.allclose(np.asarray(t.logmap(x, y)), [0.5, -0.5], atol=1e-6)
    assert np.isclose(float(t.dist(x, y)), np.sqrt(0.5), atol=1e-6)
    assert not t.check(np.asarray([4.0, 0.0]))[0]
