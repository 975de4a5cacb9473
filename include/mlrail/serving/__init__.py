"""The model server: TF Serving's REST API and Vertex AI's container contract in one ASGI app.

``python -m mlrail serve --model <name>`` runs it (see ``server.py``). Layout:

* ``config``: ``ServerConfig``, every knob in one validated dataclass;
* ``repository``: which versions of the serving root are completely pushed, loading them
  and picking up new ones without a restart;
* ``model``: one loaded SavedModel version, its signature and schema;
* ``batching``: merging concurrent requests into one model call;
* ``payload``: the request body (``instances`` / ``inputs``, ``b64``) into model inputs,
  validated against the schema, and the answer back into JSON;
* ``router``: the one place that decides which version answers a request;
* ``metrics``: Prometheus counters and histograms;
* ``app``: the routes; ``server``: uvicorn, workers, and the request log it hands the app;
* ``requestlog``: the request and feedback logs (Parquet, Hive-partitioned).
"""

from mlrail.serving.config import ServerConfig

__all__ = ["ServerConfig"]
