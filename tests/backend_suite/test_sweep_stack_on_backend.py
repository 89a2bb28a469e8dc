"""``kexp sweep --cv K --stack`` on this process's backend: the main suite's tests that
stacked trials (on JAX, all trials' folds as one program) train the numbers of trials
trained alone."""

from __future__ import annotations

# the main suite's tests (and their project), collected again here to run on this backend
from tests.test_sweep_stack import (  # noqa: F401
    PROJECT,
    alone,
    test_members_with_other_kinds_of_regularizer_are_not_one_program,
    test_stacked_trials_train_the_numbers_of_trials_trained_alone,
)
