"""Per-feature statistics of a table: numeric and categorical, as plain JSON-able dicts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
HISTOGRAM_BINS = 10


def _is_string(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def _top_values(series: pd.Series, limit: int) -> list[dict[str, Any]]:
    counts = series.dropna().value_counts()
    # Ties broken by value so the vocabulary order is stable across runs.
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:limit]
    return [{"value": _plain(v), "count": int(c)} for v, c in ordered]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def numeric_statistics(series: pd.Series) -> dict[str, Any]:
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    nan = np.isnan(values)
    inf = np.isinf(values)
    finite = values[~nan & ~inf]
    out: dict[str, Any] = {
        "kind": "numeric",
        "count": int(len(values) - nan.sum()),
        "missing": int(nan.sum()),
        "inf": int(inf.sum()),
        "zeros": int((values == 0).sum()),
        "integral": bool(finite.size == 0 or np.all(np.mod(finite, 1) == 0)),
    }
    if finite.size == 0:
        return {
            **out,
            "mean": None,
            "std": None,
            "min": None,
            "max": None,
            "quantiles": {},
            "histogram": [],
        }
    counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
    return {
        **out,
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "min": float(finite.min()),
        "max": float(finite.max()),
        "quantiles": {
            str(q): float(v) for q, v in zip(QUANTILES, np.quantile(finite, QUANTILES), strict=True)
        },
        "histogram": [
            {"low": float(lo), "high": float(hi), "count": int(c)}
            for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)
        ],
    }


def string_statistics(series: pd.Series) -> dict[str, Any]:
    present = series.dropna().astype(str)
    return {
        "kind": "string",
        "count": int(len(present)),
        "missing": int(series.isna().sum()),
        "avg_length": float(present.str.len().mean()) if len(present) else 0.0,
    }


def feature_statistics(
    series: pd.Series, top_k: int, vocabulary_size: int, categorical_max_unique: int
) -> dict[str, Any]:
    """Statistics of one column; categorical-looking columns also get their value counts."""
    stats = string_statistics(series) if _is_string(series) else numeric_statistics(series)
    unique = int(series.nunique(dropna=True))
    stats["unique"] = unique
    if stats["kind"] == "string" or (stats["integral"] and unique <= categorical_max_unique):
        top = _top_values(series, max(top_k, vocabulary_size))
        stats["top_values"] = top
        stats["top_k"] = top[:top_k]
    return stats


def table_statistics(
    frame: pd.DataFrame,
    top_k: int = 20,
    vocabulary_size: int = 1000,
    categorical_max_unique: int = 100,
) -> dict[str, Any]:
    return {
        "rows": int(len(frame)),
        "features": {
            name: {
                "name": name,
                **feature_statistics(frame[name], top_k, vocabulary_size, categorical_max_unique),
            }
            for name in frame.columns
        },
    }
