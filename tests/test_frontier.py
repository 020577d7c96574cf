"""Numeric frontier vs Hoffmann's closed form, and its derivatives vs closed-form derivatives."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalelab import optimal

# this module's own JAX reference computations (gradients, Jacobians, parameter transforms) run in float64
pytestmark = pytest.mark.usefixtures("x64")

EPOCH = {"E": 1.8169, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
C = np.geomspace(1e18, 1e26, 9)


def test_chinchilla_matches_closed_form():
    # tolerance 1e-6 relative (the spec); Newton in float64 converges to ~1e-12
    got = optimal.frontier("chinchilla", EPOCH, C)
    ref = optimal.chinchilla_allocation(EPOCH, C)
    for k in ("N_opt", "D_opt", "tokens_per_param", "loss"):
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-6, err_msg=k)
    # at the optimum of C = 6ND the partial elasticities are equal (d/dlogN - d/dlogD = 0)
    np.testing.assert_allclose(got["dlogL_dlogN"], got["dlogL_dlogD"], rtol=1e-8, atol=1e-12)
    assert np.all(got["dlogL_dlogN"] < 0)


def test_sensitivities_match_closed_form_derivatives():
    """d N_opt / d param and the frontier slope vs autodiff of Hoffmann's Eq. 4."""
    sens = optimal.sensitivities("chinchilla", EPOCH, C[[0, 4, 8]])

    def closed(p, c):
        E, A, B, a, b = (p[k] for k in optimal.CHINCHILLA_PARAMS)
        G = (a * A / (b * B)) ** (1.0 / (a + b))
        return G * (c / 6.0) ** (b / (a + b))

    p0 = {k: jnp.asarray(v) for k, v in EPOCH.items()}
    for i, c in enumerate(C[[0, 4, 8]]):
        g = jax.grad(closed)(p0, c)
        for k in EPOCH:
            np.testing.assert_allclose(sens["N_opt"][k][i], float(g[k]), rtol=1e-6, atol=1e-9 * closed(p0, c),
                                       err_msg=k)
    b_share = EPOCH["beta"] / (EPOCH["alpha"] + EPOCH["beta"])
    np.testing.assert_allclose(sens["dlogNopt_dlogC"], b_share, rtol=1e-8)


def test_other_law_with_extra_input_and_errors():
    """wang2024_moe at E = 1 is the dense Chinchilla law with sigma = E."""
    p = {"A": EPOCH["A"], "B": EPOCH["B"], "sigma": EPOCH["E"], "alpha": EPOCH["alpha"], "beta": EPOCH["beta"],
         "gamma": 0.1}
    got = optimal.frontier("wang2024_moe", p, C, extra={"E": 1.0})
    np.testing.assert_allclose(got["N_opt"], optimal.chinchilla_allocation(EPOCH, C)["N_opt"], rtol=1e-6)
    more = optimal.frontier("wang2024_moe", p, C, extra={"E": 8.0})
    assert np.all(more["loss"] < got["loss"])  # more experts, lower loss at equal compute (gamma > 0)
    with pytest.raises(ValueError, match="E"):
        optimal.frontier("wang2024_moe", p, C)
    with pytest.raises(ValueError, match="positive"):
        optimal.frontier("chinchilla", EPOCH, [-1.0])
