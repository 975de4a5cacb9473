"""Airflow DAG `taxi_tips_training`: the taxi-tips pipeline spec as a training DAG."""

from pathlib import Path

from mlrail_airflow.dag_factory import training_dag

SPEC = Path(__file__).resolve().parents[1] / "include" / "pipelines" / "taxi_tips.yaml"

dag = training_dag(SPEC)
