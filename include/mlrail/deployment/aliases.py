"""The model registry's alias names, defined once (mlrail.store.registry moves them; pages
show them; servers resolve ``/labels/<alias>`` through them)."""

BLESSED = "blessed"  # the latest version both blessings let through: what a push publishes
PRODUCTION = "production"  # what takes production traffic once a rollout promotes it
CANARY = "canary"  # a version on trial beside production
ALIASES = (BLESSED, PRODUCTION, CANARY)  # shown as columns on the pages even when unset
