"""Figures and tables drawn from run-folder files only: learning curves, CV folds,
prediction figures (:mod:`.plots`), ``kexp ls`` and ``kexp compare`` (:mod:`.tables`)."""
