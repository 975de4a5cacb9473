from mlrail_airflow.hooks.mlrail import MlrailHook

__all__ = ["MlrailHook"]
