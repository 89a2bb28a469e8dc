"""The process engine under ``kexp cv`` and ``kexp sweep``: how work is spread over
processes and stopped in order. Nothing here knows folds, trials or specs.

:mod:`.runner` the one task runner (this process, worker processes or Ray; outcomes as
they finish); :mod:`.workers` the worker processes; :mod:`.cluster` the Ray bootstrap;
:mod:`.lifeline` processes that die with their parent; :mod:`.lock` one process at a
time per CV or sweep folder; :mod:`.cores` how many cores to use; :mod:`.signals` the
stop request and interrupts; :mod:`.process` the ``kexp`` program's signals and quick
exit; :mod:`.output` output to a closed pipe, and the ``log`` type; :mod:`.progress`
the live view of folds or trials.
"""
