"""The spec's schema: the whole experiment (:class:`Config`), with every default spelled out.

``compile``, ``fit``, ``cv`` and ``tracking`` live here; the model (a Sequential stack
or a functional graph) in :mod:`.network`, the data sources in :mod:`.sources`,
preprocessing in :mod:`.steps`, the ``sweep:`` section in :mod:`.sweep`, and
:mod:`.messages` turns pydantic's errors into kexp messages. Names that Keras resolves
(layers, losses, optimizers, ...) are only checked for shape here; they are resolved
in :mod:`kexp.model.resolve` when the model is built. This module never imports
TensorFlow.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from kexp.spec.base import (
    MAX_INT32,
    Base,
    Bounded,
    Column,
    KeyedValueError,
    Limits,
    NamedObject,
    Seed,
    per_name,
)
from kexp.spec.network import ModelConfig
from kexp.spec.optimizer import check_optimizer
from kexp.spec.sources import (
    CsvData,
    DataConfig,
    ImagesData,
    KerasData,
    NpzData,
    PythonData,
    SequenceData,
)
from kexp.spec.steps import PreprocessConfig
from kexp.spec.sweep import SweepConfig

if TYPE_CHECKING:
    # what per_name's tagged unions validate to
    Losses = NamedObject | dict[str, NamedObject]
    Metrics = list[NamedObject] | dict[str, list[NamedObject]]
else:
    Losses = per_name(NamedObject, lambda v: isinstance(v, dict) and len(v) != 1)
    Metrics = per_name(list[NamedObject], lambda v: isinstance(v, dict))


class CompileConfig(Base):
    """``loss``, ``loss_weights`` and ``metrics`` may be given per output name:
    ``loss: {out1: binary_crossentropy, out2: mse}``."""

    loss: Losses = Field(
        description="The loss: a Keras name (binary_crossentropy), {Name: {arguments}}, custom "
                    "code module:function, or per output name: {out1: binary_crossentropy, out2: "
                    "mse}")
    optimizer: Annotated[NamedObject, AfterValidator(check_optimizer)] = Field(
        default="adam",
        description="The optimizer: a Keras name (adam) or {SGD: {learning_rate: 0.01, momentum: "
                    "0.9}}")
    metrics: Metrics = Field(
        default_factory=list,
        description="The metrics, e.g. [accuracy, {AUC: {num_thresholds: 100}}], or per output "
                    "name: {bmi: [mae]}")
    loss_weights: list[float] | dict[str, float] | None = Field(
        default=None,
        description="Weights of the outputs' losses in the total loss: a list in output order, or "
                    "{output name: weight}")
    steps_per_execution: Annotated[int, Bounded(1, MAX_INT32, "a number of batches")] = Field(
        default=1,
        description="Batches per call into TensorFlow (Keras's steps_per_execution), lowered to "
                    "the largest divisor of an epoch's batches")
    jit_compile: bool | Literal["auto"] = Field(
        default="auto", description="XLA compilation (Keras's jit_compile): true, false or auto")


#: the most epochs ``fit.epochs`` takes
MAX_EPOCHS = 1_000_000


#: ``fit.epochs``
Epochs = Annotated[int, Bounded(
    1, MAX_EPOCHS, "a number of epochs",
    "To train until the model stops improving, use the EarlyStopping callback",
)]

#: ``fit.batch_size``
BatchSize = Annotated[int, Bounded(
    1, MAX_INT32, "a batch size", "A batch larger than the data is the whole data")]


def _class_weight(weight: float) -> float:
    if weight < 0:
        raise ValueError(f"expected a weight of at least 0 (0 leaves the class out of the loss), "
                         f"received {weight}")
    return weight


#: a class's weight in ``fit.class_weight`` (finite: NaN and infinity are refused by Base)
ClassWeight = Annotated[float, AfterValidator(_class_weight), Limits(minimum=0)]


class CheckpointConfig(Base):
    """When a run saves what ``kexp run --resume`` continues from exactly: at the end of an
    epoch, every ``every_epochs`` epochs or once ``every_minutes`` have passed since the last
    save (whichever comes first; neither given: every epoch), and at the last epoch."""

    every_epochs: Annotated[int, Bounded(1, MAX_INT32, "a number of epochs")] | None = Field(
        default=None,
        description="Save at the end of every N-th epoch (neither this nor every_minutes: every "
                    "epoch)")
    every_minutes: Annotated[float, Field(gt=0)] | None = Field(
        default=None,
        description="Save at the end of the first epoch after this many minutes since the last "
                    "save")
    keep: Annotated[int, Bounded(1, 1000, "a number of checkpoints")] = Field(
        default=2, description="How many of the newest checkpoints are kept (a damaged newest "
                               "one falls back to the one before)")


class FitConfig(Base):
    """How the model is trained (Keras's ``model.fit``)."""

    epochs: Epochs = Field(
        default=1,
        description="Passes over the training data; to stop when the model stops improving, add "
                    "the EarlyStopping callback")
    batch_size: BatchSize = Field(
        default=32, description="Samples per batch; a batch larger than the data is the whole data")
    validation_split: Annotated[float, Field(ge=0, lt=1)] = Field(
        default=0.0,
        description="The fraction of the training data (its last rows, as in Keras) held out for "
                    "validation, e.g. 0.2; 0: none")
    validation_data: Literal["test"] | None = Field(
        default=None,
        description="test: validate on the test set every epoch (instead of validation_split)")
    shuffle: bool = Field(
        default=True, description="Reshuffle the training rows every epoch (from the seed)")
    class_weight: dict[int | str, ClassWeight] | Literal["balanced"] | None = Field(
        default=None,
        description="Weights of the classes in the loss: {label: weight}, or balanced "
                    "(scikit-learn's, inverse to the class frequencies)")
    verbose: Literal["auto", 0, 1, 2] = Field(
        default="auto",
        description="Progress output: auto (a progress bar on a terminal, one line per epoch "
                    "otherwise), 0 none, 1 a progress bar, 2 one line per epoch")
    callbacks: list[NamedObject] = Field(
        default_factory=list,
        description="Keras callbacks, e.g. [{EarlyStopping: {patience: 3}}, TerminateOnNaN]; "
                    "relative paths land in the run folder")
    checkpoint: CheckpointConfig | Literal[False] = Field(
        default_factory=CheckpointConfig,
        description="Checkpoints to resume an interrupted run from exactly (kexp run --resume): "
                    "{every_epochs: 1, every_minutes: null, keep: 2}; false: none")

    @model_validator(mode="after")
    def _one_validation(self) -> FitConfig:
        if self.validation_split and self.validation_data:
            raise ValueError(
                "give validation_split or validation_data, not both "
                f"(received validation_split={self.validation_split}, "
                f"validation_data={self.validation_data!r})"
            )
        return self


class CVConfig(Base):
    """k-fold cross-validation (``kexp cv``), with scikit-learn's splitters.

    The whole data set is split into folds; ``data.test`` is not applied under
    cv (each fold's held-out part is its test set). ``stratify: auto`` uses
    StratifiedKFold for class labels and KFold otherwise; ``repeats > 1`` uses
    the Repeated* splitters; ``group`` names a CSV column for GroupKFold.
    ``seed: null`` shuffles with the experiment's seed.
    """

    folds: Annotated[int, Limits(minimum=2)] = Field(
        default=10, description="The number of folds K, at least 2 (--folds)")
    repeats: Annotated[int, Field(gt=0)] = Field(
        default=1,
        description="How many times the K folds are drawn, reshuffled each time (more than 1: "
                    "RepeatedStratifiedKFold / RepeatedKFold; --repeats)")
    shuffle: bool = Field(
        default=True, description="Shuffle the rows before splitting (--shuffle/--no-shuffle)")
    stratify: bool | Literal["auto"] = Field(
        default="auto",
        description="Keep the class proportions in every fold; auto: StratifiedKFold for class "
                    "labels, KFold otherwise (--stratify)")
    group: Column | None = Field(
        default=None,
        description="A CSV column whose groups each stay in one fold: GroupKFold "
                    "(StratifiedGroupKFold with stratify: true; --group)")
    seed: Seed | None = Field(
        default=None,
        description="The seed of the shuffling; null: the experiment's seed (--cv-seed)")

    @field_validator("folds")
    @classmethod
    def _two_folds(cls, folds: int) -> int:
        if folds < 2:
            raise ValueError(
                f"expected at least 2 folds (each fold tests on 1/K of the data and trains on "
                f"the rest), received {folds}. For a single train/test split use `kexp run`"
            )
        return folds

    @model_validator(mode="after")
    def _check(self) -> CVConfig:
        if self.repeats > 1 and not self.shuffle:
            raise ValueError(
                f"repeats: {self.repeats} needs shuffle: true (each repeat reshuffles the data)"
            )
        return self


class MlflowTracking(Base):
    """Log runs to MLflow as they train (``pip install 'kexp[mlflow]'``; ``--mlflow [URI]``)."""

    enabled: bool = Field(default=True, description="false: keep the settings, log nothing")
    uri: str | None = Field(
        default=None,
        description="Tracking URI; null: MLflow's default (MLFLOW_TRACKING_URI, else a local store "
                    "in the current folder)",
        examples=["sqlite:///mlflow.db", "http://127.0.0.1:5000"])
    experiment: str | None = Field(
        default=None, description="MLflow experiment; null: the spec's name")
    parent_run_id: str | None = Field(
        default=None,
        description="Nest the run under this MLflow run (kexp cv and kexp sweep set it for their "
                    "folds and trials)")


class DistributeConfig(Base):
    """One model trained on several devices (``kexp run``): Keras on TensorFlow's
    ``MirroredStrategy`` or JAX's ``DataParallel``, each batch split between the devices."""

    strategy: Literal["data_parallel"] = Field(
        default="data_parallel",
        description="data_parallel: a copy of the model on each device, each batch split between "
                    "them, the gradients summed (tf.distribute.MirroredStrategy; on JAX "
                    "keras.distribution.DataParallel)")
    devices: Annotated[list[str], Field(min_length=2)] | None = Field(
        default=None,
        description="The devices, e.g. [/gpu:0, /gpu:1] (or [/cpu:0, /cpu:1]: the CPU split in "
                    "logical devices); null: every GPU")


class TrackingConfig(Base):
    """Where runs are logged besides their run folder."""

    mlflow: MlflowTracking | None = Field(
        default=None,
        description="Log runs to MLflow as they train (pip install 'kexp[mlflow]'); null: no "
                    "MLflow")


#: the longest ``name``: a run folder's name (``20250101-120000-NAME-1a2b3c``, a sweep's
#: with ``-sweep``) stays well under the 255 bytes file systems allow
MAX_NAME = 100


def _run_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", value):
        fixed = re.sub(r"[^A-Za-z0-9_.+-]+", "-", value).strip("-")[:MAX_NAME]
        raise ValueError(
            f"expected a name of letters, digits, '_', '.', '+' and '-' (it becomes part of the "
            f"run folder's name), received {value!r}"
            + (f". Write e.g. name: {fixed}" if fixed.strip(".") else "")
        )
    if not value.strip("."):
        raise ValueError(f"expected a name with a letter or digit in it (it becomes part of the "
                         f"run folder's name), received {value!r}")
    if len(value) > MAX_NAME:
        raise ValueError(f"expected a name of at most {MAX_NAME} characters (it becomes part of "
                         f"the run folder's name), received one of {len(value)}. Write e.g. "
                         f"name: {value[:40]}")
    return value


class Config(Base):
    """A whole experiment."""

    name: Annotated[str, AfterValidator(_run_name)] = Field(
        default="experiment",
        description="Part of the run folder's name: letters, digits, _ . + - (not only dots), at "
                    f"most {MAX_NAME} characters",
        examples=["mnist-mlp"],
        json_schema_extra={"pattern": r"^(?!\.+$)[A-Za-z0-9_.+-]+$", "maxLength": MAX_NAME})
    seed: Seed | None = Field(
        default=None,
        description="Seeds Python, NumPy, the backend and TensorFlow; null: drawn and recorded (kexp "
                    "cv: 0)")
    backend: Literal["tensorflow", "jax", "torch", "auto"] | None = Field(
        default=None,
        description="Keras's backend: tensorflow, jax (pip install 'kexp[jax]') or torch (pip "
                    "install 'kexp[torch]'); auto: jax when installed and the model "
                    "has no convolutions (fastest on the CPU), else tensorflow; null: KERAS_BACKEND when set, else tensorflow "
                    "(the backend used is recorded)")
    deterministic: bool = Field(
        default=False,
        description="Deterministic ops (reproducible, slower): TensorFlow's op determinism, "
                    "PyTorch's deterministic algorithms; XLA on the CPU is deterministic")
    distribute: DistributeConfig | None = Field(
        default=None,
        description="Train on several devices (kexp run): {strategy: data_parallel, devices: [...]}; "
                    "fit.batch_size is the global batch; null: one device")
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = Field(
        default="float32",
        description="Keras's dtype policy: mixed_float16 / mixed_bfloat16 compute in 16 bits with "
                    "float32 weights, the output layers in float32 (loss scaling on float16)")
    data: DataConfig = Field(
        description="The data: source (csv, npz, images, random, a keras.datasets name) and its keys, e.g. "
                    "{source: csv, path: data.csv, target: 8}")
    preprocess: PreprocessConfig = Field(
        default_factory=PreprocessConfig,
        description="What is done to x and y before training, fitted on the training part only")
    model: ModelConfig = Field(
        description="The model: a stack of layers ({layers: [...]}) or a graph ({type: functional, "
                    "inputs: ..., nodes: ..., outputs: ...})")
    compile: CompileConfig = Field(
        description="Loss, optimizer and metrics (Keras's model.compile)")
    fit: FitConfig = Field(
        default_factory=FitConfig,
        description="How the model is trained (Keras's model.fit): epochs, batch_size, validation, "
                    "callbacks")
    cv: CVConfig = Field(
        default_factory=CVConfig,
        description="k-fold cross-validation: kexp cv's folds, and how kexp sweep's cv trials "
                    "split; kexp run ignores it")
    sweep: SweepConfig | None = Field(
        default=None,
        description="A study of many runs of this spec (kexp sweep); kexp run and kexp cv ignore "
                    "it")
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig,
        description="Where runs are logged besides their run folder (MLflow)")

    @model_validator(mode="after")
    def _class_folders(self) -> Config:
        # an image folder's labels are its class names: encoded as class indices unless
        # preprocess.y says otherwise (image_dataset_from_directory's label_mode="int")
        if isinstance(self.data, ImagesData) and "y" not in self.preprocess.model_fields_set:
            self.preprocess = self.preprocess.model_copy(update={"y": "sparse"})
            self.preprocess.model_fields_set.add("y")
        return self

    @model_validator(mode="after")
    def _python_batches(self) -> Config:
        if isinstance(self.data, PythonData):
            if self.fit.validation_split:
                raise KeyedValueError(("fit", "validation_split"),
                                      "a Python data set's batches cannot be split; give "
                                      "data.validation_args instead")
            if self.fit.validation_data == "test" and self.data.validation_args is not None:
                raise KeyedValueError(("fit", "validation_data"),
                                      "data.validation_args gives the validation batches "
                                      "already; remove fit.validation_data")
        return self

    @model_validator(mode="after")
    def _validation_sources(self) -> Config:
        if self.data.validation is not None and (
            self.fit.validation_split or self.fit.validation_data
        ):
            raise ValueError(
                "data.validation holds out a validation set already; "
                "remove fit.validation_split / fit.validation_data"
            )
        if self.fit.validation_data == "test" and self.data.test is None and not _has_test(self):
            raise ValueError("fit.validation_data: test needs a test set (data.test)")
        return self


def _has_test(cfg: Config) -> bool:
    d = cfg.data
    return isinstance(d, (KerasData, SequenceData)) or (isinstance(d, NpzData) and d.x_test is not None) or (
        isinstance(d, (CsvData, ImagesData)) and d.test_path is not None
    ) or (isinstance(d, PythonData) and d.test_args is not None)


def resolved(cfg: Config) -> dict[str, Any]:
    """The fully resolved config (every default filled in) as plain YAML-able data."""
    out = cfg.model_dump(mode="json")
    data = out["data"]
    out["data"] = {"source": data.pop("source"), **data}
    return out
