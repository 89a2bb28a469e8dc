"""Studies of many runs (``kexp sweep``): parameter sets from a grid or random draws
(:mod:`.space`), every trial's spec checked before the first one trains (:mod:`.plan`),
each trial a complete run folder (:mod:`.trial`), run one after another or in worker
processes (:mod:`.run`), recorded as ``trials.csv``, ``best.yaml`` and ``summary.json``
(:mod:`.record`), and resumed (:mod:`.resume`)."""
