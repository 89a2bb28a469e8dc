"""Train several copies of one Keras model at once on JAX, each on its own batches: the
folds of ``kexp cv --stack`` (and the trials of a vectorized sweep) as one compiled program.

Each copy ("member") is an ordinary compiled Keras model of the same layers (its own
fresh weights, optimizer state, random-seed state, learning rate). Keras's own JAX
training step (``model.train_step(state, batch)``, a pure function of the model's
variables) is mapped over the members with ``jax.vmap``, and the steps of an epoch run
inside one ``jax.jit`` call with ``jax.lax.scan`` (one call an epoch, compiled once, so
that Ctrl-C stops the training between epochs): the device loops, not Python, so a small model trains at the speed of its arithmetic instead of one host
round-trip per step (Keras 3.15's JAX trainer runs ``steps_per_execution`` as a Python
loop of one jitted step each).

Member ``k`` sees the batches a lone fit of it would see (its epoch orders, batches of
``batch_size``, the remainder last); the members' last batches may differ in size (folds
of 691 and 692 rows), so every epoch's last step runs once per size, on the members of
that size. Metrics are reset at each epoch's start and each epoch logs what its last step
logged, as ``model.fit`` does. The numbers are a lone fit's up to the order in which
XLA sums a batched matrix product.

Only what a fit without callbacks or validation does is done here (the callers check
that); after training every member's variables (model, optimizer, metrics) are set back
into its Keras model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kexp import backend
from kexp.cv import factors
from kexp.train import feed, fit
from kexp.train.warm import layout

NOTE = "trained with --stack on JAX: the folds' models as one program on the device"


def build(models: list[Any], xs: list[Any], ys: list[Any]) -> None:
    """Build each compiled member as its fit would (metrics, loss, optimizer) from its
    data's first row."""
    for m, x, y in zip(models, xs, ys, strict=True):
        fit.build_from_rows(m, x, y)


def why_not(models: list[Any], orders: list[np.ndarray], batch: int) -> str | None:
    """Why the built members (:func:`build`) cannot train as one scanned program, or
    None when they can: JAX is the backend; every member has the same variables (shapes
    and types) in its model, optimizer and metrics, the same kinds of regularizers
    (:func:`kexp.cv.factors.kind`: their L1 / L2 factors may differ), and the same numbers
    of epochs (``orders``) and of batches of ``batch`` rows per epoch.

    Python values of a layer or optimizer that are not variables (a dropout rate, an
    activation, a schedule's parameters) are the first member's for all: the callers
    group members by everything else in their configs."""
    if backend.name() != "jax":
        return f"the device-side loop is JAX's (the backend is {backend.name()})"
    if len({_signature(m) for m in models}) > 1:
        return "the members' models have different variables or regularizers"
    if len({(len(o), feed.steps(len(o[0]), batch)) for o in orders}) > 1:
        return "the members train different numbers of epochs or batches per epoch"
    return None


def _signature(model: Any) -> tuple[Any, ...]:
    opt = tuple((tuple(v.shape), str(v.dtype)) for v in model.optimizer.variables)
    regs = tuple(factors.kind(v.regularizer) for v in model.trainable_variables)
    return (tuple((shape, dtype) for _, shape, dtype in layout(model)), type(model.optimizer),
            opt, regs)


def train(models: list[Any], xs: list[Any], ys: list[Any], orders: list[np.ndarray],
          batch: int) -> list[dict[str, list[float]]]:
    """Train every member ``models[k]`` on ``xs[k], ys[k]`` for ``len(orders[k])`` epochs,
    epoch ``e`` in row order ``orders[k][e]``; return each member's history (``fit``'s
    ``History.history``) and leave its trained variables in its model. Each model must
    be compiled and built (:func:`build`)."""
    import jax

    xs = [feed.floatx(x) for x in xs]
    ys = [feed.floatx(y) for y in ys]
    sizes = [len(order[0]) for order in orders]
    steps = feed.steps(sizes[0], batch)
    full = np.stack([o[:, :(steps - 1) * batch] for o in orders], axis=1).astype("int32")
    full = full.reshape(len(orders[0]), len(models), steps - 1, batch).transpose(0, 2, 1, 3)
    groups: dict[int, list[int]] = {}
    for k, n in enumerate(sizes):
        groups.setdefault(n - (steps - 1) * batch, []).append(k)
    lasts = [(np.asarray(members), np.stack([orders[k][:, (steps - 1) * batch:]
                                             for k in members], axis=1).astype("int32"))
             for _, members in sorted(groups.items())]
    model = models[0]
    model.reset_metrics()
    fresh_metrics = [np.asarray(v.value) for v in model.metrics_variables]
    current = factors.Current()
    epoch = jax.jit(_epoch(model, len(models), [who for who, _ in lasts], current),
                    donate_argnums=0)
    own = factors.table(models)  # before the first model's regularizers are swapped
    data = jax.device_put((_padded(xs), _padded(ys), fresh_metrics, own))
    state, logs = _stacked(models), []
    with factors.traced(model, current):  # one call an epoch: Ctrl-C stops between epochs
        for e in range(len(orders[0])):
            state, got = epoch(state, *data, full[e], [idx[e] for _, idx in lasts])
            logs.append(got)
    _unstack(models, state)
    logs = jax.device_get(logs)
    return [{name: [float(epoch_logs[name][k]) for epoch_logs in logs] for name in logs[0]}
            for k in range(len(models))]


def _epoch(model: Any, members: int, groups: list[np.ndarray], current: factors.Current) -> Any:
    """One epoch of every member as one function of (state, data): its metrics reset, a
    scan over its full steps, then its last step once for each group of members whose
    last batches have one size (``groups``: their member numbers); the epoch's logs."""
    import jax
    import jax.numpy as jnp

    keras = backend.keras()
    optimizer = model.optimizer

    def member_step(state: Any, data: Any, own: Any) -> Any:
        current.value = own  # this member's L1 / L2 factors (kexp.cv.factors)
        return model.train_step(state, data)

    mapped = jax.vmap(member_step)

    def rate(variables: Any) -> Any:  # what kexp's learning_rate log reads at an epoch's end
        with keras.StatelessScope(state_mapping=list(zip(optimizer.variables, variables,
                                                         strict=True))):
            return keras.ops.convert_to_tensor(optimizer.learning_rate, "float32")

    gather = jax.vmap(lambda a, i: a[i])

    def batch_of(data: Any, idx: Any) -> Any:
        return jax.tree.map(lambda a: gather(a, idx), data)

    def last_steps(state: Any, data: Any, lasts: Any, own: Any) -> Any:
        if len(groups) == 1:  # every member's last batch has one size
            got, state = mapped(state, batch_of(data, lasts[0]), own)
            return state, got
        logs: dict[str, Any] = {}
        for who, idx in zip(groups, lasts, strict=True):
            part = jax.tree.map(lambda a, w=who: a[w], state)
            sub, sub_own = jax.tree.map(lambda a, w=who: a[w], (data, own))
            got, part = mapped(part, batch_of(sub, idx), sub_own)
            state = jax.tree.map(lambda a, b, w=who: a.at[w].set(b), state, part)
            for name, v in got.items():
                logs[name] = logs.get(name, jnp.zeros((members,), v.dtype)).at[who].set(v)
        return state, logs

    def epoch(state: Any, x: Any, y: Any, fresh: Any, own: Any, full_e: Any,
              lasts_e: Any) -> Any:
        trainable, non_trainable, opt_state, _ = state
        state = (trainable, non_trainable, opt_state,
                 [jnp.broadcast_to(v, (members, *v.shape)) for v in fresh])

        def one(state: Any, idx: Any) -> Any:
            return mapped(state, batch_of((x, y), idx), own)[1], None

        state, _ = jax.lax.scan(one, state, full_e)
        state, logs = last_steps(state, (x, y), lasts_e, own)
        return state, {**logs, "learning_rate": jax.vmap(rate)(state[2])}

    return epoch


def _stacked(models: list[Any]) -> Any:
    """The members' training state, each variable stacked on a first axis of members."""
    return tuple([np.stack(vs) for vs in zip(*([np.asarray(v.value) for v in group]
                                               for group in groups), strict=True)]
                 for groups in zip(*(_groups(m) for m in models), strict=True))


def _groups(model: Any) -> tuple[list[Any], ...]:
    """A model's training state, in the order of Keras's JAX ``train_step``."""
    return (model.trainable_variables, model.non_trainable_variables,
            model.optimizer.variables, model.metrics_variables)


def _unstack(models: list[Any], state: Any) -> None:
    """Set member ``k``'s slice of every state variable into its model."""
    import jax

    state = jax.device_get(state)  # one copy to the host, then slices of it
    for k, m in enumerate(models):
        for group, values in zip(_groups(m), state, strict=True):
            for v, value in zip(group, values, strict=True):
                v.assign(np.asarray(value[k]))


def copy_state(source: Any, target: Any) -> None:
    """Set ``target``'s variables (model, optimizer, metrics) to ``source``'s: another
    member's trained state in one model that is already traced."""
    for group, values in zip(_groups(target), _groups(source), strict=True):
        for v, value in zip(group, values, strict=True):
            v.assign(value.value)


def _padded(arrays: list[Any]) -> Any:
    """The members' arrays (or dicts of arrays) stacked on a first axis, each padded with
    zero rows to the longest (the padding is never gathered)."""
    if isinstance(arrays[0], dict):
        return {key: _padded([a[key] for a in arrays]) for key in arrays[0]}
    n = max(len(a) for a in arrays)
    return np.stack([np.concatenate([a, np.zeros((n - len(a), *a.shape[1:]), a.dtype)])
                     for a in arrays])
