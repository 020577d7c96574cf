"""Save/load of grouped and Student-t posteriors: a loaded posterior is the saved one (draws, noise
sites, group labels, the Law, diagnostics, predictions, allocations), bit for bit.

Cheap settings: the 40-run simulated table of test_bayes; Laplace draws; a NUTS-shaped posterior built
by `from_draws` the way `sample` builds one (sites ``log_s, log_nu, tau, z[group]``, sample stats
``diverging, num_steps``), whose R-hat and ESS ArviZ computes from the draws. A real NUTS run, grouped
and Student-t at once (2 chains x 100 draws; compiling that model costs ~25 s on a 2-core CPU), is
marked slow."""

import warnings

import numpy as np
import pytest

import scalelab
from scalelab import bayes, laws

TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
AT = {"N": np.array([1e8, 7e10]), "D": np.array([2e9, 1.4e12])}


@pytest.fixture(scope="module")
def table():
    design = scalelab.isoflop_design(budgets=(1e18, 1e19, 1e20, 1e21), n_per_budget=10, tokens_per_param=(2, 400))
    return scalelab.simulate("chinchilla", TRUE, design, sigma=0.01, seed=0)


@pytest.fixture(scope="module")
def fit(table):
    return scalelab.fit(table, "chinchilla", objective="mse", starts=32)


def _roundtrip(post, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # short chains may fail their checks; load says so
        return bayes.load(post.save(path))


def _assert_same(a, b):
    assert b.law is a.law is laws.get("chinchilla")
    for field in ("likelihood", "method", "delta", "groups", "n_runs", "adjustment", "warnings", "seconds"):
        assert getattr(b, field) == getattr(a, field), field
    assert [type(g) for g in b.groups] == [type(g) for g in a.groups]  # labels keep their type (int, float, str)
    assert set(b.idata.posterior.data_vars) == set(a.idata.posterior.data_vars)
    for name, var in a.idata.posterior.data_vars.items():
        np.testing.assert_array_equal(b.idata.posterior[name].values, var.values, err_msg=name)
        assert b.idata.posterior[name].dims == var.dims
    if "z" in a.idata.posterior:
        assert list(b.idata.posterior["group"].values) == list(a.idata.posterior["group"].values)
    if hasattr(a.idata, "sample_stats"):
        for name, var in a.idata.sample_stats.data_vars.items():
            np.testing.assert_array_equal(b.idata.sample_stats[name].values, var.values, err_msg=name)
    np.testing.assert_array_equal(b.theta, a.theta)
    da, db = a.draws(), b.draws()
    assert set(da) == set(db)
    for k in da:
        np.testing.assert_array_equal(db[k], da[k], err_msg=k)
    assert b.diagnostics() == a.diagnostics()
    assert b.problems() == a.problems()
    pa, pb = a.predict(ci=0.9, seed=3, **AT), b.predict(ci=0.9, seed=3, **AT)
    for k in pa:
        np.testing.assert_array_equal(pb[k], pa[k], err_msg=k)
    aa, ab = a.allocate(np.array([1e22]), ci=0.9), b.allocate(np.array([1e22]), ci=0.9)
    np.testing.assert_array_equal(ab["N_opt"]["median"], aa["N_opt"]["median"])
    assert b.to_json(0.9) == a.to_json(0.9)


def test_nuts_shaped_grouped_student_t_posterior_roundtrips(table, fit, tmp_path):
    from scalelab.bayes.model import group_index
    from scalelab.bayes.posterior import from_draws

    law = laws.get("chinchilla")
    _, labels = group_index(scalelab.read(table), "N")
    rng = np.random.default_rng(0)
    chains, n = 2, 200
    theta = law.flatten({k: np.asarray(v) for k, v in fit.unconstrained.items()})
    draws = {un: theta[i] + 0.01 * rng.standard_normal((chains, n)) for i, un in enumerate(law.unconstrained_names)}
    draws.update(log_s=np.log(0.01) + 0.1 * rng.standard_normal((chains, n)),
                 log_nu=np.log(5.0) + 0.2 * rng.standard_normal((chains, n)),
                 tau=np.abs(0.005 + 0.001 * rng.standard_normal((chains, n))),
                 z=rng.standard_normal((chains, n, len(labels))))
    stats = {"diverging": rng.random((chains, n)) < 0.01, "num_steps": rng.integers(1, 64, (chains, n))}
    post = from_draws(law, "student_t", "nuts", draws, sample_stats=stats, groups=labels, n_runs=len(table),
                      seconds=1.5, warnings=("a note that travels",))
    d = post.diagnostics()
    assert d["divergences"] == int(stats["diverging"].sum()) > 0 and d["rhat_max"] is not None
    _assert_same(post, _roundtrip(post, tmp_path / "shaped.nc"))


@pytest.mark.slow
def test_grouped_student_t_nuts_posterior_roundtrips(table, fit, tmp_path):
    post = bayes.sample(table, "chinchilla", likelihood="student_t", groups="N", chains=2, draws=100, warmup=100,
                        seed=0, init=fit, extend=0, retry=False, progress=False)
    names = set(post.idata.posterior.data_vars)
    assert {"log_s", "log_nu", "tau", "z"} <= names and post.method == "nuts"
    assert len(post.groups) == post.idata.posterior["z"].shape[-1] > 1
    # the new-run interval carries a new group's offset and Student-t noise: wider than the curve's
    assert "nu" in post.draws() and "tau" in post.draws()
    _assert_same(post, _roundtrip(post, tmp_path / "grouped_t.nc"))


@pytest.mark.parametrize("likelihood, groups", [
    ("student_t", None),                # Student-t, i.i.d.
    ("normal", "N"),                    # model-size offsets (float labels)
    ("student_t", "family"),            # offsets by a text column
    ("normal", np.arange(40) % 4),      # one int label per run
])
def test_laplace_posteriors_roundtrip(table, fit, tmp_path, likelihood, groups):
    t = table.assign(family=np.where(np.arange(len(table)) % 2, "a", "b"))
    post = bayes.laplace(t, "chinchilla", likelihood=likelihood, groups=groups, init=fit, draws=200, adjust=None)
    assert ("log_nu" in post.idata.posterior) == (likelihood == "student_t")
    assert ("tau" in post.idata.posterior) == (groups is not None)
    _assert_same(post, _roundtrip(post, tmp_path / "post.nc"))
