"""mlrail core: artifacts, metadata, lineage, caching and the pipeline components.

This package never imports Airflow: the same code runs in Airflow tasks, in a Vertex AI
training container, on Beam workers and in the model server. Importing it is cheap; heavy
libraries (tensorflow, apache_beam, great_expectations, google.cloud) are imported inside
the functions that need them.
"""

__version__ = "0.1.0"
