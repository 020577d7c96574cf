"""Memory mappings of one process that forecasts many ladders of different sizes (Linux only).

A compiled XLA:CPU executable holds hundreds of memory mappings; a process that kept every one it compiled (a notebook
forecasting thirty families, `benchmarks/forecast.py --jobs 1`) crashed after about 20 tables, when it reached the
kernel's limit (``/proc/sys/vm/max_map_count``, 65,530 by default): "LLVM compilation error: Cannot allocate memory",
then a segmentation fault. `scalelab.programs.call_timed` now keeps the `KEEP` most recently used programs.

Each table is a Chinchilla ladder (Hoffmann et al.'s parameters, 0.5% noise) of 3 runs per size at 5, 20 and 80 tokens
per parameter, with one more size per table; each is forecast at 2e10 parameters in this process. Printed per table:
the process's memory mappings, the compiled programs kept, resident memory and the seconds of the call. The anchor is
the same loop with every program kept (``--keep-all``: `KEEP` set above any table's need, as before the change).

    python benchmarks/memory_maps.py [--tables 12] [--keep-all]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name  # noqa: E402

import scalelab  # noqa: E402
from scalelab import programs  # noqa: E402


def mappings() -> int:
    """The lines of ``/proc/self/maps``: this process's memory mappings."""
    with open(f"/proc/{os.getpid()}/maps") as fh:
        return sum(1 for _ in fh)


def resident_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


def ladder(n_sizes: int, seed: int) -> pd.DataFrame:
    N = np.repeat(np.geomspace(3e7, 3e9, n_sizes), 3)
    D = N * np.tile([5.0, 20.0, 80.0], n_sizes)
    L = 1.69 + 406.4 / N ** 0.34 + 410.7 / D ** 0.28
    return pd.DataFrame({"N": N, "D": D, "loss": L * np.exp(0.005 * np.random.default_rng(seed).standard_normal(len(N)))})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, default=12)
    ap.add_argument("--keep-all", action="store_true", help="keep every compiled program (the behaviour before)")
    args = ap.parse_args(argv)
    if args.keep_all:
        programs.KEEP = 10 ** 9
    limit = Path("/proc/sys/vm/max_map_count").read_text().strip()
    print(f"device: {device_name()}; KEEP {programs.KEEP}; max_map_count {limit}; start: {mappings()} mappings")
    print(f"{'table':>5s} {'runs':>5s} {'mappings':>9s} {'programs':>9s} {'RSS MB':>7s} {'s':>6s}")
    for i in range(args.tables):
        df = ladder(6 + i, seed=i)
        t0 = time.perf_counter()
        scalelab.forecast(df, {"N": [2e10], "D": [4e11]}, progress=False)
        print(f"{i + 1:5d} {len(df):5d} {mappings():9d} {len(programs._COMPILED):9d} {resident_mb():7.0f} "
              f"{time.perf_counter() - t0:6.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
