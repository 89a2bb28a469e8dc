"""k-fold cross-validation (``kexp cv``).

:mod:`.options` what a CV is asked to do (light: the CLI loads it first);
:mod:`.command` ``kexp cv`` as one call; :mod:`.prepare` the checks and data before
any fold; :mod:`.folds` one fold; :mod:`.executors` in-process, processes, Ray;
:mod:`.stack` all folds as one model; :mod:`.run` the CV and its executor loop;
:mod:`.record` folds.csv and summary.json; :mod:`.resume` the folds left to train;
:mod:`.fingerprint` cv.json, the record a resume is checked against; :mod:`.lock` one
process at a time per CV folder; :mod:`.lifeline` workers that die with their parent.
"""
