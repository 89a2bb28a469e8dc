"""k-fold cross-validation (``kexp cv``).

:mod:`.options` what a CV is asked to do (light: the CLI loads it first);
:mod:`.command` ``kexp cv`` as one call; :mod:`.prepare` the checks and data before
any fold; :mod:`.folds` one fold; :mod:`.executors` stacked, or through the engine's task
runner (:mod:`kexp.engine.runner`: in-process, processes, Ray); :mod:`.stack` all folds as
one model (:mod:`.vector` its vectorized form); :mod:`.run` the CV and its loop;
:mod:`.record` folds.csv and summary.json; :mod:`.resume` the folds left to train;
:mod:`.fingerprint` cv.json, the record a resume is checked against.
"""
