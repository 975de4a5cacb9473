"""Runs inside the TFDV virtualenv: statistics of a Parquet file with TFDV, as a peer.

Prints one JSON line: rows, read_seconds (pandas.read_parquet), seconds
(generate_statistics_from_dataframe alone) and peak RSS of this process.
"""

import json
import resource
import sys
import time

import pandas as pd
import tensorflow_data_validation as tfdv

started = time.perf_counter()
frame = pd.read_parquet(sys.argv[1])
read_seconds = time.perf_counter() - started
started = time.perf_counter()
stats = tfdv.generate_statistics_from_dataframe(frame)
seconds = time.perf_counter() - started
features = len(stats.datasets[0].features)
print(
    json.dumps(
        {
            "rows": len(frame),
            "seconds": seconds,
            "read_seconds": read_seconds,
            "features": features,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )
)
