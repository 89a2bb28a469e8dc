"""Experiment tracking besides the run folder: MLflow (the optional extra ``kexp[mlflow]``).

:mod:`.params` flattens a resolved config into MLflow parameters, :mod:`.mlflow` wraps the
MLflow client so that a failing store becomes a warning (training goes on, the run folder
stays the record), :mod:`.callback` logs each epoch's metrics live, :mod:`.live` is what
``kexp run``, ``kexp cv`` and ``kexp sweep`` call, and :mod:`.export` sends run folders made
earlier. MLflow is imported inside functions only, when tracking is asked for.
"""
