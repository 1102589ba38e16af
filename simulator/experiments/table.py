"""A run's summary rows without pandas: what one `python -m simulator` run needs.

Importing pandas (with pyarrow) is ~0.3-0.5 s, a third of a whole single run that
simulates for 0.01-0.1 s. A single run's table is a few rows of plain numbers and
strings: `Rows` holds them as dicts, writes summary.csv with the bytes pandas'
`DataFrame.to_csv(index=False)` writes for the same rows, and computes the means and
confidence half-widths the printed summary shows with pandas' formulas, so the output is
the same whichever path wrote it (tests/experiments/test_table.py compares them byte for
byte and bit for bit). `Rows.frame()` is the pandas DataFrame, for everything else (a
sweep's gathering, parquet, reports, statistics); `Rows.csv_text()` declines (None)
values whose pandas formatting it does not reproduce, and the caller writes through
pandas then.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np  # the model imports it anyway

if TYPE_CHECKING:
    import pandas as pd

#: Value types whose CSV text (and pandas' column type inference) `csv_text` reproduces.
_PLAIN = (bool, int, float, str, type(None))
_FLOAT64 = np.float64


class Rows:
    """Column names and one dict per row (every row has every column), as
    `pandas.DataFrame(rows, columns=columns)` would hold them."""

    def __init__(self, columns: Iterable[str], rows: list[dict]) -> None:
        self.columns = list(columns)
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def empty(self) -> bool:
        return not self.rows or not self.columns

    def column(self, name: str) -> list:
        """The values of column `name`, one per row (KeyError if there is no such column)."""
        if name not in self.columns:
            raise KeyError(name)
        return [row[name] for row in self.rows]

    def mean(self, name: str) -> float:
        """The column's mean as pandas' `Series.mean()` computes it (nan-skipping)."""
        return nanmean(self.column(name))

    def with_front(self, front: dict[str, object]) -> Rows:
        """These rows with the columns `front` (one value for every row) first, as
        `pandas.concat([front_frame, frame], axis=1)`; a name already a column is an error."""
        clash = [name for name in front if name in self.columns]
        if clash:
            raise ValueError(f"columns already in the table: {clash}")
        return Rows([*front, *self.columns], [{**front, **row} for row in self.rows])

    def frame(self) -> pd.DataFrame:
        """The same table as a pandas DataFrame (imports pandas)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)

    def csv_text(self) -> str | None:
        """`self.frame().to_csv(index=False)` without pandas, or None when a value is not
        a plain bool, int, float, str or None (pandas' text of those is left to pandas)."""
        if len(set(self.columns)) != len(self.columns):
            return None
        cells: list[list[str]] = [[] for _ in self.rows]
        for name in self.columns:
            text = _column_text([row.get(name, _MISSING) for row in self.rows])
            if text is None:
                return None
            for out, value in zip(cells, text, strict=True):
                out.append(value)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(self.columns)
        writer.writerows(cells)
        return buffer.getvalue()


def as_rows(frame: pd.DataFrame | Rows) -> Rows:
    """`frame` as `Rows` (a DataFrame's records, Rows as they are): what reads a run's
    summary (the printed table, the warnings) reads it one way, pandas' numbers either
    way (tests/experiments/test_table.py)."""
    return frame if isinstance(frame, Rows) else Rows(frame.columns,
                                                      frame.to_dict("records"))


_MISSING = object()  # a row without the column: pandas fills nan; left to pandas here


def _column_text(values: list) -> list[str] | None:
    """The cells pandas writes for one column built from `values`: the column's type is
    what pandas infers (all bool: bool; all int: int64; numbers with None or nan: float64;
    anything else: object), then a float64 cell is numpy's shortest repr (Python's
    `repr`), a missing one (None, nan) empty, and the rest `str`. numpy's float64 scalars
    (the model's sums of numpy values) are numbers in a number column; elsewhere pandas
    writes their repr, which is left to pandas."""
    kinds = {type(v) for v in values}
    if _FLOAT64 in kinds:
        if not kinds <= {int, float, _FLOAT64, type(None)}:
            return None
        return ["" if v is None or v != v else repr(float(v)) for v in values]
    if not kinds <= set(_PLAIN):
        return None
    if kinds <= {int, float, type(None)} and kinds & {float, type(None)} and int in kinds:
        # pandas makes a float64 column of ints with floats or missing values
        return ["" if v is None or v != v else repr(float(v)) for v in values]
    return ["" if v is None or (type(v) is float and v != v) else
            repr(v) if type(v) is float else str(v) for v in values]


def nanmean(values: Sequence) -> float:
    """pandas' `Series.mean()` of a float column: the numpy (pairwise) sum of the values
    with missing ones as 0, over the count of the others; nan without any."""
    array = np.asarray(values, dtype=float)
    missing = np.isnan(array)
    count = len(array) - int(missing.sum())
    if count == 0:
        return math.nan
    if missing.any():
        array = np.where(missing, 0.0, array)
    return float(array.sum(dtype=np.float64) / count)


def nanstd(values: Sequence, ddof: int = 1) -> float:
    """pandas' `Series.std(ddof)` of a float column without missing values (nanops'
    nanvar without bottleneck: the mean, the numpy sum of squared deviations over
    n - ddof, its square root); nan for n <= ddof."""
    array = np.asarray(values, dtype=float)
    count = len(array)
    if count <= ddof:
        return math.nan
    avg = array.sum(dtype=np.float64) / count
    squares = (avg - array) ** 2
    return float(np.sqrt(squares.sum(dtype=np.float64) / (count - ddof)))


def mean_std(values: Sequence) -> tuple[int, float, float]:
    """The count, mean and standard deviation (ddof 1) of `values` without the missing
    ones (None, nan), as pandas' `Series.astype(float).dropna()` then `.mean()` and
    `.std(ddof=1)` give them."""
    array = np.asarray(values, dtype=float)
    kept = array[~np.isnan(array)]
    return len(kept), nanmean(kept), nanstd(kept)


def any_true(values: Sequence) -> bool:
    """pandas' `Series.any()` (missing values skipped)."""
    return any(v == v and bool(v) for v in values if v is not None)


def any_present(values: Sequence) -> bool:
    """pandas' `Series.notna().any()`."""
    return any(v is not None and v == v for v in values)
