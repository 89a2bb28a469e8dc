"""The spec text ``kexp init`` writes for a :class:`~kexp.scaffold.survey.Survey`.

The YAML is written as text, not dumped, because its comments say why each value was
chosen (``# 'glucose': numeric, standardized``); :func:`scalar` quotes what YAML would
otherwise read differently. The result is checked with kexp's own loader by the caller.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from kexp.scaffold.survey import ColumnInfo, Survey

#: words YAML reads as something other than a string
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}
#: the seed every written spec starts from
SEED = 7
#: the held-out test fraction
TEST_SIZE = 0.2


def scalar(value: Any) -> str:
    """``value`` as a YAML flow scalar: plain when YAML reads it back as the same
    string or number, JSON-quoted otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_./-]*", text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text)


def flow(values: list[Any]) -> str:
    return "[" + ", ".join(scalar(v) for v in values) + "]"


def keys(columns: list[ColumnInfo]) -> list[Any]:
    return [c.key for c in columns]


def features_value(survey: Survey, used: list[ColumnInfo]) -> str:
    """``data.features``: a range ``"0:8"`` for consecutive columns of a header-less
    file, else a list."""
    idx = keys(used)
    if not survey.header and idx == list(range(idx[0], idx[0] + len(idx))) and len(idx) > 2:
        return f'"{idx[0]}:{idx[-1] + 1}"'
    return flow(idx)


def label_text(label: Any) -> str:
    return f"'{label}'" if isinstance(label, str) else str(label)


def y_encoding(survey: Survey) -> tuple[list[str], int]:
    """The ``preprocess`` lines for y (and ``labels``) and the output layer's units."""
    target = survey.target
    if target.task == "regression":
        return ["  y: none                       # the target as a number (regression)"], 1
    labels = [c for c, _ in target.classes]
    if len(labels) == 2:
        if set(labels) <= {0, 1}:
            return ["  y: none                       # labels are already 0/1"], 1
        if isinstance(labels[0], str):
            return [f"  y: sparse                     # {label_text(labels[0])} -> 0, "
                    f"{label_text(labels[1])} -> 1"], 1
        return [f"  labels: {{binary: {{positive: [{scalar(labels[1])}]}}}}   # "
                f"{label_text(labels[1])} -> 1, {label_text(labels[0])} -> 0",
                "  y: none"], 1
    whole = all(isinstance(c, (int, float)) and not isinstance(c, bool) and float(c).is_integer()
                for c in labels)
    if whole and min(labels) >= 0:
        units = int(max(labels)) + 1
        note = "" if units == len(labels) else f" ({units - len(labels)} unused index(es))"
        return [f"  y: sparse                     # labels are class indices 0..{units - 1}"
                f"{note}"], units
    return ["  y: sparse                     # class indices: "
            + ", ".join(f"{label_text(c)} -> {i}" for i, c in enumerate(labels[:6]))
            + (", ..." if len(labels) > 6 else "")], len(labels)


def x_steps(survey: Survey) -> list[str]:
    """The ``preprocess.x`` lines: impute, get_dummies, standardize (tables) or
    tokenize and pad (text)."""
    texts = survey.of_kind("text")
    if texts:
        text = texts[0]
        maxlen, tokens = text_sizes(survey)
        lines = []
        if text.missing:
            lines.append(f"    - impute: {{strategy: constant, fill_value: \"\", columns: "
                         f"[{scalar(text.key)}]}}   # no text -> empty")
        return lines + [
            f"    - tokenize: {{column: {scalar(text.key)}, max_tokens: {tokens}, "
            "oov_token: \"<OOV>\", lower: true, strip_punctuation: true}",
            f"    - pad: {{maxlen: {maxlen}, padding: pre, truncating: post, value: 0}}"
            "   # most texts fit (longer ones are cut)",
        ]
    numeric, categories = survey.of_kind("numeric"), survey.of_kind("category")
    lines = []
    gaps = [c for c in numeric if c.missing]
    if gaps:
        lines.append(f"    - impute: {{strategy: median, columns: {flow(keys(gaps))}}}"
                     "   # missing numbers -> the training median")
    if categories:
        lines.append(f"    - get_dummies: {{columns: {flow(keys(categories))}}}"
                     "   # one 0/1 column per category; missing or unseen -> all zeros")
    if numeric:
        lines.append(f"    - standardize: {{columns: {flow(keys(numeric))}}}"
                     "   # mean 0, std 1 on the training part")
    return lines


def text_sizes(survey: Survey) -> tuple[int, int]:
    """``pad.maxlen`` (95% of the texts fit, 10 to 100 words) and ``tokenize.max_tokens``
    (the vocabulary plus the two reserved indices, at most 10,000)."""
    lengths = sorted(survey.text_lengths) or [10]
    p95 = lengths[min(len(lengths) - 1, math.ceil(0.95 * len(lengths)) - 1)]
    maxlen = max(10, min(100, int(p95)))
    tokens = max(100, min(10_000, survey.text_vocabulary + 2))
    return maxlen, tokens


def model_lines(survey: Survey, units: int) -> list[str]:
    """The ``model`` section: an MLP for tables, Embedding + LSTM for text."""
    task, binary = survey.target.task, units == 1 and survey.target.task == "classification"
    if task == "regression":
        out = "{units: 1}                  # one number, linear"
    elif binary:
        pos = label_text(survey.target.classes[1][0])
        out = f"{{units: 1, activation: sigmoid}}   # P(label {pos})"
    else:
        out = f"{{units: {units}, activation: softmax}}   # one probability per class"
    if survey.of_kind("text"):
        _, tokens = text_sizes(survey)
        hidden = [f"    - Embedding: {{input_dim: {tokens}, output_dim: 32, mask_zero: true}}"
                  "   # input_dim = tokenize.max_tokens",
                  "    - LSTM: {units: 32}",
                  "    - Dropout: {rate: 0.3}"]
    else:
        width = sum(c.distinct if c.kind == "category" else 1 for c in survey.columns
                    if c.kind in ("numeric", "category"))
        first = max(8, min(64, 2 * width))
        onehot = " after one-hot" if survey.of_kind("category") else ""
        hidden = [f"    - Dense: {{units: {first}, activation: relu}}   # inputs: {width} "
                  f"columns{onehot}",
                  "    - Dropout: {rate: 0.2}",
                  f"    - Dense: {{units: {max(4, first // 2)}, activation: relu}}"]
    return ["model:", "  type: sequential", "  layers:", *hidden, f"    - Dense: {out}"]


def compile_lines(survey: Survey, units: int) -> list[str]:
    if survey.target.task == "regression":
        return ["compile:", "  loss: mse",
                "  optimizer: {Adam: {learning_rate: 0.01}}   # larger steps: the target is "
                "not scaled", "  metrics: [mae]"]
    loss = "binary_crossentropy" if units == 1 else "sparse_categorical_crossentropy"
    why = "two classes, one sigmoid unit" if units == 1 else "integer class indices, softmax"
    return ["compile:", f"  loss: {loss}   # {why}", "  optimizer: adam",
            "  metrics: [accuracy]"]


def fit_lines(survey: Survey) -> list[str]:
    """Epochs and batch size for the data size; EarlyStopping keeps the best epoch."""
    rows = survey.rows
    if survey.of_kind("text"):
        epochs, batch, patience = 10, 32, 2
    elif rows <= 2000:
        epochs, batch, patience = 100, 16, 10
    elif rows <= 20000:
        epochs, batch, patience = 30, 32, 5
    else:
        epochs, batch, patience = 10, 128, 3
    return ["fit:", f"  epochs: {epochs}                  # at most; EarlyStopping stops sooner",
            f"  batch_size: {batch}", "  validation_split: 0.1         # the last 10% of the "
            "training part, for val_loss", "  callbacks:",
            f"    - EarlyStopping: {{monitor: val_loss, patience: {patience}, "
            "restore_best_weights: true}"]


def data_lines(survey: Survey) -> list[str]:
    target, used = survey.target, [c for c in survey.columns if c.kind != "dropped"]
    header = ("true                  # the first line names the columns" if survey.header
              else "false                 # no header row: columns by index (0, 1, ...)")
    lines = ["data:", "  source: csv", f"  path: {scalar(survey.path)}", f"  header: {header}",
             f"  features: {features_value(survey, used)}", f"  target: {scalar(target.key)}"]
    if target.missing:
        complete = next((c for c in used if not c.missing), None)
        value = flow([complete.key]) if complete else "true"
        lines.append(f"  dropna: {value}   # drops the {target.missing} row(s) without a target"
                     + ("" if complete else " (and rows missing a feature)"))
    if survey.sampled:
        lines.append(f"  stream: true   # the file is too large to read whole: read in chunks "
                     f"(this spec was written from its first {survey.rows:,} rows)")
    counts = [n for _, n in target.classes]
    stratify = (target.task == "classification" and min(counts) >= 2
                and not survey.sampled)  # streamed rows are held out by a hash of each row
    split = f"{{size: {TEST_SIZE}, stratify: true}}" if stratify else f"{{size: {TEST_SIZE}}}"
    why = "class proportions kept" if stratify else (
        "rows chosen by a hash of each row" if survey.sampled else
        "not stratified: a class has one row" if target.task == "classification" else "random rows")
    lines.append(f"  test: {split}   # {int(TEST_SIZE * 100)}% held out for the test metrics, "
                 f"{why}")
    return lines


def head_lines(survey: Survey, command: str) -> list[str]:
    target = survey.target
    if target.task == "regression":
        task = f"regression of {column_text(target.key)} ({target.distinct} distinct values)"
    else:
        shown = ", ".join(f"{label_text(c)}: {n}" for c, n in target.classes[:8])
        more = ", ..." if len(target.classes) > 8 else ""
        shown += " rows"
        task = f"classification of {column_text(target.key)}: {len(target.classes)} classes ({shown}{more})"
    lines = [f"# Written by: {command}",
             f"# {survey.rows} rows, {len(survey.columns) + 1} columns; {task}.",
             "# Check it with `kexp validate SPEC`; train it with `kexp run SPEC`.", "#",
             "# Columns:"]
    return lines + [f"#   {column_text(c.key)}: {c.why}" for c in survey.columns]


def column_text(key: Any) -> str:
    return f"'{key}'" if isinstance(key, str) else f"column {key}"


def spec_text(survey: Survey, command: str) -> str:
    """The whole commented spec for ``survey``."""
    y_lines, units = y_encoding(survey)
    name = re.sub(r"[^A-Za-z0-9_.+-]+", "-", Path(survey.path).stem).strip("-") or "experiment"
    lines = [*head_lines(survey, command), f"name: {scalar(name)}", f"seed: {SEED}",
             *data_lines(survey), "preprocess:", "  x:", *x_steps(survey), *y_lines,
             *model_lines(survey, units), *compile_lines(survey, units), *fit_lines(survey)]
    return "\n".join(lines) + "\n"
