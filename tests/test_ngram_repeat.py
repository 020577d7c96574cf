"""Two meanings of "density" kept apart: ``density`` is Chen et al.'s (2025) data density that the
density laws read (`scalelab.runs.density`); the proxy trainer's share of repeated 16-token windows
is ``ngram_repeat``. A proxy sweep table, new or written before the rename, is never read as the
former unless the user maps it deliberately."""

import numpy as np
import pandas as pd
import pytest

import scalelab
from scalelab.data import package_data
from scalelab.proxy import tokens
from scalelab.proxy.config import DataConfig
from scalelab.proxy.sweep import MARKER, append_row, read_runs
from scalelab.runs import RunTableError

DENSITY_LAW = "chen2025_suboptimal_density"


@pytest.fixture(scope="module")
def grid():
    """The committed proxy sweep over duplication levels (45 runs)."""
    return pd.read_csv(package_data("proxy_tiny_density_grid.csv"))


def _old(df, marker=True):
    """The same table as a sweep wrote it before the rename: ``density`` and (optionally) the marker."""
    old = df.rename(columns={"ngram_repeat": "density"})
    return old.assign(**{MARKER[0]: MARKER[1]}) if marker else old


def test_proxy_pool_and_sweep_tables_name_the_repeat_share_ngram_repeat(grid):
    cfg = DataConfig(vocab_size=16, order=2, concentration=0.3, unique_tokens=32 * 100, duplication=0.5,
                     n_prototypes=4)
    pool, info = tokens.train_pool(cfg, seq_len=32, tokens=32 * 100, seed=0)
    assert "density" not in info and info["ngram_repeat"] == tokens.ngram_repeat(pool)
    assert "density" not in grid.columns
    # the committed grid's three duplication levels: 0, ~0.49, ~0.89 repeated windows (data/README.md)
    levels = grid.groupby("duplication")["ngram_repeat"].mean()
    np.testing.assert_allclose(levels.to_numpy(), [0.0, 0.49, 0.89], atol=0.02)


@pytest.mark.parametrize("marker", [True, False])
def test_an_old_proxy_sweep_table_is_renamed_at_read_with_a_note(grid, tmp_path, marker):
    path = tmp_path / "old_sweep.csv"
    _old(grid, marker).to_csv(path, index=False)
    table = scalelab.read(path)
    assert "density" not in table.columns
    np.testing.assert_array_equal(table.column("ngram_repeat"), grid["ngram_repeat"].to_numpy())
    assert any("'density'" in n and "'ngram_repeat'" in n for n in table.notes)


@pytest.mark.parametrize("old", [False, True])
def test_a_density_law_refuses_a_proxy_table_and_names_the_mapping(grid, tmp_path, old):
    path = tmp_path / "sweep.csv"
    (_old(grid) if old else grid).to_csv(path, index=False)
    with pytest.raises(RunTableError, match=r"'density'.*ngram_repeat.*columns=\{'density': 'ngram_repeat'\}"):
        scalelab.fit(path, DENSITY_LAW, starts=4)
    # mapped deliberately, the repeat share stands in for the density (benchmarks/proxy_density.py does this)
    mapped = scalelab.read(path, columns={"density": "ngram_repeat"})
    np.testing.assert_array_equal(mapped.column("density"), grid["ngram_repeat"].to_numpy())


def test_a_users_density_column_is_chens_and_stays(grid):
    df = grid[["N", "D", "loss"]].assign(density=0.3, duplication=0.0)  # no proxy signature: a user's table
    table = scalelab.read(df)
    assert "ngram_repeat" not in table.columns and (table.column("density") == 0.3).all()


def test_resuming_into_an_old_sweep_file_keeps_one_column(grid, tmp_path):
    path = tmp_path / "runs.csv"
    _old(grid.iloc[:3]).to_csv(path, index=False)
    row = grid.iloc[3].to_dict()
    append_row(path, row)
    raw = pd.read_csv(path)
    assert "density" not in raw.columns and raw["ngram_repeat"].notna().all() and len(raw) == 4
    np.testing.assert_array_equal(raw["ngram_repeat"], grid["ngram_repeat"].iloc[:4])
    old_only = tmp_path / "old.csv"
    _old(grid.iloc[:2]).to_csv(old_only, index=False)
    assert "density" not in read_runs(old_only).columns
