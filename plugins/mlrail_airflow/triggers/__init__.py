"""Triggers: remote work waited for in the triggerer."""
