"""The asymmetric inventory-cost custom loss.

A shortage (predicting less than the demand, so orders are lost) costs twice as
much per unit as surplus stock (predicting more, so units sit in storage):
loss = mean(2 * shortage + 1 * surplus). Referenced from a spec as
``compile.loss: examples.inventory:inventory_cost``.
"""

import keras
from keras import ops

SHORTAGE_COST = 2.0
SURPLUS_COST = 1.0


@keras.saving.register_keras_serializable(package="kexp_examples")
def inventory_cost(y_true, y_pred):
    y_true = ops.cast(y_true, y_pred.dtype)
    diff = y_true - y_pred
    shortage = ops.maximum(diff, 0.0)
    surplus = ops.maximum(-diff, 0.0)
    return ops.mean(SHORTAGE_COST * shortage + SURPLUS_COST * surplus, axis=-1)
