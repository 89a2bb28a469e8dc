"""``kexp cv --stack`` and the warm model on this process's backend: the main suite's tests
that the vectorized stack (written in ``keras.ops``), the stack of sub-networks and the
warm model train the numbers of unstacked, fresh folds."""

from __future__ import annotations

# the main suite's tests (and their project), collected again here to run on this backend
from tests.test_cv_engine import (  # noqa: F401
    PROJECT,
    fresh,
    test_a_warm_model_trains_the_numbers_of_a_fresh_one,
    test_on_jax_stacked_folds_train_as_one_program_the_numbers_of_unstacked_ones,
    test_stacked_folds_train_the_numbers_of_unstacked_ones,
    test_vectorized_stacked_folds_train_the_numbers_of_unstacked_ones,
)
