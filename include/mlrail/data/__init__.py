"""Data preparation: dataset versions and fingerprints, split hashing, ingest, statistics,
schema inference, validation (with Great Expectations) and example-data generators."""
