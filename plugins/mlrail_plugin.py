"""Airflow plugin registering mlrail's UI additions (see mlrail_airflow for the library)."""

from airflow.plugins_manager import AirflowPlugin


class MlrailPlugin(AirflowPlugin):
    name = "mlrail"
