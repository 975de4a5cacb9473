"""Training: the feeder, TFRecord, Keras features, the stage schedule, distribution
strategies, tuning, TFX compatibility and the built-in tabular model."""
