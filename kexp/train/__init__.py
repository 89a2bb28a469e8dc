"""The training stage: compile (per-output losses and metrics), fit, evaluate,
predictions and the baseline a model must beat."""
