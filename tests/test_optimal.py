"""Compute-optimal allocation: closed form against a numeric float64 minimisation."""

import numpy as np
import pytest
from scipy import optimize

import scalelab

P = {"E": 1.8172, "A": 477.8, "B": 2143.4, "alpha": 0.3473, "beta": 0.3672}


@pytest.mark.parametrize("C", [1e20, 1e22, 1e24])
def test_closed_form_equals_numeric_minimum(C):
    out = scalelab.chinchilla_allocation(P, C)

    def loss(logN):
        N = np.exp(logN)
        D = C / (6 * N)
        return P["E"] + P["A"] / N ** P["alpha"] + P["B"] / D ** P["beta"]

    ref = optimize.minimize_scalar(loss, bounds=(np.log(1e6), np.log(1e14)), method="bounded",
                                   options={"xatol": 1e-10})
    assert float(out["N_opt"]) == pytest.approx(np.exp(ref.x), rel=1e-6)
    assert float(out["N_opt"] * out["D_opt"] * 6) == pytest.approx(C, rel=1e-12)
    assert float(out["loss"]) == pytest.approx(ref.fun, rel=1e-12)


def test_published_allocations():
    ref = scalelab.laws.get("chinchilla").reference
    # Hoffmann et al. 2022, Table 3: Approach 3 gives N_opt ~40B at the Gopher budget 5.76e23 FLOPs.
    out = scalelab.chinchilla_allocation(ref["hoffmann2022"], 5.76e23)
    assert float(out["N_opt"]) == pytest.approx(40e9, rel=0.05)
    # Besiroglu et al. 2024: their estimates imply ~20 tokens per parameter, like Chinchilla (70B, 1.4T).
    out = scalelab.chinchilla_allocation(ref["epoch2024"], 5.76e23)
    assert 15 < float(out["tokens_per_param"]) < 25
    assert float(out["N_opt"]) == pytest.approx(70e9, rel=0.1)


def test_bad_compute_rejected():
    with pytest.raises(ValueError, match="positive"):
        scalelab.chinchilla_allocation(P, [1e20, -1.0])


def test_allocate_other_law_numeric_matches_scipy():
    """Kaplan's law has no closed form here: allocate() minimises it numerically under C = 6ND."""
    from scalelab.optimal import allocate

    p = {"Nc": 6.4e13, "Dc": 1.8e13, "aN": 0.076, "aD": 0.103}
    C = 1e22
    out = allocate("kaplan", p, C)

    def loss(logN):
        N = np.exp(logN)
        return ((p["Nc"] / N) ** (p["aN"] / p["aD"]) + p["Dc"] / (C / (6 * N))) ** p["aD"]

    ref = optimize.minimize_scalar(loss, bounds=(np.log(1e6), np.log(1e15)), method="bounded", options={"xatol": 1e-10})
    assert float(np.ravel(out["N_opt"])[0]) == pytest.approx(np.exp(ref.x), rel=1e-5)
