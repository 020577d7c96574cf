"""The house's structural contracts: results hold their Law, one data preparation reads
``law.target``, and nothing global changes at import. Each test failed before its fix."""

import numpy as np
import pytest

import scalelab
from scalelab import bayes, laws
from scalelab.laws import Law, positive

TRUE = {"E": 1.5, "A": 40.0, "alpha": 0.3}
N = np.geomspace(1e7, 1e10, 24)


def _power(p, x):
    return p["E"] + p["A"] / x["N"] ** p["alpha"]


def _law(name):
    """A one-input law ``E + A / N^alpha`` that is never registered."""
    return Law(name=name, inputs=("N",), params=("E", "A", "alpha"), predict=_power,
               transforms={"E": positive, "A": positive},
               start_ranges={"log_E": (-1.0, 1.0), "log_A": (0.0, 8.0), "alpha": (0.0, 1.0)})


@pytest.fixture(scope="module")
def power_runs():
    return scalelab.simulate(_law("power_probe"), TRUE, {"N": N}, sigma=0.005, seed=3)


def _expected(params, n):  # float64 NumPy, independent of JAX
    return params["E"] + params["A"] / n ** params["alpha"]


def test_fit_result_holds_an_unregistered_law(power_runs):
    law = _law("power_probe")
    assert "power_probe" not in laws.names()
    res = scalelab.fit(power_runs, law, starts=16)
    assert res.law is law and res.to_json()["law"] == "power_probe"
    n = np.array([2e10, 1e11])
    np.testing.assert_allclose(res.predict(N=n), _expected(res.params, n), rtol=1e-12)


def test_a_law_reusing_a_registered_name_predicts_with_itself(power_runs):
    impostor = _law("chinchilla")  # the registered chinchilla needs N and D; this one N only
    res = scalelab.fit(power_runs, impostor, starts=16)
    assert res.law is impostor and res.law is not laws.get("chinchilla")
    n = np.array([3e10])
    np.testing.assert_allclose(res.predict(N=n), _expected(res.params, n), rtol=1e-12)


def test_posterior_holds_an_unregistered_law(power_runs):
    law = _law("power_probe")
    post = bayes.laplace(power_runs, law, likelihood="normal", draws=400, seed=0)
    assert post.law is law and post.to_json(0.9)["law"] == "power_probe"
    pred = post.predict(ci=0.9, N=np.array([1e11]))
    mean = {k: float(v["median"]) for k, v in post.params(0.9).items()}
    assert pred["lo"][0] < _expected(mean, 1e11) < pred["hi"][0]


def test_fit_many_takes_delta_and_fixed_like_fit(power_runs):
    from scalelab.fit.many import fit_many

    law = _law("power_probe")
    one = scalelab.fit(power_runs, law, starts=16, delta=0.05, fixed={"alpha": 0.3})
    many = fit_many(power_runs, law, starts=16, delta=0.05, fixed={"alpha": 0.3})
    assert many["alpha"].iloc[0] == pytest.approx(0.3, rel=1e-12)
    for k in ("E", "A"):
        assert many[k].iloc[0] == pytest.approx(one.params[k], rel=1e-6)
    assert many["objective"].iloc[0] == pytest.approx(one.objective, rel=1e-9)


def test_bayes_models_the_laws_target_column():
    # batch_size_loss predicts batch_size from the loss: B = lambda_B * L^-alpha_B
    loss = np.linspace(2.2, 3.6, 30)
    truth = {"lambda_B": 3e7, "alpha_B": 4.0}
    rng = np.random.default_rng(0)
    batch = truth["lambda_B"] * loss ** -truth["alpha_B"] * np.exp(0.02 * rng.standard_normal(loss.size))
    import pandas as pd

    runs = pd.DataFrame({"loss": loss, "batch_size": batch})
    post = bayes.laplace(runs, "batch_size_loss", likelihood="normal", draws=400, seed=0)
    ref = np.polyfit(np.log(loss), np.log(batch), 1)  # float64 NumPy least squares on the log target
    p = post.params(0.95)
    assert p["alpha_B"]["median"] == pytest.approx(-ref[0], abs=0.02)
    assert p["lambda_B"]["median"] == pytest.approx(np.exp(ref[1]), rel=0.02)


def test_allocation_comes_from_the_law_not_its_name():
    # A law that reuses the name "chinchilla" but counts tokens twice: B / (D/2)^beta. Its optimum is
    # Chinchilla's closed form with B' = B 2^beta (an independent reference); the registered
    # chinchilla's closed form with B would be wrong for it.
    import dataclasses

    from scalelab.optimal import allocation_draws, closed_form

    chin = laws.get("chinchilla")
    impostor = dataclasses.replace(
        chin, predict=lambda p, x: p["E"] + p["A"] / x["N"] ** p["alpha"] + p["B"] / (x["D"] / 2) ** p["beta"],
        log_predict=None, allocation=None)
    p = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
    assert impostor.unconstrained_names == ("log_E", "log_A", "log_B", "alpha", "beta")
    theta = np.array([[np.log(p["E"]), np.log(p["A"]), np.log(p["B"]), p["alpha"], p["beta"]]])
    C = np.array([1e21, 1e24])
    got = allocation_draws(impostor, theta, C)
    ref = closed_form(chin, {**p, "B": p["B"] * 2 ** p["beta"]}, C)
    np.testing.assert_allclose(got["N_opt"][0], ref["N_opt"], rtol=1e-6)
    np.testing.assert_allclose(got["loss"][0], ref["loss"], rtol=1e-9)
    # a renamed copy of chinchilla keeps its declared closed form
    renamed = dataclasses.replace(chin, name="my_chinchilla", aliases=())
    np.testing.assert_allclose(scalelab.allocate(renamed, p, C)["N_opt"], closed_form(chin, p, C)["N_opt"], rtol=1e-14)


def _python(code, **env):
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_importing_scalelab_changes_nothing_global():
    code = ("import jax, matplotlib\n"
            "import scalelab, scalelab.plot, scalelab.bayes, scalelab.fit.api\n"
            "print(jax.config.jax_enable_x64, matplotlib.get_backend())")
    assert _python(code, MPLBACKEND="svg") == ["False", "svg"]


def test_float64_is_scoped_to_the_calls_that_need_it():
    import jax

    law = laws.get("chinchilla")
    p = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
    assert not jax.config.jax_enable_x64
    out64 = law(p, N=np.array([1e9, 7e10]), D=np.array([2e10, 1.4e12]))
    out32 = law(p, N=np.array([1e9, 7e10], np.float32), D=np.array([2e10, 1.4e12], np.float32))
    assert out64.dtype == np.float64 and out32.dtype == np.float32  # the caller's float32 stays float32
    ref = 1.8 + 480.0 / np.array([1e9, 7e10]) ** 0.35 + 2100.0 / np.array([2e10, 1.4e12]) ** 0.37
    np.testing.assert_allclose(np.asarray(out64), ref, rtol=1e-14)
    assert not jax.config.jax_enable_x64


def test_cli_parses_before_importing_jax_and_fit_loads_no_sampler_or_plotting(tmp_path, simulated_runs):
    code = ("import sys\nfrom scalelab.cli import build_parser\nbuild_parser().parse_args(['fit', 'x.csv'])\n"
            "print(*sorted(m for m in ('jax', 'numpy', 'pandas') if m in sys.modules) or ['none'])")
    assert _python(code) == ["none"]
    path = tmp_path / "runs.csv"
    simulated_runs.to_csv(path, index=False)
    code = ("import sys, contextlib, io\nfrom scalelab.cli import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n    assert main(['fit', {str(path)!r}, '--starts', '64', '--json']) == 0\n"
            "print(*sorted(m for m in ('arviz', 'matplotlib', 'flax', 'numpyro') if m in sys.modules) or ['none'])")
    assert _python(code) == ["none"]


def test_one_laplace_design_and_bayes_share_it(power_runs, x64):
    # design's Gauss-Newton covariance sigma^2 (J^T J)^-1 (sigma the Huber fit's own scale, alpha held fixed) is bayes'
    # laplace_core at a given noise scale; reference: the same formula in NumPy with the analytic Jacobian.
    from scipy.special import ndtr

    import jax.numpy as jnp

    from scalelab.bayes.laplace import laplace_core
    from scalelab.design import laplace_state

    law = _law("power_probe")
    res = scalelab.fit(power_runs, law, starts=16, fixed={"alpha": 0.3})
    E, A, a = res.params["E"], res.params["A"], res.params["alpha"]
    n, y = power_runs["N"].to_numpy(), np.log(power_runs["loss"].to_numpy())
    f = E + A * n**-a
    J = np.stack([E / f, A * n**-a / f, -A * n**-a * np.log(n) / f], axis=1)  # d log f / d (log_E, log_A, alpha)
    r = np.log(f) - y
    h = 1.06 * np.sqrt(np.mean(r**2)) * len(r) ** -0.2  # `residual_scale`: Huber(1e-3), 2 free parameters
    sigma = np.sqrt(np.sum(np.clip(r, -1e-3, 1e-3) ** 2) / (len(r) - 2)) / np.mean(ndtr((1e-3 - r) / h)
                                                                                   - ndtr((-1e-3 - r) / h))
    Jf = J[:, :2]
    ref = np.zeros((3, 3))
    ref[:2, :2] = sigma**2 * np.linalg.inv(Jf.T @ Jf)

    theta = jnp.asarray([np.log(E), np.log(A), a])
    x = {"N": jnp.asarray(n)}
    free = np.array([1.0, 1.0, 0.0])
    core = laplace_core(law, theta, x, jnp.asarray(y), jnp.ones(len(n)), None, "normal", jnp.asarray(1.0 - free),
                        scale=sigma, free=jnp.asarray(free))
    np.testing.assert_allclose(np.asarray(core["cov"])[:2, :2], ref[:2, :2], rtol=1e-8)
    Sigma, s = laplace_state(law, theta, x, jnp.asarray(y), np.ones(len(n)), free)
    assert s == pytest.approx(sigma, rel=1e-10)
    np.testing.assert_allclose(Sigma, ref, rtol=1e-8, atol=1e-300)


def test_influence_holds_its_law_even_one_reusing_a_registered_name(power_runs):
    from scalelab import design

    impostor = _law("chinchilla")  # one input N; the registered chinchilla would need N and D
    res = design.influence(power_runs, impostor, "loss@N=1e11", starts=16)
    assert res.law is impostor and res.to_json()["law"] == "chinchilla"
    fit = scalelab.fit(power_runs, impostor, starts=16)
    assert res.value == pytest.approx(_expected(fit.params, 1e11), rel=1e-6)  # the impostor's own prediction
    assert res.influence.shape == (len(N),) and np.all(np.isfinite(res.influence))


def test_suggestion_holds_an_unregistered_law(simulated_runs):
    import dataclasses

    from scalelab import design
    from scalelab.optimal import closed_form

    law = dataclasses.replace(laws.get("chinchilla"), name="chinchilla_probe", aliases=())
    assert "chinchilla_probe" not in laws.names()
    fit = scalelab.fit(simulated_runs, law, starts=32)
    s = design.suggest(simulated_runs, law, "loss@C=1e24", budget=1e21, k=2, fit=fit)
    assert s.law is law and s.to_json()["law"] == "chinchilla_probe"
    # the target is the renamed law's compute-optimal loss (Hoffmann's closed form, float64 NumPy)
    assert s.value == pytest.approx(float(closed_form(laws.get("chinchilla"), fit.params, np.array([1e24]))["loss"][0]),
                                    rel=1e-6)
