"""Runs inside the TFDV virtualenv: statistics of a Parquet file with TFDV, as a peer.

Prints one JSON line: rows, seconds (generate_statistics_from_dataframe only, not the
Parquet read) and peak RSS of this process.
"""

import json
import resource
import sys
import time

import pandas as pd
import tensorflow_data_validation as tfdv

frame = pd.read_parquet(sys.argv[1])
started = time.perf_counter()
stats = tfdv.generate_statistics_from_dataframe(frame)
seconds = time.perf_counter() - started
features = len(stats.datasets[0].features)
print(
    json.dumps(
        {
            "rows": len(frame),
            "seconds": seconds,
            "features": features,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )
)
