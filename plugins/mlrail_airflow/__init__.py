"""mlrail's Airflow layer: operators, hooks, triggers and links around the mlrail core."""
