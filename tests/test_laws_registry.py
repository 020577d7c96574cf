"""Law declarations: registry, parameter spaces, and log forms equal to log(predict)."""

import jax.numpy as jnp
import numpy as np
import pytest

import scalelab
from scalelab import laws

# this module's own JAX reference computations (gradients, Jacobians, parameter transforms) run in float64
pytestmark = pytest.mark.usefixtures("x64")


def test_registry_has_core_laws_and_aliases():
    assert {"chinchilla", "kaplan"} <= set(laws.names())
    assert laws.get("hoffmann2022") is laws.get("chinchilla")
    with pytest.raises(KeyError, match="known laws"):
        laws.get("nope")


def test_hoffmann_grid_is_4500_starts():
    grid = laws.get("chinchilla").grid_starts()
    assert grid.shape == (4500, 5)
    assert set(np.unique(grid[:, 3])) == {0.0, 0.5, 1.0, 1.5, 2.0}


@pytest.mark.parametrize("name", laws.names())
def test_log_predict_equals_log_of_predict(name):
    law = laws.get(name)
    if law.log_predict is None:
        pytest.skip("law has no separate log form")
    rng = np.random.default_rng(0)
    lo = np.array([law.start_ranges[u][0] for u in law.unconstrained_names])
    hi = np.array([law.start_ranges[u][1] for u in law.unconstrained_names])
    theta = lo + (hi - lo) * (0.3 + 0.4 * rng.random(len(lo)))
    x = {k: jnp.asarray(rng.uniform(0.5, 2.0, 16) * 10 ** rng.uniform(7, 11, 16)) for k in law.inputs}
    direct = np.log(np.asarray(law.predict(law.to_natural(law.unflatten(jnp.asarray(theta))), x)))
    np.testing.assert_allclose(law.log_predict_theta(jnp.asarray(theta), x), direct, rtol=1e-10)


def test_chinchilla_published_values_give_published_prediction():
    # Hoffmann's Chinchilla (70B params, 1.4T tokens) with the rounded Eq. 10 values: 1.69 + 406.4/N^.34 + 410.7/D^.28.
    p = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    # (The prediction is ~1.94 nats/token; no bound on `expected` itself: that would be arithmetic on literals.)
    expected = 1.69 + 406.4 / 70e9 ** 0.34 + 410.7 / 1.4e12 ** 0.28
    assert float(laws.get("chinchilla")(p, N=70e9, D=1.4e12)) == pytest.approx(expected, rel=1e-12)


def test_unconstrained_round_trip():
    law = laws.get("chinchilla")
    p = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
    back = law.to_natural(law.to_unconstrained({k: jnp.asarray(v) for k, v in p.items()}))
    for k in p:
        assert float(back[k]) == pytest.approx(p[k], rel=1e-12)
    assert law.unconstrained_names == ("log_E", "log_A", "log_B", "alpha", "beta")


def test_bad_declaration_rejected():
    with pytest.raises(ValueError, match="start_ranges lacks"):
        laws.Law(name="x", inputs=("N",), params=("a",), predict=lambda p, x: p["a"] * x["N"])
