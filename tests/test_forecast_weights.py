"""`scalelab.forecast.weights`: pseudo-BMA's closed form, and the weighting rule chosen by its honest errors."""

from __future__ import annotations

import numpy as np
import pytest

from scalelab.forecast import weights as fw
from scalelab.forecast.agreement import stable
from scalelab.forecast.calibrate import combine


def test_pseudo_bma_is_inverse_mean_squared_error_to_the_power_k_over_two():
    """Closed form (Yao et al. 2018 with Normal(0, s_l^2) predictive densities): ``w_l ~ s_l^-K``, s_l^2 the mean over
    the K origins of each origin's mean squared error, computed here with explicit loops."""
    rng = np.random.default_rng(3)
    origin = np.repeat([0, 1, 2], [3, 5, 4])
    e = rng.normal(0.0, [[0.01], [0.02], [0.015]], (3, 12))
    s2 = np.array([np.mean([np.mean(e[i, origin == k] ** 2) for k in range(3)]) for i in range(3)])
    ref = s2 ** -1.5 / np.sum(s2 ** -1.5)
    np.testing.assert_allclose(fw.pseudo_bma(e, origin), ref, rtol=1e-12)
    np.testing.assert_allclose(fw.pseudo_bma(e, origin, shrink=0.5), 0.5 * ref + 0.5 / 3, rtol=1e-12)


def _honest_mse(e, origin, rule):
    """Each origin's errors weighted by ``rule`` fitted on the other origins, mean squared per origin, averaged."""
    out = []
    for k in np.unique(origin):
        mine = origin == k
        w = rule(e[:, ~mine], origin[~mine])
        out.append(np.mean((w @ e[:, mine]) ** 2))
    return np.mean(out)


def test_chosen_rule_is_the_rule_with_the_smaller_honest_error():
    """On 200 random error tables (2-4 laws, 2-4 origins) the choice matches an explicit leave-one-origin-out loop,
    and both rules get chosen."""
    rng = np.random.default_rng(11)
    picks = []
    for _ in range(200):
        L, K = rng.integers(2, 5), rng.integers(2, 5)
        origin = np.repeat(np.arange(K), rng.integers(1, 5, K))
        e = rng.normal(rng.normal(0, 0.01, (L, 1)), rng.uniform(0.002, 0.02, (L, 1)), (L, len(origin)))
        got = fw.chosen_rule(e, origin)
        s, p = _honest_mse(e, origin, fw.stack_weights), _honest_mse(e, origin, fw.pseudo_bma)
        assert got == ("pseudo-BMA" if p < s else "stacking")
        np.testing.assert_allclose(fw.choose_weights(e, origin), fw.RULES[got](e, origin), rtol=1e-12)
        picks.append(got)
    assert 10 < picks.count("pseudo-BMA") < 190


def test_chosen_rule_keeps_stacking_where_the_laws_errors_cancel_and_with_one_origin():
    """Law a errs +2% everywhere and law b -4%: stacking's mixture (2/3 : 1/3 without its ridge) errs little on
    every origin, while pseudo-BMA (w ~ s^-K = 8 : 1) leans to a and keeps most of its error (1.3%); with one origin
    nothing can score a rule."""
    origin = np.repeat([0, 1, 2], 3)
    e = np.stack([np.full(9, 0.02), np.full(9, -0.04)])
    assert fw.chosen_rule(e, origin) == "stacking"
    w = fw.choose_weights(e, origin)
    np.testing.assert_allclose(w, fw.stack_weights(e, origin), rtol=1e-12)
    assert abs(w @ e[:, 0]) < 0.002 and fw.pseudo_bma(e, origin) @ e[:, 0] == pytest.approx(0.02 * 8 / 9 - 0.04 / 9)
    assert fw.chosen_rule(e[:, :3], origin[:3]) == "stacking"


def test_chosen_rule_takes_pseudo_bma_where_stacking_chases_one_origins_luck():
    """Law a is the truth (errors: noise of 0.2%); law b errs -3% on origins 0 and 1 and +3% on origin 2, and law c
    the opposite way round. Fitted on any two origins, stacking mixes b and c so that their errors cancel there, and
    the mixture misses the origin left out; pseudo-BMA keeps to a."""
    rng = np.random.default_rng(5)
    origin = np.repeat([0, 1, 2], 4)
    sign = np.where(origin == 2, 1.0, -1.0)
    e = np.stack([rng.normal(0, 0.002, 12), 0.03 * sign, -0.03 * sign + 0.01])
    assert fw.chosen_rule(e, origin) == "pseudo-BMA"
    assert fw.choose_weights(e, origin)[0] > 0.9


def test_combine_with_pseudo_bma_keeps_the_stacking_spread_in_the_form_term():
    """When the origins choose pseudo-BMA, the point is pseudo-BMA's and the form term is the larger of the
    candidates' spread about that point under pseudo-BMA's weights and under stacking's, over sqrt(K)."""
    rng = np.random.default_rng(5)
    origin = np.repeat([0, 1, 2], 4)
    sign = np.where(origin == 2, 1.0, -1.0)
    e = np.stack([rng.normal(0, 0.002, 12), 0.03 * sign, -0.03 * sign + 0.01])
    logs = np.log([[2.0], [2.1], [1.9]])
    details = {"names": ["a", "b", "c"], "errors": e, "distance": np.full(12, 0.3), "origin": origin,
               "log_targets": logs, "residuals": rng.normal(0, 0.005, (3, 30)), "target_distance": np.array([0.3])}
    c = combine(details)
    wp, ws = fw.pseudo_bma(e, origin), fw.stack_weights(e, origin)
    assert c["rule"] == "pseudo-BMA"
    np.testing.assert_allclose(c["weights"], wp, rtol=1e-12)
    np.testing.assert_allclose(np.log(c["loss"]), wp @ logs, rtol=1e-12)
    dev2 = (logs - wp @ logs) ** 2
    np.testing.assert_allclose(c["form"], np.sqrt(max(wp @ dev2, ws @ dev2)) / np.sqrt(3), rtol=1e-12)
    assert ws @ dev2 > wp @ dev2  # the stacking spread is the larger here: the floor acts
    assert combine(details, weigh=fw.pseudo_bma)["form"] == pytest.approx(np.sqrt(wp @ dev2)[0] / np.sqrt(3))
    # the errors the scale was calibrated on: each origin's, weighted by the rule chosen on the others
    np.testing.assert_allclose(c["honest"], fw.honest_errors(e, origin, 0.0, fw.choose_weights), rtol=1e-12)


def test_forecast_says_which_weighting_answered():
    """`Forecast.method` names pseudo-BMA where the origins chose it and stacking elsewhere; the weights are that
    rule's on the laws that extrapolated stably (two draws of a Chinchilla ladder, one of each)."""
    import pandas as pd

    import scalelab
    from scalelab.forecast import PSEUDO_BMA

    N = np.repeat([3e7, 6e7, 1.2e8, 2.5e8, 5e8, 1e9], 3)
    D = N * np.tile([5.0, 20.0, 80.0], 6)
    truth = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
    said = []
    for seed in (0, 1):
        runs = scalelab.simulate("chinchilla", truth, {"N": N, "D": D}, sigma=0.003, seed=seed)
        res = scalelab.forecast(runs, pd.DataFrame({"N": [2e9], "D": [4e10]}),
                                laws="chinchilla,kaplan,gadre2024_overtrain", progress=False)
        c = combine(res.details)
        E, origin = np.asarray(res.details["errors"]), np.asarray(res.details["origin"])
        ok = stable(E) & ~np.isin(res.details["names"], c["strayed"] + c["unsettled"])  # the laws combine weighs
        assert c["rule"] == fw.chosen_rule(E[ok], origin)
        head = PSEUDO_BMA if c["rule"] == "pseudo-BMA" else "rolling-origin stacking"
        assert res.method.startswith(head)
        np.testing.assert_allclose([res.weights[n] for n in res.details["names"]], c["weights"], rtol=1e-12)
        said.append(c["rule"])
    assert sorted(said) == ["pseudo-BMA", "stacking"]


def test_with_no_origin_the_method_says_no_choice_was_made():
    """Three model sizes leave no rolling origin: `combine`'s rule is "none", the reference law answers alone, and
    `method` says that nothing was chosen by extrapolation (it had said "rolling-origin stacking")."""
    import pandas as pd

    import scalelab

    N = np.repeat([1e8, 3e8, 1e9], 4)
    D = N * np.tile([5.0, 10.0, 20.0, 40.0], 3)
    truth = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
    runs = scalelab.simulate("chinchilla", truth, {"N": N, "D": D}, sigma=0.003, seed=0)
    res = scalelab.forecast(runs, pd.DataFrame({"N": [3e9], "D": [6e10]}), laws="chinchilla,kaplan", progress=False)
    assert not res.origins and combine(res.details)["rule"] == "none"
    assert res.weights == {"chinchilla": 1.0, "kaplan": 0.0}
    assert res.method.startswith("no size held out, so no choice by extrapolation: chinchilla;")
