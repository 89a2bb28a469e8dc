"""One compiled model kept warm across the folds (or trials) that share its layers.

Tracing a Keras model's train, test and predict functions costs about 0.7 s for the
Pima tutorial's 12-8-1 network: more than training it for 30 epochs. Folds of a CV
build the same model again and again, so a worker keeps the first one it trained and
trains the next fold on it, once it holds exactly the state a fresh model of that fold
would start from:

* the fold's model is still built from the fold's seed (same initializers, same draws),
  and its variables (weights, non-trainable statistics and the seed generators' states)
  are copied into the kept model;
* the kept optimizer's variables (step count, learning rate, moments) are set to those
  of the fold's fresh optimizer before its first step;
* metrics are reset by Keras at the start of every epoch and evaluation.

Nothing is traced again, and the fold trains the same numbers as on a fresh model
(``tests/test_cv_engine.py`` compares the histories). A model is kept only when the
spec's model and compile sections are the same and the variables have the same shapes;
specs naming custom code (a custom layer may keep Python state) always get a fresh model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kexp import backend
from kexp.model.custom import references
from kexp.spec import Config


def key(cfg: Config) -> str | None:
    """What must agree for a model to be reused (None: never reuse it): the model and
    compile sections, the precision (its dtype policy), and ``deterministic`` (TensorFlow picks some kernels when a function
    is traced, so a model traced before op determinism was switched on can differ from a
    fresh one in the last bit)."""
    parts = {"model": cfg.model.model_dump(mode="json"),
             "compile": cfg.compile.model_dump(mode="json")}
    if references(parts):
        return None
    return json.dumps({**parts, "deterministic": cfg.deterministic, "precision": cfg.precision},
                      sort_keys=True, default=str)


def layout(model: Any) -> list[tuple[str, tuple[int, ...], str]]:
    """Each variable's path, shape and dtype, in the model's order."""
    return [(v.path, tuple(v.shape), str(v.dtype)) for v in model.variables]


class Warm:
    """The model kept by one process (a worker, or the loop of an in-process CV)."""

    def __init__(self) -> None:
        self.model: Any = None
        self.key: str | None = None
        self.reused = 0

    def matches(self, k: str | None) -> bool:
        """Whether a model built for ``k`` may be trained on the kept one."""
        return k is not None and self.model is not None and k == self.key

    def reuse(self, fresh: Any) -> Any:
        """The kept model set to ``fresh``'s starting state (its variables, and its
        optimizer's before the first step), or None when their variables differ (then
        ``fresh`` trains, and is kept with :meth:`keep`). Build ``fresh`` after Keras's
        session is cleared, so that its variables have the kept model's names."""
        if self.model is None or layout(fresh) != layout(self.model):
            return None
        for model in (fresh, self.model):  # the kept one is unbuilt if its fold failed early
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
        pairs = [*zip(self.model.variables, fresh.variables, strict=True),
                 *zip(self.model.optimizer.variables, fresh.optimizer.variables, strict=True)]
        for dst, src in pairs:
            dst.assign(src)
        self.reused += 1
        return self.model

    def model_for(self, fresh: Any, k: str | None) -> Any:
        """The model to train: the kept one set to ``fresh``'s starting state when ``k``
        matches and the variables agree, else ``fresh``, kept for the next one."""
        if self.matches(k):
            kept = self.reuse(fresh)
            if kept is not None:
                return kept
        self.keep(fresh, k)
        return fresh

    def keep(self, model: Any, k: str | None) -> None:
        """Keep ``model`` for the folds after this one (``k`` None: keep nothing)."""
        usable = k is not None and getattr(model, "optimizer", None) is not None
        self.model, self.key = (model, k) if usable else (None, None)


def start_on(warm: Warm | None, k: str | None,
             build: Callable[[], tuple[Any, ...]]) -> tuple[Any, ...]:
    """The warm-model protocol of a fold or trial: Keras's session is cleared, so that the
    fresh model ``build()`` makes (the last item of what it returns) gets a lone run's
    names; then, with ``warm``, the kept model takes its place when ``k`` matches
    (:meth:`Warm.model_for`). Clearing frees memory by garbage collection, slow enough to
    skip when the kept model will be reused."""
    reusing = warm is not None and warm.matches(k)
    backend.keras().backend.clear_session(free_memory=not reusing)
    *made, fresh = build()
    return (*made, fresh if warm is None else warm.model_for(fresh, k))


#: this process's warm model: the folds of every CV it runs (also the CVs of ``kexp sweep
#: --cv`` trials) and the single-run trials of a sweep share it
PROCESS = Warm()
