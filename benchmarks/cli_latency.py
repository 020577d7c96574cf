"""End-to-end CLI latency: cold (empty compilation cache), second call (cache filled), cache off.

Each timing is one fresh process (``python -m scalelab.cli ...``), wall clock from start to exit,
as a user sees it. The compilation cache goes to a fresh temporary directory
(SCALELAB_CACHE_DIR), so "cold" really is cold and the user's own cache is untouched. Anchor in
the same run: ``python -c "import jax"`` (the floor every JAX program pays) and ``--help``.

    python benchmarks/cli_latency.py [--data PATH] [--bootstrap 4000] [--nuts] [--repeat 2] [--xla-default]

``--xla-default`` also times every command with XLA's default CPU emitters (``SCALELAB_FAST_COMPILE=0``:
the command does not add ``--xla_cpu_use_fusion_emitters=false``, `scalelab.compiler`), each in its own
fresh cache, and prints the ratio of the cold and second calls.

Prints one line per command: cold, second call (best of --repeat), off, and what `fit --json`
reports as compile_seconds on each. Device name and load average beside the absolute times.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name  # noqa: E402


def run(argv, env):
    t0 = time.perf_counter()
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if out.returncode not in (0,):
        raise RuntimeError(f"{' '.join(argv)} failed ({out.returncode}): {out.stderr[-2000:]}")
    obj = None
    try:
        obj = json.loads(out.stdout)
    except ValueError:
        pass
    return dt, obj


def main():
    from scalelab.data import data_dir

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(data_dir() / "epoch_chinchilla" / "runs.csv"))
    ap.add_argument("--bootstrap", type=int, default=4000)
    ap.add_argument("--nuts", action="store_true", help="also time `bayes` (4 chains x 1,000 draws)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-forecast", action="store_true",
                    help="skip `forecast` on a 30-run table (every 8th Epoch run; targets: the largest model's runs)")
    ap.add_argument("--xla-default", action="store_true",
                    help="also time each command with XLA's default CPU emitters (SCALELAB_FAST_COMPILE=0)")
    ap.add_argument("--cli", default=f"{sys.executable} -m scalelab.cli", help="how to call the CLI")
    args = ap.parse_args()
    cli = args.cli.split()
    base = [*cli, "fit", args.data, "--drop-highest-loss", "5", "--json"]
    commands = {
        "--help": [*cli, "--help"],
        "fit --json": base,
        "fit --starts grid --json": [*base, "--starts", "grid"],
    }
    if args.bootstrap:
        commands[f"fit --bootstrap {args.bootstrap} --json"] = [*base, "--bootstrap", str(args.bootstrap)]
    if args.nuts:
        commands["bayes (NUTS 4 x 1,000) --json"] = [*cli, "bayes", args.data, "--drop-highest-loss", "5",
                                                     "--chains", "4", "--samples", "1000", "--json"]
    if not args.no_forecast:  # the "forecast on a 30-run table"
        import pandas as pd

        df = pd.read_csv(args.data)
        big = df["N"] >= df["N"].quantile(0.95)
        small = df[~big].sort_values(["N", "D"]).iloc[::8].head(30)
        tmpdir = Path(tempfile.mkdtemp(prefix="scalelab-cli-latency-data-"))
        small[["N", "D", "loss"]].to_csv(tmpdir / "train30.csv", index=False)
        df[big][["N", "D"]].to_csv(tmpdir / "targets.csv", index=False)
        commands["forecast (30 runs) --json"] = [*cli, "forecast", str(tmpdir / "train30.csv"), "--at",
                                                str(tmpdir / "targets.csv"), "--json"]
    env0 = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    print(f"device: {device_name()}; load average {os.getloadavg()[0]:.1f} (1 min)")
    t_jax, _ = run([sys.executable, "-c", "import jax; jax.numpy.zeros(1).block_until_ready()"], env0)
    print(f"anchor: python -c 'import jax' (+ one op): {t_jax:.2f} s")
    settings = {"scalelab's compiler flag": {}}
    if args.xla_default:
        settings["XLA's default emitters"] = {"SCALELAB_FAST_COMPILE": "0"}
    times, answers = {}, {}
    for label, extra in settings.items():
        print(f"-- {label}")
        with tempfile.TemporaryDirectory(prefix="scalelab-cli-latency-") as tmp:
            env = {**env0, **extra, "SCALELAB_CACHE_DIR": tmp}
            off = {**env0, **extra, "SCALELAB_CACHE_DIR": "off"}
            for name, argv in commands.items():
                cold, o1 = run(argv, env)
                second = []
                for _ in range(args.repeat):
                    second.append(run(argv, env))
                best, o2 = min(second, key=lambda t: t[0])
                t_off, o3 = run(argv, off) if name != "--help" else (float("nan"), None)
                times[label, name] = (cold, best)
                answers[label, name] = o1
                cs = lambda o: f"{o['compile_seconds']:.2f}" if o and "compile_seconds" in o else "-"
                print(f"{name:<34} cold {cold:6.2f} s (compile {cs(o1)})  second {best:6.2f} s (compile {cs(o2)})  "
                      f"cache off {t_off:6.2f} s (compile {cs(o3)})  second/jax-import {best / t_jax:.1f}x")
            info = json.loads(subprocess.run([*cli, "cache", "info", "--json"], env=env, capture_output=True,
                                             text=True).stdout)
            print(f"cache after the runs: {info.get('entries')} entries, {info.get('bytes', 0) / 1e6:.1f} MB")
    if args.xla_default:
        a, b = settings
        for name in commands:
            (c1, s1), (c0, s0) = times[a, name], times[b, name]
            same = _largest_difference(answers[a, name], answers[b, name])
            print(f"{name:<34} XLA default / scalelab's flag: cold {c0 / c1:.2f}x, second {s0 / s1:.2f}x"
                  + (f"; answers differ by at most {same:.1e} (relative)" if same is not None else ""))


def _largest_difference(x, y) -> float | None:
    """The largest relative difference between the numbers of two JSON answers' ``params`` (fit; bayes: each
    parameter's mean, median, lo, hi) or ``predictions`` (forecast: loss, lo, hi); None when neither holds them."""
    def numbers(o):
        if not o:
            return None
        if "predictions" in o:
            return [p[k] for p in o["predictions"] for k in ("loss", "lo", "hi")]
        if "params" in o:  # fit: a number per parameter; bayes: each parameter's summary (mean, median, lo, hi)
            return [x for v in o["params"].values()
                    for x in ([v[k] for k in sorted(v)] if isinstance(v, dict) else [v])]
        return None
    a, b = numbers(x), numbers(y)
    if a is None or b is None or len(a) != len(b):
        return None
    import numpy as np

    return float(np.max(np.abs(np.asarray(a, float) / np.asarray(b, float) - 1)))


if __name__ == "__main__":
    main()
