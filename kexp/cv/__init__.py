"""k-fold cross-validation: folds, their executors (in-process, processes, Ray,
stacked) and resume."""
