"""Where results live: the artifact store, the metadata store and model registry, cache
keys, the component runner that ties them together, lineage and run summaries."""
