"""``kexp cv --stack``, vectorized: the K folds of a Dense network as one network whose
every layer holds the K folds' kernels in one batched kernel.

A Dense layer becomes ``h = act(h @ kernel + bias)`` with ``h`` of shape ``(K, batch,
in)``, ``kernel`` ``(K, in, out)`` and ``bias`` ``(K, out)``: one batched matmul a layer
for all folds, instead of K small ones. Slice ``k`` starts from fold ``k``'s own fresh
weights (built from the fold's seed, as a lone fold's), sees fold ``k``'s own batches
(padded with zero rows to the batch size; a mask keeps the padding out of the loss and
metrics), and its own loss: the spec's loss averaged over the fold's real rows, plus its
own L1/L2 penalty. The total loss is the sum of the folds' losses, so each slice's
gradient is its own fold's, and an elementwise optimizer (Adam, SGD, RMSprop, ...) moves
it as it would move the fold alone. What :func:`why_not_vectorized` allows keeps that true. One
training step is one small graph however many folds (no per-fold loss, metric or
output ops); the history logs each fold's loss and metrics as a lone fold's would
(means over the epoch's samples, the loss with its penalty).

The numbers are a lone fold's up to the last bits: CPU kernels sum a batched matrix
product (and its gradient) in another order than a single one, so after thousands of
steps a borderline test prediction can differ.

After training, each fold's weights are copied into one ordinary model (the first fold's
fresh model), which evaluates, predicts and is saved as the fold's model: nothing is
traced per fold.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from kexp import backend
from kexp.model import objects
from kexp.model.custom import references
from kexp.spec import Config
from kexp.train import feed
from kexp.train.warm import layout

NOTE = "trained with --stack, vectorized: one batched kernel per layer for all folds"

#: optimizers whose update of a weight depends on that weight's gradient and state only
#: (no norms over a variable, no factored moments): each fold's slice moves as alone
ELEMENTWISE = ("SGD", "Adam", "AdamW", "Adamax", "Adagrad", "Adadelta", "RMSprop", "Nadam",
               "Ftrl", "Lion")
#: regularizers that are sums over a variable's elements (a sum over the folds' slices)
SUMMED = ("L1", "L2", "L1L2")


def why_not_vectorized(cfg: Config, models: list[Any]) -> str | None:
    """Why the folds' models cannot train vectorized, or None when they can.

    They can when: the spec names no custom code (``kexp.model.custom.references``, as
    for a warm model); the loss and metrics are per-sample means (:func:`per_sample`:
    each fold's mean over its own rows is taken in one masked sum); the optimizer is one of
    :data:`ELEMENTWISE` without ``clipnorm`` / ``global_clipnorm`` (a norm over a batched
    variable would mix the folds); and every fold's built model is a Sequential model of
    2-D inputs ``(batch, features)`` whose layers are all plain float32 ``Dense`` layers
    (no kernel or bias constraint, no activity regularizer, kernel and bias regularizers
    only L1 / L2 / L1L2, no LoRA or quantization), all with the same variable shapes.
    """
    keras = backend.keras()
    tree = {"model": cfg.model.model_dump(mode="json"),
            "compile": cfg.compile.model_dump(mode="json")}
    if references(tree):
        return "the spec names custom code"
    funcs = per_sample(cfg)
    if isinstance(funcs, str):
        return funcs
    for model in models:
        why = _model_why_not(keras, model)
        if why:
            return why
    if len({tuple((shape, dtype) for _, shape, dtype in layout(m)) for m in models}) > 1:
        return "the folds' models have different shapes"
    return None


def _model_why_not(keras: Any, model: Any) -> str | None:
    opt = model.optimizer
    if type(opt).__name__ not in ELEMENTWISE or type(opt).__module__.split(".")[0] != "keras":
        return f"optimizer {type(opt).__name__} is not elementwise"
    if opt.clipnorm is not None or opt.global_clipnorm is not None:
        return "the optimizer clips by norm"
    if not isinstance(model, keras.Sequential) or len(model.input_shape) != 2:
        return "not a Sequential model of 2-D inputs"
    for layer in model.layers:
        if type(layer) is not keras.layers.Dense:
            return f"layer {layer.name} is a {type(layer).__name__}, not a Dense layer"
        regs = [r for r in (layer.kernel_regularizer, layer.bias_regularizer) if r is not None]
        if (layer.kernel_constraint is not None or layer.bias_constraint is not None
                or layer.activity_regularizer is not None
                or any(type(r).__name__ not in SUMMED for r in regs)
                or getattr(layer, "lora_enabled", False)
                or getattr(layer, "quantization_mode", None)
                or layer.dtype_policy.name != "float32"):
            return f"layer {layer.name} has a constraint, regularizer or dtype of its own"
    return None


def per_sample(cfg: Config) -> tuple[Any, list[tuple[str, Any]]] | str:
    """The spec's loss and metrics as per-sample functions ``f(y_true, y_pred)`` (metrics
    with their history names), or why they are not: the loss a Keras loss function or a
    ``sum_over_batch_size`` Loss, every metric a string naming a mean of per-sample values
    (``accuracy`` chosen as compile() chooses it, from the output's width)."""
    keras = backend.keras()
    notes: list[str] = []
    cc = cfg.compile
    loss = objects.loss(cc.loss, ("compile", "loss"), notes)
    if isinstance(loss, keras.losses.Loss):
        if loss.reduction != "sum_over_batch_size":
            return f"the loss's reduction is {loss.reduction}"
        loss = loss.call
    elif not callable(loss):
        return "the loss is not a Keras loss"
    metrics: list[tuple[str, Any]] = []
    for i, m in enumerate(cc.metrics):
        name = objects.metric(m, ("compile", "metrics", i), notes)
        if not isinstance(name, str) or name.lower() in ("crossentropy", "ce"):
            return f"metric {m} is not a mean of per-sample values"
        metrics.append((name, None if name.lower() in ("accuracy", "acc") else
                        keras.metrics.get(name)))
        obj = metrics[-1][1]
        if obj is not None and not (isinstance(obj, keras.metrics.MeanMetricWrapper)
                                    and callable(getattr(obj, "_fn", None))):
            return f"metric {name} is not a mean of per-sample values"
    return loss, metrics


def _metric_fn(metric: Any, y_shape: tuple[int, ...], units: int) -> Any:
    """A metric's per-sample function; ``accuracy`` (None) picked as compile() picks it
    from a lone fold's target shape ``y_shape`` (one sample) and its output's ``units``."""
    keras = backend.keras()
    if metric is None:
        if units == 1:
            metric = keras.metrics.BinaryAccuracy()
        elif len(y_shape) < 1 or y_shape[-1] == 1:
            metric = keras.metrics.SparseCategoricalAccuracy()
        else:
            metric = keras.metrics.CategoricalAccuracy()
    return functools.partial(metric._fn, **metric._fn_kwargs)


def penalty(layer: Any) -> Any:
    """Each fold's L1 / L2 penalty on a FoldDense layer's slices (a Keras regularizer's
    ``l1 * sum|w| + l2 * sum w**2`` of the fold's own kernel and bias), shape ``(K,)``."""
    ops = backend.keras().ops
    total = 0.0
    for v, reg in zip(layer.weights, layer.regs, strict=False):
        if reg is None:
            continue
        axes = tuple(range(1, len(v.shape)))
        if getattr(reg, "l1", 0.0):
            total = total + reg.l1 * ops.sum(ops.abs(v), axis=axes)
        if getattr(reg, "l2", 0.0):
            total = total + reg.l2 * ops.sum(ops.square(v), axis=axes)
    return total


@functools.cache
def _classes() -> tuple[type, type, type]:
    """The vectorized model's classes (made once, after Keras is imported)."""
    keras = backend.keras()
    ops = keras.ops
    # Keras is imported at runtime and has no type information: its base classes are Any
    Layer: Any = keras.layers.Layer
    Metric: Any = keras.metrics.Metric

    class FoldDense(Layer):
        """K Dense layers in one: ``act(h @ kernel + bias)``, kernel ``(K, in, out)``."""

        def __init__(self, dense: Any, folds: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.folds, self.units, self.use_bias = folds, dense.units, dense.use_bias
            self.activation = dense.activation
            self.regs = dense.kernel_regularizer, dense.bias_regularizer

        def build(self, input_shape: Any) -> None:
            self.kernel = self.add_weight(shape=(self.folds, input_shape[-1], self.units),
                                          initializer="zeros", name="kernel")
            self.bias = (self.add_weight(shape=(self.folds, self.units), initializer="zeros",
                                         name="bias") if self.use_bias else None)

        def call(self, h: Any) -> Any:
            y = ops.matmul(h, self.kernel)
            if self.bias is not None:
                y = y + self.bias[:, None, :]
            return self.activation(y)

        def compute_output_shape(self, input_shape: Any) -> Any:
            return (*input_shape[:-1], self.units)

    class FoldSums(Metric):
        """Per fold: the sums of the loss and of each metric's per-sample values, and the
        samples seen; ``result()`` their means, shape ``(1 + metrics, K)``."""

        def __init__(self, folds: int, metrics: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.sums = self.add_variable((1 + metrics, folds), "zeros", name="sums")
            self.count = self.add_variable((folds,), "zeros", name="count")

        def update_state(self, sums: Any, count: Any) -> None:
            self.sums.assign_add(sums)
            self.count.assign_add(count)

        def result(self) -> Any:
            return self.sums / ops.maximum(self.count, 1.0)[None, :]

    return FoldDense, FoldSums, _model_class(keras, FoldSums)


def _model_class(keras: Any, fold_sums: type) -> type:
    ops = keras.ops

    class Folds(keras.Model):
        """The folds' Dense networks as one; a step trains every fold on its own rows. The
        loss is :meth:`compute_loss`, in ``keras.ops``: Keras's own training step of each
        backend takes its gradient and applies the optimizer."""

        def __init__(self, dense: list[Any], loss: Any, metrics: list[tuple[str, Any]],
                     **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.dense, self.loss_fn, self.metric_fns = dense, loss, metrics
            self.sums = fold_sums(dense[0].folds, len(metrics), name="fold_means")

        def call(self, x: Any) -> Any:
            h = x[0] if isinstance(x, (tuple, list)) else x  # (x, sizes) when training
            for layer in self.dense:
                h = layer(h)
            return h

        def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None,
                         sample_weight: Any = None, training: bool = True) -> Any:
            h, sizes = x
            p = y_pred
            mask = ops.cast(ops.arange(ops.shape(h)[1])[None, :] < sizes[:, None], p.dtype)
            count = ops.cast(sizes, p.dtype)  # (K,)
            if len(y.shape) == len(p.shape) - 1 and p.shape[-1] == 1:
                y = y[..., None]  # as Keras matches a target's rank to the output's
            # the target in the output's type, as Keras hands it to a loss
            per_fold = _masked_sum(self.loss_fn(ops.cast(y, p.dtype), p), mask) / count
            for layer in self.dense:
                per_fold = per_fold + penalty(layer)
            sums = [per_fold * count]
            for _, fn in self.metric_fns:
                sums.append(_masked_sum(fn(y, p), mask))
            self.sums.update_state(ops.stack(sums), count)
            return ops.sum(per_fold)

        def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> Any:
            return {"fold_means": self.sums.result()}

    return Folds


def _masked_sum(values: Any, mask: Any) -> Any:
    """Per fold, the sum over its real rows of per-sample ``values`` ``(K, batch, ...)``."""
    ops = backend.keras().ops
    if len(values.shape) > 2:
        values = ops.mean(values, axis=tuple(range(2, len(values.shape))))
    return ops.sum(values * mask, axis=1)


def build(models: list[Any], cfg: Config, y_shape: tuple[int, ...]) -> Any:
    """The vectorized model of the folds' ``models`` (input ``(x, sizes)``: ``x`` of shape
    ``(K, batch, in)``, ``sizes`` each fold's real rows; ``y_shape`` one target's shape),
    set to their weights."""
    fold_dense, _, folds = _classes()
    funcs = per_sample(cfg)
    assert not isinstance(funcs, str), funcs  # why_not_vectorized() checked it
    dense = [fold_dense(layer, len(models)) for layer in models[0].layers]
    metrics = [(name, _metric_fn(m, y_shape, dense[-1].units)) for name, m in funcs[1]]
    model = folds(dense, funcs[0], metrics, name="vectorized_folds")
    model(np.zeros((len(models), 1, models[0].input_shape[-1]), "float32"))
    for i, layer in enumerate(dense):
        for j, v in enumerate(layer.weights):  # kernel, then bias: a Dense's order
            v.assign(np.stack([m.layers[i].weights[j].numpy() for m in models]))
    return model


def fold_weights(model: Any, k: int) -> list[np.ndarray]:
    """Fold ``k``'s slice of every weight: the weights of its own (unstacked) model."""
    return [w[k] for w in model.get_weights()]


def fold_history(model: Any, history: dict[str, list[Any]], k: int) -> dict[str, list[float]]:
    """Fold ``k``'s columns of the vectorized model's history (``loss``, then each metric's
    history name), as a lone fold's CSVLogger would write them."""
    means = np.asarray(history["fold_means"])  # (epochs, 1 + metrics, K)
    names = ["loss", *(name for name, _ in model.metric_fns)]
    return {name: [float(v) for v in means[:, i, k]] for i, name in enumerate(names)}


def compile_vectorized(model: Any, cfg: Config, per_execution: int) -> None:
    """One optimizer from the spec; the loss and metrics are the model's own step's."""
    model.compile(optimizer=objects.optimizer(cfg.compile.optimizer, ("compile", "optimizer"), []),
                  steps_per_execution=per_execution, jit_compile=cfg.compile.jit_compile)


def stream(xs: list[np.ndarray], ys: list[np.ndarray], orders: list[np.ndarray], batch: int,
           steps: int) -> Any:
    """The vectorized model's steps over all epochs: step ``s`` of epoch ``e`` stacks each
    fold's batch ``s`` of its epoch-``e`` order (the batch it would train on alone,
    :func:`kexp.train.feed.batches`), padded with zero rows to ``batch``, with each fold's
    row count in ``sizes``; the targets padded alike."""
    tf = backend.tensorflow()

    xs, ys = [feed.floatx(x) for x in xs], [feed.floatx(y) for y in ys]
    epochs, width = len(orders[0]), steps * batch
    zero = sum(len(x) for x in xs)  # the index of the zero row after every fold's rows
    rows = np.full((epochs, len(xs), width), zero, dtype=np.int32)
    sizes = np.zeros((steps, len(xs)), dtype=np.int32)
    offset = 0
    for k, (x, order) in enumerate(zip(xs, orders, strict=True)):
        n = len(x)
        rows[:, k, :n] = order + offset
        sizes[:, k] = np.clip(n - np.arange(steps) * batch, 0, batch)
        offset += n
    x_all = tf.constant(np.concatenate([*xs, np.zeros((1, *xs[0].shape[1:]), xs[0].dtype)]))
    y_all = tf.constant(np.concatenate([*ys, np.zeros((1, *ys[0].shape[1:]), ys[0].dtype)]))
    rows_t, sizes_t = tf.constant(rows), tf.constant(sizes)

    def step(t: Any) -> Any:
        epoch, s = t // steps, t % steps
        idx = rows_t[epoch, :, s * batch:(s + 1) * batch]
        return (tf.gather(x_all, idx), sizes_t[s]), tf.gather(y_all, idx)

    return tf.data.Dataset.range(epochs * steps).map(step).prefetch(2)
