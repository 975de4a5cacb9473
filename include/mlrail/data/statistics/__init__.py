"""Dataset statistics: mergeable accumulators, an in-process engine and a Beam engine.

``table_statistics(frame)`` summarises one pandas frame (small data, tests);
``mlrail.data.statistics.engine.compute_split_statistics`` streams files in bounded memory and
picks the in-process or the Beam engine.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from mlrail.data.statistics.accumulators import StatsConfig, TableAccumulator

__all__ = ["StatsConfig", "TableAccumulator", "table_statistics"]


def table_statistics(
    frame: pd.DataFrame,
    top_k: int = 20,
    vocabulary_size: int = 1000,
    categorical_max_unique: int = 100,
) -> dict[str, Any]:
    config = StatsConfig(
        top_k=top_k, vocabulary_size=vocabulary_size, categorical_max_unique=categorical_max_unique
    )
    return TableAccumulator(config).add(pa.Table.from_pandas(frame, preserve_index=False)).result()
