import atexit
import os
import shutil
import tempfile

import jax
import numpy as np
import pytest

import scalelab
from scalelab import compiler
from scalelab.data import data_dir

# The compiler settings of the `scalelab` command (scalelab.cli.run: XLA:CPU's faster-compiling emitters),
# for the tests that call the CLI or the Python API in this process and for the processes they start: the
# suite runs what a user runs. Set before any test starts a JAX backend.
compiler.apply(os.environ)

# One persistent XLA compilation cache for the whole test session, shared with the processes the
# tests start (notebook kernels, CLI subprocesses inherit the environment): a program that one
# test compiled is loaded, not recompiled, by a notebook that builds the same program. A fresh
# directory per session, removed at exit, so nothing is reused across sessions or versions.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="scalelab-test-xla-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs",
                  float(os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")))


@pytest.fixture
def x64():
    """JAX's 64-bit mode for a test's own JAX reference computations (scalelab scopes its own
    float64 inside its functions; importing it changes no JAX setting)."""
    with jax.enable_x64(True):
        yield


# SCALELAB_REQUIRE_DATA=1 (CI sets it in .ci/run): a missing public data set FAILS the run instead of
# skipping the tests that read it. Tests that need a data set call `_need`; any other skip whose reason
# names SCALELAB_DATA_DIR (the convention for data skips) is turned into a failure as well.
REQUIRE_DATA = os.environ.get("SCALELAB_REQUIRE_DATA", "") not in ("", "0")
DATA_SOURCES = ("epoch_chinchilla", "clark2022_routing_moe", "sldbench_snapshot")


def _need(source: str, filename: str = "runs.csv"):
    path = data_dir() / source / filename
    if not path.exists():
        msg = f"public data {path} not found (set SCALELAB_DATA_DIR to the directory holding '{source}/')"
        if REQUIRE_DATA:
            pytest.fail(msg + "; SCALELAB_REQUIRE_DATA=1 forbids skipping", pytrace=False)
        pytest.skip(msg)
    return path


def pytest_sessionstart(session):
    if REQUIRE_DATA:
        missing = [s for s in DATA_SOURCES if not (data_dir() / s).is_dir()]
        if missing:
            pytest.exit(f"SCALELAB_REQUIRE_DATA=1 but the public data sets {missing} are not under {data_dir()} "
                        "(check out the shared data beside the repository, or set SCALELAB_DATA_DIR)", returncode=1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if REQUIRE_DATA and rep.skipped and "SCALELAB_DATA_DIR" in str(rep.longrepr):
        rep.outcome = "failed"
        rep.longrepr = f"skipped for missing data, which SCALELAB_REQUIRE_DATA=1 forbids: {rep.longrepr}"


@pytest.fixture(scope="session")
def epoch_path():
    return _need("epoch_chinchilla")


@pytest.fixture(scope="session")
def epoch_runs(epoch_path):
    """Epoch's 240-run convention: the 5 highest-loss rows dropped."""
    return scalelab.read(epoch_path).drop_highest_loss(5)


@pytest.fixture(scope="session")
def epoch_fit(epoch_runs):
    return scalelab.fit(epoch_runs, "chinchilla", starts="grid")


TRUTH = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


# lr_annealing's parameters for the small curve tables of the curve tests (`annealing_curves`)
ANNEALING_TRUTH = {"L0": 2.2, "A": 0.5, "alpha": 0.5, "C": 15.0, "lam": 0.99}


def annealing_curves(every: int = 100):
    """Three noisy lr_annealing curves (cosine to 3e-4, constant, WSD to 3e-4) of 2000 steps, peak 3e-3 at step 100,
    logged every ``every`` steps (step 0 left out), 0.02% log-normal noise: the curve tests' small table."""
    import pandas as pd

    from scalelab.laws import schedule

    rng = np.random.default_rng(5)
    frames = [schedule.schedule_table(lrs, every=every, run_id=name) for name, lrs in (
        ("cos", schedule.cosine(2000, 3e-3, 100, 3e-4)), ("const", schedule.constant(2000, 3e-3, 100)),
        ("wsd", schedule.wsd(2000, 3e-3, 100, 0.3, 3e-4)))]
    df = pd.concat(frames, ignore_index=True)
    df = df[df["step"] > 0].reset_index(drop=True)
    law = scalelab.laws.get("lr_annealing")
    clean = np.asarray(law(ANNEALING_TRUTH, **{k: df[k].to_numpy() for k in ("run_id", "step", "lr")}))
    return df.assign(loss=clean * np.exp(2e-4 * rng.standard_normal(len(df))))


@pytest.fixture(scope="session")
def simulated_runs():
    """Chinchilla runs on 9 isoFLOP budgets x 9 sizes, 1% log-normal noise."""
    design = scalelab.isoflop_design(budgets=np.geomspace(1e18, 1e22, 9), n_per_budget=9)
    return scalelab.simulate("chinchilla", TRUTH, design, sigma=0.01, seed=1)


# Under pytest-xdist (`make test` runs `-n 2 --dist loadgroup`): a test that uses a module-scoped
# fixture runs on the same worker as the module's other users of it (the fixture and the programs it
# compiles are built once), and every user of the Epoch grid fit (4,500 starts) shares one worker.
# Tests without such fixtures are spread one by one. Without xdist this hook does nothing.
SHARED_SESSION_FIXTURES = ("epoch_fit",)


# tryfirst: xdist's worker turns the marks into node ids in its own pytest_collection_modifyitems, which
# pluggy would otherwise call before this one (a mark added after it groups nothing).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        if any(f in info.name2fixturedefs for f in SHARED_SESSION_FIXTURES):
            group = "epoch_fit"
        else:
            shared = sorted(name for name, defs in info.name2fixturedefs.items()
                            if defs and defs[-1].scope in ("module", "class", "package"))
            if not shared:
                continue
            group = f"{item.module.__name__}:{','.join(shared)}"
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_collection_finish(session):
    """Under ``--dist loadgroup``, warn when the groups above did not reach xdist's node ids: the suite still passes,
    but every worker builds every module fixture and the Epoch grid fit again (pytest 9.2's structured node ids
    broke xdist 3.8's grouping, pytest-xdist issue 1386: pyproject.toml pins pytest below 9.2 until it is fixed)."""
    config = session.config
    if not (config.pluginmanager.hasplugin("xdist") and getattr(config.option, "loadgroup", False)):
        return
    grouped = [item for item in session.items if item.get_closest_marker("xdist_group")]
    if grouped and not any("@" in item.nodeid for item in grouped):
        import warnings

        warnings.warn(pytest.PytestWarning(
            f"--dist loadgroup: {len(grouped)} tests carry an xdist_group mark, but none reached its node id, so "
            f"pytest-xdist spreads them one by one (pytest {pytest.__version__}; see tests/conftest.py)"))
