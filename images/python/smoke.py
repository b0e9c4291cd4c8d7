"""Exercise every default library once, as a job would, so that an image whose
libraries were trimmed too far (slim-venv) or do not fit together fails its build."""

import io
import sys
import tempfile
from pathlib import Path

import duckdb
import fsspec
import numpy as np
import openpyxl
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import requests
import scipy.linalg
import scipy.optimize
import scipy.sparse
import scipy.stats
import yaml

matrix = np.array([[4.0, 1.0], [2.0, 3.0]])
assert np.allclose(scipy.linalg.inv(matrix) @ matrix, np.eye(2))
assert np.allclose(np.linalg.solve(matrix, [1.0, 2.0]), scipy.linalg.solve(matrix, [1.0, 2.0]))
assert scipy.sparse.csr_matrix(matrix).nnz == 4
assert abs(scipy.optimize.minimize_scalar(lambda x: (x - 2) ** 2).x - 2) < 1e-6
assert abs(scipy.stats.norm.cdf(0) - 0.5) < 1e-12

frame = pd.DataFrame({"city": ["a", "b", "a"], "value": [1, 2, 3]})
assert frame.groupby("city")["value"].sum().to_dict() == {"a": 4, "b": 2}

with tempfile.TemporaryDirectory() as tmp:
    parquet = Path(tmp, "frame.parquet")
    frame.to_parquet(parquet)
    assert pq.read_table(parquet).num_rows == 3
    sums = pl.read_parquet(parquet).group_by("city").agg(pl.col("value").sum()).sort("city")
    assert sums["value"].to_list() == [4, 2]
    assert duckdb.sql(f"SELECT sum(value) FROM '{parquet}'").fetchall() == [(6,)]
    workbook = Path(tmp, "book.xlsx")
    frame.to_excel(workbook, index=False)
    assert openpyxl.load_workbook(workbook).active["B2"].value == 1
    with fsspec.open(f"file://{tmp}/note.txt", "w") as note:
        note.write("ok")
    assert Path(tmp, "note.txt").read_text() == "ok"

assert pc.sum(pa.array([1, 2, 3])).as_py() == 6
assert duckdb.sql("SELECT sum(value) FROM frame").fetchall() == [(6,)]
assert yaml.safe_load(io.StringIO("a: [1, 2]")) == {"a": [1, 2]}
assert requests.Request("GET", "https://example.org", params={"q": 1}).prepare().url == "https://example.org/?q=1"
print(f"smoke: default libraries work (Python {sys.version.split()[0]}, DuckDB {duckdb.__version__})")
