"""`scalelab.compiler`: the XLA:CPU flag the `scalelab` command starts with, added only where it is safe, and
the same numbers with it as without it."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from scalelab import compiler

VERIFIED = compiler.VERIFIED[0]


def test_flag_is_appended_to_the_users_flags():
    assert compiler.fast_compile_flags(None, VERIFIED) == compiler.FLAG
    assert compiler.fast_compile_flags("", VERIFIED) == compiler.FLAG
    assert (compiler.fast_compile_flags("--xla_force_host_platform_device_count=4", VERIFIED)
            == "--xla_force_host_platform_device_count=4 " + compiler.FLAG)


def test_a_users_choice_an_unverified_jaxlib_and_the_off_switch_leave_the_flags_alone():
    assert compiler.fast_compile_flags("--xla_cpu_use_fusion_emitters=true", VERIFIED) is None
    assert compiler.fast_compile_flags(None, (0, 4)) is None  # XLA would abort on a flag it does not know
    assert compiler.fast_compile_flags(None, (1, 0)) is None
    for off in ("0", "false", "OFF", "no"):
        assert compiler.fast_compile_flags(None, VERIFIED, enabled=off) is None
    assert compiler.fast_compile_flags(None, VERIFIED, enabled="1") == compiler.FLAG
    env = {"XLA_FLAGS": "--xla_cpu_use_fusion_emitters=true"}
    assert not compiler.apply(env) and env == {"XLA_FLAGS": "--xla_cpu_use_fusion_emitters=true"}


_FIT = ("import json, numpy as np, scalelab; "
        "r = scalelab.simulate('chinchilla', {'E': 1.69, 'A': 406.4, 'B': 410.7, 'alpha': 0.34, 'beta': 0.28}, "
        "{'N': np.geomspace(1e7, 1e9, 12), 'D': np.geomspace(2e8, 4e10, 12)}, sigma=0.01, seed=0); "
        "f = scalelab.fit(r, 'chinchilla', starts=16); print(json.dumps(f.params))")


@pytest.mark.skipif(compiler._jaxlib_version() not in compiler.VERIFIED, reason="jaxlib outside the verified versions")
def test_the_console_entry_sets_the_flag_and_it_changes_no_result():
    # what `scalelab` runs with: the entry point adds the flag to its own process only
    probe = ("import os, sys; from scalelab import cli; cli.main = lambda: print(os.environ.get('XLA_FLAGS', '')) or 0; "
             "sys.exit(cli.run())")
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "SCALELAB_FAST_COMPILE")}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == compiler.FLAG
    # XLA knows the flag (an unknown one aborts the process), and a fit is the same with it as without it
    params = {}
    for flags in (compiler.FLAG, "--xla_cpu_use_fusion_emitters=true"):
        run = subprocess.run([sys.executable, "-c", _FIT], env={**env, "XLA_FLAGS": flags}, capture_output=True,
                             text=True)
        assert run.returncode == 0, run.stderr[-2000:]
        params[flags] = json.loads(run.stdout.strip().splitlines()[-1])
    a, b = params.values()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-9, err_msg=k)
