"""Studies of many runs (``kexp sweep``).

Parameter sets come from a grid or random draws (:mod:`.space`) or from Optuna's TPE
sampler (:mod:`.bayes`, checked up front by :mod:`.tpe`; trials pruned by :mod:`.prune`);
every trial's spec is checked before the first one trains (:mod:`.plan`). Each trial is a
complete run folder (:mod:`.trial`) or, with ``--cv K``, a CV folder (:mod:`.cvtrial`; the
best parameters are then refitted by :mod:`.refit`). Trials run one after another, in
worker processes or on Ray (:mod:`.executors`, through :mod:`kexp.engine.runner`), are recorded as ``trials.csv``,
``best.yaml`` and ``summary.json`` (:mod:`.run`, :mod:`.record`), and resumed
(:mod:`.resume`). :mod:`.command` is the one call ``kexp sweep`` makes.
"""
