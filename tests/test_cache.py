"""The persistent compilation cache: miss then hit across processes, corrupt entry, off, unwritable.

Each case runs a fresh Python process (the cache is per process state in JAX) that
compiles one small program and reports JAX's own cache-hit events and the result.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")

PROGRAM = r"""
import json, warnings
import jax, jax.numpy as jnp
from scalelab import cache
events = []
jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    d = cache.enable()
    f = jax.jit(lambda x: jnp.cumsum(jnp.sin(x) ** 2) @ jnp.cos(x))
    y = float(f(jnp.arange(7.0)))
print(json.dumps({"dir": None if d is None else str(d), "y": y,
                  "hits": events.count("/jax/compilation_cache/cache_hits"),
                  "warnings": [str(w.message) for w in caught]}))
"""


def run(env_extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION_CACHE", "SCALELAB_CACHE"))}
    env.update({"PYTHONPATH": SRC, "JAX_PLATFORMS": "cpu", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"})
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


# Independent reference for the program's value (NumPy float32 would differ in the last bits;
# JAX defaults to float32, so compare at float32 resolution).
X = np.arange(7.0)
EXPECTED = float(np.cumsum(np.sin(X) ** 2) @ np.cos(X))


def entries(path):
    return [p for p in Path(path).rglob("*") if p.is_file() and not p.name.startswith((".probe-", ".verified"))]


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    first = run({"SCALELAB_CACHE_DIR": str(root)})
    second = run({"SCALELAB_CACHE_DIR": str(root)})
    return root, first, second


def test_miss_then_hit(filled):
    root, first, second = filled
    assert first["dir"].startswith(str(root)) and "jax" in Path(first["dir"]).name
    assert first["hits"] == 0 and entries(first["dir"])  # a miss writes an entry
    assert second["hits"] >= 1  # the second process loads it
    assert first["y"] == pytest.approx(EXPECTED, rel=1e-5) and second["y"] == first["y"]


def test_info_and_clear(filled, monkeypatch):
    from scalelab import cache

    root, first, _ = filled
    monkeypatch.setenv("SCALELAB_CACHE_DIR", str(root))
    got = cache.info()
    assert got["enabled"] and got["directory"] == first["dir"]
    assert got["entries"] == len(entries(first["dir"])) > 0 and got["bytes"] > 0
    monkeypatch.setenv("SCALELAB_CACHE_DIR", "off")
    assert cache.info()["enabled"] is False


def test_corrupt_entry_recompiles(filled, tmp_path):
    root, first, _ = filled
    import shutil

    copy = tmp_path / "c"
    shutil.copytree(root, copy)
    setup = Path(first["dir"]).name
    for p in entries(copy / setup):
        p.write_bytes(b"not an executable")
    got = run({"SCALELAB_CACHE_DIR": str(copy)})
    assert got["y"] == pytest.approx(EXPECTED, rel=1e-5)
    assert got["hits"] == 0 and sum("corrupt" in w for w in got["warnings"]) == 1
    again = run({"SCALELAB_CACHE_DIR": str(copy)})  # the recompiled entry was written back
    assert again["hits"] >= 1 and again["y"] == got["y"]


def test_off_and_unwritable(tmp_path):
    off = run({"SCALELAB_CACHE_DIR": "off"})
    assert off["dir"] is None and off["hits"] == 0 and off["y"] == pytest.approx(EXPECTED, rel=1e-5)
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache directory should be")
    bad = run({"SCALELAB_CACHE_DIR": str(blocked)})
    assert bad["dir"] is None and bad["y"] == pytest.approx(EXPECTED, rel=1e-5)
    assert sum("not usable" in w for w in bad["warnings"]) == 1
    # `cache info` says why, where it listed "entries 0" under a directory inside the file
    from scalelab import cache

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SCALELAB_CACHE_DIR", str(blocked))
        got = cache.info()
    assert got["usable"] is False and "directory" not in got
    assert got["problem"].startswith(f"{blocked} is a file, not a directory")


def test_clear_removes_entries(tmp_path, monkeypatch):
    from scalelab import cache

    monkeypatch.setenv("SCALELAB_CACHE_DIR", str(tmp_path))
    first = run({"SCALELAB_CACHE_DIR": str(tmp_path)})
    n = len(entries(first["dir"]))
    assert n > 0
    assert cache.clear()["removed_entries"] == n and not entries(tmp_path)


def test_clear_and_info_leave_other_programs_caches_alone(tmp_path, monkeypatch):
    from scalelab import cache

    monkeypatch.setenv("SCALELAB_CACHE_DIR", str(tmp_path))  # a root set to ~/.cache by mistake
    (tmp_path / "pip" / "http").mkdir(parents=True)
    (tmp_path / "huggingface" / "hub").mkdir(parents=True)
    (tmp_path / "huggingface" / "hub" / "model.bin").write_text("weights")
    (tmp_path / "notes.txt").write_text("a file of the user's")
    ours = tmp_path / cache.key()
    ours.mkdir()
    (ours / "prog-cache").write_bytes(b"x" * 10)
    old = tmp_path / "jax0.9.0-jaxlib0.9.0-cuda-NVIDIA_H100"  # an older setup: scalelab's too
    old.mkdir()
    (old / "prog-cache").write_bytes(b"y" * 5)
    got = cache.info()
    assert got["setups"] == sorted([cache.key(), old.name]) and got["entries_all_setups"] == 2
    assert cache.clear() == {"root": str(tmp_path), "removed_entries": 2, "removed_bytes": 15}
    assert not ours.exists() and not old.exists()
    assert (tmp_path / "huggingface" / "hub" / "model.bin").read_text() == "weights"
    assert (tmp_path / "pip" / "http").is_dir() and (tmp_path / "notes.txt").exists()


# -- traced programs (jax.export) ----------------------------------------------------------------

FIT_PROGRAM = r"""
import json, warnings
import numpy as np
from scalelab import cache, fit, fit_many, variants
from scalelab.simulate import simulate
N = np.repeat([2e7, 5e7, 1.2e8, 3e8], 3); D = N * np.tile([10.0, 20.0, 40.0], 4)
table = simulate("kaplan", {"Nc": 6.4e13, "Dc": 1.8e13, "aN": 0.076, "aD": 0.103},
                 {"N": N, "D": D}, sigma=0.01, seed=3)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    df = fit_many(table, "kaplan", variants.leave_one_out(table), starts="grid")
    one = fit(table, "kaplan")  # fit's programs carry XLA options of their own
print(json.dumps({"objective": df["objective"].tolist() + [one.objective], "Nc": df["Nc"].tolist(),
                  "traced": cache._state["programs_traced"], "loaded": cache._state["programs_loaded"],
                  "unkept": cache._state["programs_unkept"],
                  "warnings": [str(w.message) for w in caught]}))
"""


def run_fit(env_extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION_CACHE", "SCALELAB_CACHE"))}
    env.update({"PYTHONPATH": SRC, "JAX_PLATFORMS": "cpu"})
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", FIT_PROGRAM], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def programs(root):
    return [p for p in Path(root).rglob("*.jaxexport")]


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    root = tmp_path_factory.mktemp("programs")
    first = run_fit({"SCALELAB_CACHE_DIR": str(root)})
    second = run_fit({"SCALELAB_CACHE_DIR": str(root)})
    return root, first, second


def test_traced_program_kept_and_loaded(kept):
    root, first, second = kept
    assert first["traced"] >= 2 and first["loaded"] == 0 and programs(root)  # a miss traces and writes it
    assert first["unkept"] == 0  # every program of a built-in law could be kept (fit_many's and fit's)
    assert second["loaded"] == first["traced"] and second["traced"] == 0  # the next process reads them
    from scalelab import cache

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SCALELAB_CACHE_DIR", str(root))
        assert cache.info()["programs"] == len(programs(root)) >= 1
    np.testing.assert_allclose(second["objective"], first["objective"], rtol=1e-12, atol=0)


@pytest.mark.slow  # make test-all; CI's time budget (a third process compiling everything)
def test_loaded_program_computes_what_the_uncached_one_does(kept):
    _, _, second = kept
    off = run_fit({"SCALELAB_CACHE_DIR": "off"})
    np.testing.assert_allclose(second["objective"], off["objective"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(second["Nc"], off["Nc"], rtol=1e-12)
    assert off["traced"] == off["loaded"] == 0  # cache off: nothing kept, nothing read


@pytest.mark.slow  # make test-all; CI's time budget
def test_corrupt_traced_program_is_traced_again(kept, tmp_path):
    import shutil

    root, first, _ = kept
    copy = tmp_path / "c"
    shutil.copytree(root, copy)
    for p in programs(copy):
        p.write_bytes(b"not a program")
    got = run_fit({"SCALELAB_CACHE_DIR": str(copy)})
    assert got["traced"] >= 1 and got["loaded"] == 0
    assert sum("corrupt traced program" in w for w in got["warnings"]) == 1
    np.testing.assert_allclose(got["objective"], first["objective"], rtol=1e-12, atol=0)
    again = run_fit({"SCALELAB_CACHE_DIR": str(copy)})  # rewritten
    assert again["loaded"] >= 1 and again["traced"] == 0


def test_corrupt_kept_file_reads_as_missing(tmp_path, monkeypatch):
    """A kept file that is not a pickle of the expected structure warns once, is removed, reads as None
    (the program is then built from the next form down: the traced one, or a fresh trace)."""
    import jax

    from scalelab import cache, kept

    monkeypatch.setitem(cache._state, "warned", False)
    tree = jax.tree.structure((1, {"x": 2}))
    bad = tmp_path / "p.jaxexport"
    bad.write_bytes(b"\x80\x04truncated")
    with pytest.warns(RuntimeWarning, match="corrupt traced program"):
        assert kept._read(bad, tree) is None
    assert not bad.exists() and kept._read(bad, tree) is None  # removed; absent reads as None too
    kept._write(bad, (tree, "out", b"payload"))
    assert kept._read(bad, tree) == ("out", [b"payload"])
    other = jax.tree.structure((1, 2))
    with pytest.warns(RuntimeWarning):  # written for other arguments: foreign
        monkeypatch.setitem(cache._state, "warned", False)
        assert kept._read(bad, other) is None


def test_program_key_follows_source_and_law(tmp_path, monkeypatch):
    import dataclasses

    import jax.numpy as jnp

    from scalelab import cache, kept, laws

    monkeypatch.setitem(cache._state, "enabled", True)
    monkeypatch.setitem(cache._state, "dir", tmp_path)
    args = (jnp.zeros((3, 2)), {"x": jnp.ones(5)})
    a = kept._program_path("p|chinchilla", args)
    assert a == kept._program_path("p|chinchilla", args)
    assert a != kept._program_path("p|chinchilla", (jnp.zeros((4, 2)), {"x": jnp.ones(5)}))  # shapes
    assert a != kept._program_path("p|kaplan", args)  # name and settings
    a.parent.mkdir(parents=True)
    a.write_bytes(b"a program of this code")
    monkeypatch.setitem(cache._state, "digest", "edited source")
    b = kept._program_path("p|chinchilla", args)
    assert a != b  # another version of scalelab's code
    left = a.parent / f"{b.name[:16]}-0.xla"  # a compiled executable an earlier version kept
    left.write_bytes(b"an executable")
    kept._drop_stale(a.parent)  # what writing b does first: the other version's programs go
    assert not a.exists() and not left.exists()
    monkeypatch.setitem(cache._state, "digest", None)
    c = kept._program_path("p|chinchilla", args)
    assert c != kept._program_path("p|chinchilla", args, {"xla_backend_optimization_level": 1})  # XLA options
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=true")
    assert c != kept._program_path("p|chinchilla", args)  # and XLA's flags
    law = laws.get("chinchilla")
    assert laws.stable_name(law) == "chinchilla"
    assert laws.stable_name(dataclasses.replace(law, start_grid=None)) is None  # a user's variant: never kept


def test_an_empty_setting_is_the_default_and_cache_info_creates_nothing(tmp_path):
    """``SCALELAB_CACHE_DIR=`` (empty) is the default root, as if unset (it turned the cache off, where an empty
    SCALELAB_DATA_DIR is the default data directory); ``scalelab cache info`` on a root that does not exist says so
    and creates no directory (the CLI's start turned the cache on, making it). A new-user trial, twenty-ninth
    session. Fresh processes: the cache is per-process state."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION_CACHE", "SCALELAB_CACHE"))}
    env.update({"PYTHONPATH": SRC, "JAX_PLATFORMS": "cpu", "XDG_CACHE_HOME": str(tmp_path / "xdg"),
                "SCALELAB_CACHE_DIR": ""})
    code = "import json; from scalelab import cache; print(json.dumps(cache.info()))"
    got = json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                    timeout=120, check=True).stdout)
    assert got["enabled"] and got["root"] == str(tmp_path / "xdg" / "scalelab")
    env["SCALELAB_CACHE_DIR"] = str(tmp_path / "new" / "cache")
    out = subprocess.run([sys.executable, "-m", "scalelab.cli", "cache", "info", "--json"], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    info = json.loads(out.stdout)
    assert info["root"] == env["SCALELAB_CACHE_DIR"] and info["entries"] == 0
    assert not (tmp_path / "new").exists()
