"""Deployment: the registry's aliases, and putting a model version where servers load it."""
