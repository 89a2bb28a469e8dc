"""Text and sequence x steps: ``tokenize`` (TextVectorization) and ``pad`` (pad_sequences).

``tokenize`` turns a text column into integer sequences with
``keras.layers.TextVectorization``: index 0 is padding, 1 the out-of-vocabulary
token, then the training part's words from most to least frequent. The
vocabulary is kept as a JSON list in ``preprocess.json``. ``pad`` makes
sequences (from ``tokenize`` or from ``keras.datasets.imdb``) one length with
``keras.utils.pad_sequences``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from kexp.backend import keras as import_keras
from kexp.backend import name as backend_name
from kexp.backend import needs_tensorflow
from kexp.data.steps.base import RawStep, column_of
from kexp.errors import ConfigError
from kexp.spec import RESERVED_TOKENS, PadStep, TokenizeStep

#: The out-of-vocabulary entry TextVectorization itself uses.
KERAS_OOV = "[UNK]"


class Tokenize(RawStep):
    """Text -> lists of word indices, vocabulary fitted on the training part."""

    Args = TokenizeStep

    def __init__(self, args: TokenizeStep) -> None:
        self.args = args
        self.vocabulary: list[str] = []
        self.column: Any = None
        self._layer: Any = None

    def _texts(self, x: Any, fitting: bool) -> np.ndarray:
        cloc = self.loc + ("column",)
        if isinstance(x, pd.Series):
            x = x.to_frame()
        if isinstance(x, pd.DataFrame):
            if fitting:
                if self.args.column is not None:
                    self.column = column_of(x, self.args.column, cloc)
                elif x.shape[1] == 1:
                    self.column = x.columns[0]
                else:
                    raise ConfigError(
                        cloc,
                        f"the features have {x.shape[1]} columns "
                        f"({', '.join(map(str, list(x.columns)[:10]))}); name the text column",
                        hint="e.g. {tokenize: {column: text}}",
                    )
                others = [str(c) for c in x.columns if c != self.column]
                if others:
                    raise ConfigError(
                        cloc,
                        f"tokenize makes one sequence per row from one text column, but the "
                        f"features also hold {', '.join(others[:10])}",
                        hint=f"Set data.features: {self.column} (other columns need a model "
                        "with several inputs)",
                    )
            col = column_of(x, self.column, cloc) if self.column is not None else x.columns[0]
            series = x[col]
        else:
            arr = np.asarray(x)
            if arr.ndim != 1 or arr.dtype.kind not in "OUS":
                raise ConfigError(
                    self.loc,
                    f"expected one text per sample, received data of shape {arr.shape} "
                    f"and dtype {arr.dtype}",
                    hint="tokenize reads a text column of a CSV file",
                )
            series = pd.Series(arr)
        return series.fillna("").astype(str).to_numpy(dtype=object)

    def _standardize(self) -> str | None:
        lower, strip = self.args.lower, self.args.strip_punctuation
        if lower and strip:
            return "lower_and_strip_punctuation"
        return "lower" if lower else "strip_punctuation" if strip else None

    def _make_layer(self, vocabulary: list[str] | None = None) -> Any:
        keras = import_keras()
        needs_tensorflow(keras.layers.TextVectorization)  # written with tf.data on every backend

        kwargs: dict[str, Any] = {
            "standardize": self._standardize(),
            "split": self.args.split,
            "ragged": _ragged(),
        }
        if vocabulary is None:
            kwargs["max_tokens"] = self.args.max_tokens
        else:  # Keras expects its own names for the reserved entries
            kwargs["vocabulary"] = ["", KERAS_OOV, *vocabulary[RESERVED_TOKENS:]]
        return keras.layers.TextVectorization(**kwargs)

    def fit(self, x: Any) -> Tokenize:
        texts = self._texts(x, fitting=True)
        layer = self._make_layer()
        layer.adapt(texts.astype(str))
        vocab = [str(v) for v in layer.get_vocabulary()]
        vocab[1] = self.args.oov_token if self.args.oov_token is not None else KERAS_OOV
        self.vocabulary = vocab
        self._layer = layer
        return self

    def fit_stream(self, chunks: Iterable[Any]) -> Tokenize:
        """Keras's ``TextVectorization.adapt`` over a dataset of the chunks' texts."""
        from kexp import backend

        tf = backend.tensorflow()

        def texts() -> Iterator[np.ndarray]:
            for k, x in enumerate(chunks):
                yield self._texts(x, fitting=k == 0).astype(str)

        layer = self._make_layer()
        layer.adapt(tf.data.Dataset.from_generator(
            texts, output_signature=tf.TensorSpec((None,), tf.string)))
        vocab = [str(v) for v in layer.get_vocabulary()]
        vocab[1] = self.args.oov_token if self.args.oov_token is not None else KERAS_OOV
        self.vocabulary = vocab
        self._layer = layer
        return self

    def transform(self, x: Any) -> np.ndarray:
        texts = self._texts(x, fitting=False)
        if self._layer is None:
            self._layer = self._make_layer(self.vocabulary)
        seqs = _sequences(self._layer(texts.astype(str))) if len(texts) else []
        out = np.empty(len(seqs), dtype=object)
        for i, seq in enumerate(seqs):
            # Keras 2's Tokenizer without oov_token drops unknown words
            out[i] = seq if self.args.oov_token is not None else [t for t in seq if t != 1]
        return out

    @property
    def vocabulary_size(self) -> int:
        """Indices this step can produce: padding, OOV and the words."""
        return len(self.vocabulary)

    def state(self) -> dict[str, Any]:
        column = self.column.item() if isinstance(self.column, np.generic) else self.column
        return {"column": column, "vocabulary": self.vocabulary}

    def load(self, state: dict[str, Any]) -> None:
        self.column = state.get("column")
        self.vocabulary = list(state["vocabulary"])
        self._layer = None


class Pad(RawStep):
    """``keras.utils.pad_sequences`` with the spec's maxlen, padding, truncating, value."""

    Args = PadStep

    def __init__(self, args: PadStep) -> None:
        self.args = args
        self.maxlen = args.maxlen

    def _sequences(self, x: Any) -> list[Any]:
        if isinstance(x, (pd.DataFrame, pd.Series)):
            raise ConfigError(
                self.loc,
                "pad needs integer sequences, received a table",
                hint="Put tokenize before pad to turn a text column into sequences",
            )
        seqs = list(x)
        for s in seqs[:1000]:
            arr = np.asarray(s)
            if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iuf"):
                raise ConfigError(
                    self.loc,
                    f"pad needs sequences of numbers, received items like {str(s)[:40]!r}",
                    hint="Put tokenize before pad for text",
                )
        return seqs

    def fit(self, x: Any) -> Pad:
        if self.args.maxlen is None:
            seqs = self._sequences(x)
            self.maxlen = max((len(s) for s in seqs), default=1) or 1
        return self

    def fit_stream(self, chunks: Iterable[Any]) -> Pad:
        """The longest sequence of any chunk (when the spec gives no maxlen)."""
        if self.args.maxlen is None:
            self.maxlen = max((len(s) for x in chunks for s in self._sequences(x)), default=1) or 1
        return self

    def transform(self, x: Any) -> np.ndarray:
        keras = import_keras()

        seqs = self._sequences(x)
        if not seqs:
            assert self.maxlen is not None  # the spec's, or set by fit (or load)
            return np.zeros((0, self.maxlen), dtype=self.args.dtype)
        return keras.utils.pad_sequences(
            seqs,
            maxlen=self.maxlen,
            dtype=self.args.dtype,
            padding=self.args.padding,
            truncating=self.args.truncating,
            value=self.args.value,
        )

    def state(self) -> dict[str, Any]:
        return {"maxlen": self.maxlen}

    def load(self, state: dict[str, Any]) -> None:
        self.maxlen = state["maxlen"]


def _ragged() -> bool:
    """Whether TextVectorization gives ragged sequences: only on TensorFlow (Keras refuses
    ``ragged=True`` on the other backends, which get rows padded with 0 to the longest)."""
    return backend_name() == "tensorflow"


def _sequences(out: Any) -> list[list[int]]:
    """TextVectorization's output as one list of token indices per text: the ragged rows,
    or the padded rows without their padding (index 0 is never a token)."""
    if _ragged():
        return out.to_list()
    rows = np.asarray(import_keras().ops.convert_to_numpy(out))
    return [row[row != 0].tolist() for row in rows]
