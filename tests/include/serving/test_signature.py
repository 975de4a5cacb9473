"""The pushed SavedModel's serving signature: raw features in, score and class out."""

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_serving_needs_raw_features_only(trained):
    import tensorflow as tf

    serve = tf.saved_model.load(str(trained.model_folder / "1")).signatures["serving_default"]
    raw = {
        "trip_miles": [[1.2], [np.nan]],
        "trip_seconds": [[300.0], [900.0]],
        "fare": [[7.5], [21.0]],
        "pickup_community_area": [[8.0], [np.nan]],
        "dropoff_community_area": [[32.0], [999.0]],
        "trip_start_hour": [[23.0], [8.0]],
        "trip_start_day": [[5.0], [2.0]],
        "trip_start_month": [[6.0], [1.0]],
        "payment_type": [["Credit Card"], ["Crypto"]],
        "company": [["Flash Cab"], [""]],
    }
    batch = {
        k: tf.constant(v, dtype=tf.string if isinstance(v[0][0], str) else tf.float32)
        for k, v in raw.items()
    }
    answer = serve(**batch)
    assert set(answer) == {"score", "class"}
    scores = answer["score"].numpy()
    assert scores.shape == (2,) and np.all((scores > 0) & (scores < 1))
    expected = [b"1" if s >= 0.5 else b"0" for s in scores]
    assert answer["class"].numpy().tolist() == expected
