"""Prediction parity and malformed requests, against a running sandbox server."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

from mlrail.serving.sandbox.replay import Client, body, instances
from mlrail.training.export import OUTPUTS

PARITY_CLIENTS = 8  # parallel senders: the server merges some requests, as in production


def _served_value(prediction, task: str):
    """The task's answer in one served prediction (the only output is not nested)."""
    if isinstance(prediction, dict):
        return prediction.get(OUTPUTS[task], prediction)
    return prediction


def served_predictions(url: str, rows: list[dict], task: str) -> list:
    """Each row sent as its own request; the task's answer of each, in order."""
    client = Client(url)

    def one(row: dict):
        status, answer = client.send(body([row]))
        if status != 200:
            raise ValueError(f"HTTP {status}: {answer[:200]!r}")
        return _served_value(json.loads(answer)["predictions"][0], task)

    with ThreadPoolExecutor(PARITY_CLIENTS) as pool:
        return list(pool.map(one, rows))


def differences(served: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Per row, the largest difference in any output between the served and the in-process
    answer, relative to the answer's size: absolute for values below 1 (probabilities,
    scores), relative above (a price of 300,000 carries float32's ~0.02 of rounding, which
    a batch of another size moves)."""
    served, expected = served.astype(np.float64), expected.astype(np.float64)
    diff = np.abs(served - expected) / np.maximum(1.0, np.abs(expected))
    return diff.reshape(len(diff), -1).max(axis=1) if diff.size else np.zeros(0)


def parity(url: str, model_dir: Path, table: pa.Table, schema: dict) -> dict:
    """How far what the server answers for each row is from what the same SavedModel
    predicts in-process on the rows (as evaluation predicts): see ``differences``."""
    from mlrail.evaluation.predict import predict_saved_model

    task = schema["label"]["task"]
    try:
        served = served_predictions(url, instances(table, schema), task)
        expected = predict_saved_model(model_dir, table, schema)
        served_array = np.asarray(served, dtype=np.float64).reshape(expected.shape)
    except (ValueError, OSError, http.client.HTTPException) as err:
        return {"rows": table.num_rows, "max_diff": None, "error": str(err)}
    per_row = differences(served_array, expected)
    return {
        "rows": table.num_rows,
        "max_diff": float(per_row.max()) if per_row.size else 0.0,
        "worst_row": int(per_row.argmax()) if per_row.size else 0,
        "per_row": [float(v) for v in per_row],
    }


def malformed_bodies(schema: dict, sample: dict, max_request_bytes: int) -> dict[str, bytes]:
    """A request for each way a client gets it wrong; the server must answer each with a 4xx
    naming the problem."""
    features = [f for f in schema["features"] if f["name"] in sample]
    first = features[0]["name"]
    missing = {k: v for k, v in sample.items() if k != first}
    numeric = [f["name"] for f in features if f["type"] != "string"]
    wrong = dict(sample)
    if numeric:
        wrong[numeric[0]] = "not a number"
    else:
        wrong[first] = {"nested": [1, 2]}
    padding = "x" * (max_request_bytes + 1)
    return {
        "missing field": body([missing]),
        "wrong type": body([wrong]),
        "empty body": b"",
        "oversize body": json.dumps({"instances": [sample], "padding": padding}).encode(),
        "bad JSON": b'{"instances": [',
        "no instances": b'{"signature_name": "serving_default"}',
    }


def malformed(url: str, bodies: dict[str, bytes], valid: bytes) -> tuple[list[dict], bool]:
    """Each malformed body's status (ok when a 4xx), and whether the server then still
    answers ready and serves a valid request."""
    client = Client(url)
    probes = []
    for name, payload in bodies.items():
        try:
            status, _ = client.send(payload)
        except (OSError, http.client.HTTPException) as err:
            status = f"no answer ({type(err).__name__})"
        probes.append(
            {"probe": name, "status": status, "ok": isinstance(status, int) and 400 <= status < 500}
        )
    try:
        status, _ = client.send(valid)
        healthy = status == 200
    except (OSError, http.client.HTTPException):
        healthy = False
    client.close()
    return probes, healthy
