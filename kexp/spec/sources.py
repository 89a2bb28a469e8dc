"""The data sources of ``data:`` (csv, npz, image folders, keras.datasets, random) and the held-out parts.

:data:`DataConfig` picks the source model by the ``source`` key; :data:`DATA_SOURCES`
lists every accepted value. This module never imports TensorFlow.
"""

from __future__ import annotations

import codecs
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args

from pydantic import Discriminator, Field, Tag, WithJsonSchema, field_validator, model_validator

from kexp.imports import CUSTOM_RE
from kexp.spec.base import MAX_INT32, Base, Bounded, Column, KeyedValueError, Limits, Seed

#: one or more columns
Columns = Annotated[list[Column], Field(min_length=1)]
#: a file name (not empty)
FilePath = Annotated[str, Field(min_length=1)]


class Holdout(Base):
    """A part held out with ``sklearn.model_selection.train_test_split``: ``size`` is a
    fraction (a number with a decimal point below 1: ``0.2``) or a number of samples
    (a whole number without one: ``100``)."""

    size: Annotated[Union[int, float], Field(gt=0), WithJsonSchema({"anyOf": [
        {"type": "integer", "minimum": 1},
        {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    ]})] = Field(
        default=0.2,
        description="A fraction below 1 (0.2) or a whole number of samples (100); 1.0 is neither")
    stratify: bool | Literal["auto"] = Field(
        default="auto",
        description="Keep the class proportions in both parts; auto: for class labels, when "
                    "shuffling")
    shuffle: bool = Field(default=True, description="Shuffle the rows before splitting")
    random_state: Seed | None = Field(
        default=None, description="The seed of the split; null: the experiment's seed")

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

    test: Holdout | None = Field(
        default_factory=Holdout,
        description="The test part held out (scikit-learn's train_test_split) when the source has "
                    "none, e.g. {size: 0.2}; null: evaluate on the training data")
    validation: Holdout | None = Field(
        default=None,
        description="A validation part held out of the training data, e.g. {size: 0.2}; null: none "
                    "(or fit.validation_split)")
    limit: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="Keep the first N samples of each part; null: all of them")


class CsvData(_DataBase):
    """Rows of a CSV file; features and target columns by index or name."""

    source: Literal["csv"] = Field(description="csv: the rows of a CSV file")
    path: FilePath = Field(
        description="The CSV file; a relative path is looked up in the current folder, the spec's "
                    "folder and its parent")
    header: bool | Literal["auto"] = Field(
        default="auto",
        description="Whether the first row names the columns; auto: it does when a cell of it is "
                    "not a number")
    delimiter: Annotated[str, Field(min_length=1)] = Field(
        default=",",
        description="The character between fields; several characters are a regular expression, "
                    "as pandas reads them (sep='::', '\\s+')")
    encoding: str = Field(
        default="utf-8", description="The file's text encoding: utf-8, latin-1, cp1252, ...")
    features: Columns | str | None | Annotated[dict[str, Columns | str], Field(min_length=1)] = Field(
        default=None,
        description='Columns used as inputs: a list of names or indices, or a range "0:8", or per '
                    'model input: {main: "0:5", aux: [5, 6]}; default: every column but the target')
    target: Column | Columns | Annotated[dict[str, Column | Columns], Field(min_length=1)] = Field(
        description="The target column (a name or an index), a list of columns, or per model "
                    "output: {diabetes: 8, bmi: 5}")
    test_path: str | None = Field(
        default=None,
        description="A second CSV file, with the same columns, used as the test set; null: "
                    "data.test is held out")
    missing_values: Union[list[Any], dict[Column, list[Any]], None] = Field(
        default=None,
        description="Values that mean missing, read as NaN: a list for every column, or {column: "
                    "[values]}, e.g. {glucose: [0]}")
    dropna: Union[bool, list[Column]] = Field(
        default=False,
        description="Drop the rows with a missing value: true (in any column) or a list of columns")
    stream: bool | Literal["auto"] = Field(
        default="auto",
        description="Read the file in chunks, never whole (the test and validation rows chosen "
                    "by a seeded hash of each row); auto: for a file over 512 MiB")

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        if len(value) == 1:
            return value
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(
                f"expected one character, or a regular expression as pandas reads a delimiter of "
                f"several characters, received {value!r} ({exc}). To split on the text as it is, "
                f"write delimiter: '{re.escape(value)}'"
            ) from None
        if pattern.search("") is not None:
            raise ValueError(
                f"the delimiter {value!r} is read as a regular expression (it has several "
                f"characters, as in pandas) and matches empty text, so it would split between "
                f"every character. To split on the text as it is, write delimiter: "
                f"'{re.escape(value)}'"
            )
        return value

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

    source: Literal["npz"] = Field(description="npz: arrays in a NumPy .npz file")
    path: FilePath = Field(
        description="The .npz file; a relative path is looked up in the current folder, the spec's "
                    "folder and its parent")
    x_train: str | dict[str, str] = Field(
        default="x_train",
        description="The training inputs' array, or per model input: {image: x_train, aux: "
                    "a_train}")
    y_train: str | dict[str, str] = Field(
        default="y_train", description="The training targets' array, or per model output name")
    x_test: str | dict[str, str] | None = Field(
        default="x_test",
        description="The test inputs' array (or per input); when the file has none, or null: "
                    "data.test is held out")
    y_test: str | dict[str, str] | None = Field(
        default="y_test",
        description="The test targets' array (or per output); when the file has none, or null: "
                    "data.test is held out")


#: ``tf.image.resize``'s methods, the ``interpolation`` Keras's image loader takes
Interpolation = Literal["bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5",
                        "gaussian", "mitchellcubic"]


class ImagesData(_DataBase):
    """A folder of images with one subfolder per class, read as Keras's
    ``image_dataset_from_directory`` reads it and decoded batch by batch with ``tf.data``."""

    source: Literal["images"] = Field(
        description="images: a folder with one subfolder of images per class")
    path: FilePath = Field(
        description="The folder (one subfolder per class: path/cat/1.jpg, path/dog/2.png); a "
                    "relative path is looked up in the current folder, the spec's folder and its "
                    "parent")
    test_path: str | None = Field(
        default=None,
        description="A second folder with the same class subfolders, used as the test set; null: "
                    "data.test is held out of the files (stratified, seeded)")
    image_size: Annotated[list[Annotated[int, Field(gt=0), Limits(maximum=8192)]],
                          Field(min_length=2, max_length=2)] = Field(
        default_factory=lambda: [256, 256],
        description="[height, width] every image is resized to (Keras's image_size)")
    color_mode: Literal["grayscale", "rgb", "rgba"] = Field(
        default="rgb", description="The channels read: grayscale (1), rgb (3) or rgba (4)")
    interpolation: Interpolation = Field(
        default="bilinear", description="How images are resized (tf.image.resize's method)")
    crop_to_aspect_ratio: bool = Field(
        default=False,
        description="Crop the largest centred window of the target aspect ratio before resizing, "
                    "instead of stretching")
    pad_to_aspect_ratio: bool = Field(
        default=False,
        description="Pad to the target aspect ratio (black bars) before resizing, instead of "
                    "stretching")
    follow_links: bool = Field(
        default=False, description="Follow symbolic links to subfolders (Keras's follow_links)")
    cache: bool | str = Field(
        default=False,
        description="Keep the decoded images after the first epoch: true in memory, a file name "
                    "prefix on disk; false: decode every epoch")
    prefetch: bool = Field(
        default=True, description="Decode the next batches while the model trains on this one")

    @model_validator(mode="after")
    def _one_fit(self) -> ImagesData:
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError("only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be true")
        return self


#: the most workers a PyDataset is given (threads or processes)
MAX_WORKERS = 256


class PythonData(Base):
    """Your own data set: a ``keras.utils.PyDataset`` subclass or a generator function
    yielding ``(x, y)`` batches, named as ``package.module:attribute`` (the way Keras's
    ``fit`` takes a generator). kexp imports it, checks it is one of the two, then calls
    it with ``args``; its batches are used as they come (no preprocess steps)."""

    source: Literal["python"] = Field(
        description="python: batches from a keras.utils.PyDataset subclass or a generator "
                    "function of your own")
    object: str = Field(
        description="The data set class or generator function, as package.module:attribute "
                    "(looked up from the current folder, the spec's folder and its parent)",
        examples=["mydata:Batches"])
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments the training batches are made with, e.g. {batch_size: 32}")
    validation_args: dict[str, Any] | None = Field(
        default=None,
        description="Keyword arguments (over args) that make the validation batches, e.g. "
                    "{split: validation}; null: no validation data")
    test_args: dict[str, Any] | None = Field(
        default=None,
        description="Keyword arguments (over args) that make the test batches, e.g. {split: "
                    "test}; null: evaluate on the training batches")
    steps_per_epoch: Annotated[int, Field(gt=0)] | None = Field(
        default=None,
        description="Batches per epoch (Keras's steps_per_epoch); null: every batch of the data "
                    "set, or until the generator stops. An endless generator needs it")
    validation_steps: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="Validation batches per epoch; null: all of them")
    test_steps: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="Test batches evaluated; null: all of them")
    workers: Annotated[int, Bounded(1, MAX_WORKERS, "a number of workers")] | None = Field(
        default=None,
        description="A PyDataset's workers (threads, or processes with use_multiprocessing); "
                    "null: as the data set sets it")
    use_multiprocessing: bool | None = Field(
        default=None, description="A PyDataset's workers are processes; null: as the data set sets it")
    max_queue_size: Annotated[int, Bounded(1, MAX_INT32, "a number of batches")] | None = Field(
        default=None,
        description="A PyDataset's batches made ahead at most; null: as the data set sets it")

    @field_validator("object")
    @classmethod
    def _reference(cls, value: str) -> str:
        if not CUSTOM_RE.match(value):
            raise ValueError(f"expected a class or generator function named "
                             f"package.module:attribute (e.g. mydata:Batches), received {value!r}")
        return value

    # the parts other sources hold out: a Python data set gives its own (test_args, ...)
    @property
    def test(self) -> None:
        return None

    @property
    def validation(self) -> None:
        return None

    @property
    def limit(self) -> None:
        return None


KerasDataset = Literal[
    "mnist",
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "boston_housing",
    "california_housing",
]
KERAS_DATASETS: tuple[str, ...] = get_args(KerasDataset)


class KerasData(_DataBase):
    """A ``keras.datasets`` loader (downloads on first use, then cached in ~/.keras)."""

    source: KerasDataset = Field(
        description="A keras.datasets loader: " + ", ".join(KERAS_DATASETS)
                    + "; downloads on first use, then cached in ~/.keras")
    offline_fallback: bool = Field(
        default=True,
        description="Offline with no cache, mnist falls back to the shipped sample of 10,000 "
                    "digits (with a warning); false: it fails instead")


SequenceDataset = Literal["imdb", "reuters"]
SEQUENCE_DATASETS: tuple[str, ...] = get_args(SequenceDataset)


class SequenceData(_DataBase):
    """``keras.datasets.imdb`` / ``reuters``: word-index sequences of different lengths
    (pad them with the ``pad`` step). Downloads on first use; no offline fallback."""

    source: SequenceDataset = Field(
        description="imdb or reuters: word-index sequences from keras.datasets")
    num_words: Annotated[int, Field(gt=0)] | None = Field(
        default=None,
        description="Keep the num_words most frequent words (Keras's num_words); null: every word")
    skip_top: Annotated[int, Field(ge=0)] = Field(
        default=0, description="Leave out the skip_top most frequent words (Keras's skip_top)")
    maxlen: Annotated[int, Field(gt=0)] | None = Field(
        default=None,
        description="Leave out the sequences longer than maxlen (Keras's maxlen); null: keep all")


#: the most values ``source: random`` generates (float32: 400 MB)
MAX_RANDOM_VALUES = 10**8


class RandomData(_DataBase):
    """Random inputs and labels for a smoke test: uniform [0, 1) x, integer y."""

    source: Literal["random"] = Field(description="random: random data for a smoke test")
    samples: Annotated[int, Field(gt=1), Limits(maximum=MAX_RANDOM_VALUES)] = Field(
        default=1000,
        description=f"The number of samples; samples times the shape's sizes is at most "
                    f"{MAX_RANDOM_VALUES:,}")
    shape: list[Annotated[int, Field(gt=0)]] = Field(
        default_factory=lambda: [784], description="The shape of one sample's x, e.g. [28, 28]")
    classes: Annotated[int, Field(gt=1)] = Field(
        default=10, description="The number of classes of the integer labels y")

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
        if self.samples * self.classes > MAX_RANDOM_VALUES:  # the labels, one-hot encoded
            raise KeyedValueError(
                ("classes",), f"samples x classes is {self.samples * self.classes} one-hot label "
                f"values; expected at most {MAX_RANDOM_VALUES} ({MAX_RANDOM_VALUES * 4 // 10**6} MB)")
        return self


def _data_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        src = value.get("source")
        return src if isinstance(src, str) else None
    return getattr(value, "source", None)


DATA_SOURCES = ("csv", "npz", "images", "python", "random", *KERAS_DATASETS, *SEQUENCE_DATASETS)

if TYPE_CHECKING:
    # what the tagged union below validates to (a type checker cannot read one built at runtime)
    DataConfig = (CsvData | NpzData | ImagesData | PythonData | RandomData | KerasData
                  | SequenceData)
else:
    _DATA_ALTERNATIVES = (
        Annotated[CsvData, Tag("csv")],
        Annotated[NpzData, Tag("npz")],
        Annotated[ImagesData, Tag("images")],
        Annotated[PythonData, Tag("python")],
        Annotated[RandomData, Tag("random")],
        *(Annotated[KerasData, Tag(name)] for name in KERAS_DATASETS),
        *(Annotated[SequenceData, Tag(name)] for name in SEQUENCE_DATASETS),
    )
    DataConfig = Annotated[Union[_DATA_ALTERNATIVES], Discriminator(_data_tag)]
