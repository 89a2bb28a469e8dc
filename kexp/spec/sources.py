"""The data sources of ``data:`` (csv, npz, keras.datasets, random) and the held-out parts.

:data:`DataConfig` picks the source model by the ``source`` key; :data:`DATA_SOURCES`
lists every accepted value. This module never imports TensorFlow.
"""

from __future__ import annotations

import codecs
from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from kexp.spec.base import Base, Column, Seed

#: one or more columns
Columns = Annotated[list[Column], Field(min_length=1)]
#: a file name (not empty)
FilePath = Annotated[str, Field(min_length=1)]


class Holdout(Base):
    """A part held out with ``sklearn.model_selection.train_test_split``: ``size`` is a
    fraction (a number with a decimal point below 1: ``0.2``) or a number of samples
    (a whole number without one: ``100``)."""

    size: Annotated[Union[int, float], Field(gt=0)] = 0.2
    stratify: bool | Literal["auto"] = "auto"
    shuffle: bool = True
    random_state: Seed | None = None  # type: ignore[valid-type]

    @field_validator("size", mode="before")
    @classmethod
    def _fraction_or_count(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"expected a fraction (e.g. 0.2) or a number of samples, received {value}")
        if isinstance(value, float) and value >= 1:
            count = f"; for {int(value)} sample(s) write {int(value)}" if value.is_integer() else ""
            raise ValueError(
                f"expected a fraction below 1 (e.g. 0.2) or a whole number of samples, received "
                f"{value}: a number with a decimal point is a fraction{count}"
            )
        return value


class _DataBase(Base):
    """What every source shares: the held-out test and validation parts, a row limit."""

    test: Holdout | None = Field(default_factory=Holdout)
    validation: Holdout | None = None
    limit: Annotated[int, Field(gt=0)] | None = None


class CsvData(_DataBase):
    """Rows of a CSV file; features and target columns by index or name."""

    source: Literal["csv"]
    path: FilePath
    header: bool | Literal["auto"] = "auto"
    delimiter: str = ","
    #: the file's text encoding (``latin-1``, ``cp1252``, ...)
    encoding: str = "utf-8"
    #: columns as a list, a range ``"0:8"``, or per model input: ``{main: "0:5", aux: [5, 6]}``
    features: Columns | str | None | Annotated[dict[str, Columns | str], Field(min_length=1)] = None
    #: a column, several columns, or per model output: ``{diabetes: 8, bmi: 5}``
    target: Column | Columns | Annotated[dict[str, Column | Columns], Field(min_length=1)]
    test_path: str | None = None
    #: values that mean "missing" (Pima's impossible zeros): a list for every
    #: column, or {column: [values]}; they become NaN when the file is read
    missing_values: Union[list[Any], dict[Column, list[Any]], None] = None
    #: drop rows with a missing value (in every column, or in the listed ones)
    dropna: Union[bool, list[Column]] = False

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(
                f"expected a text encoding Python knows (utf-8, latin-1, cp1252, utf-16, ...), "
                f"received {value!r}"
            ) from None
        return value


class NpzData(_DataBase):
    """Arrays in an .npz file, by default in Keras's layout (x_train, y_train, x_test, y_test)."""

    source: Literal["npz"]
    path: FilePath
    #: an array name, or per model input/output: ``x_train: {image: x_train, aux: a_train}``
    x_train: str | dict[str, str] = "x_train"
    y_train: str | dict[str, str] = "y_train"
    x_test: str | dict[str, str] | None = "x_test"
    y_test: str | dict[str, str] | None = "y_test"


KERAS_DATASETS = (
    "mnist",
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "boston_housing",
    "california_housing",
)


class KerasData(_DataBase):
    """A ``keras.datasets`` loader (downloads on first use, then cached in ~/.keras)."""

    source: Literal[KERAS_DATASETS]  # type: ignore[valid-type]
    offline_fallback: bool = True


SEQUENCE_DATASETS = ("imdb", "reuters")


class SequenceData(_DataBase):
    """``keras.datasets.imdb`` / ``reuters``: word-index sequences of different lengths
    (pad them with the ``pad`` step). Downloads on first use; no offline fallback."""

    source: Literal[SEQUENCE_DATASETS]  # type: ignore[valid-type]
    num_words: Annotated[int, Field(gt=0)] | None = None
    skip_top: Annotated[int, Field(ge=0)] = 0
    maxlen: Annotated[int, Field(gt=0)] | None = None


#: the most values ``source: random`` generates (float32: 400 MB)
MAX_RANDOM_VALUES = 10**8


class RandomData(_DataBase):
    """Random inputs and labels for a smoke test: uniform [0, 1) x, integer y."""

    source: Literal["random"]
    samples: Annotated[int, Field(gt=1)] = 1000
    shape: list[Annotated[int, Field(gt=0)]] = Field(default_factory=lambda: [784])
    classes: Annotated[int, Field(gt=1)] = 10

    @model_validator(mode="after")
    def _fits_in_memory(self) -> RandomData:
        values = self.samples
        for n in self.shape:
            values *= n
        if values > MAX_RANDOM_VALUES:
            raise ValueError(
                f"samples x shape is {values} random values; expected at most {MAX_RANDOM_VALUES} "
                f"({MAX_RANDOM_VALUES * 4 // 10**6} MB)"
            )
        return self


def _data_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        src = value.get("source")
        return src if isinstance(src, str) else None
    return getattr(value, "source", None)


DATA_SOURCES = ("csv", "npz", "random", *KERAS_DATASETS, *SEQUENCE_DATASETS)

_DATA_ALTERNATIVES = (
    Annotated[CsvData, Tag("csv")],
    Annotated[NpzData, Tag("npz")],
    Annotated[RandomData, Tag("random")],
    *(Annotated[KerasData, Tag(name)] for name in KERAS_DATASETS),
    *(Annotated[SequenceData, Tag(name)] for name in SEQUENCE_DATASETS),
)
DataConfig = Annotated[Union[_DATA_ALTERNATIVES], Discriminator(_data_tag)]  # type: ignore[valid-type]
