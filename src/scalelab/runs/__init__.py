"""Runs: the validated run table every other stage reads, its files, the data directory, simulated tables.

`read` / `write` (CSV or parquet by suffix), `RunTable`, `from_dataframe`, `RunTableError`.
``scalelab.runs.data`` finds the public data, ``scalelab.runs.simulate`` draws tables from a law,
``scalelab.runs.density`` measures a token corpus's data density.
"""

from scalelab.runs.io import is_parquet, read, read_frame, write
from scalelab.runs.columns import ALIASES, NUMERIC, POSITIVE, TEXT, RunTableError
from scalelab.runs.table import RunTable, from_dataframe

__all__ = ["read", "read_frame", "write", "is_parquet", "RunTable", "RunTableError", "from_dataframe", "ALIASES", "NUMERIC",
           "POSITIVE", "TEXT"]
