"""Airflow DAGs of the taxi-tips pipeline spec: training, and whatever its sections declare."""

from pathlib import Path

from mlrail_airflow.dag_factory import pipeline_dags

SPEC = Path(__file__).resolve().parents[1] / "include" / "pipelines" / "taxi_tips.yaml"

globals().update(pipeline_dags(SPEC))
