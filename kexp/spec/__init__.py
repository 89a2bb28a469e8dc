"""The spec stage: YAML with line numbers and ``--set`` (:mod:`.load`), the pydantic
schema (:mod:`.base`, :mod:`.sources`, :mod:`.steps`, :mod:`.network`, :mod:`.sweep`,
:mod:`.schema`), validation with pydantic's errors as kexp messages (:mod:`.messages`),
functional-graph checks (:mod:`.graph`), checks of the layers' input-shape arguments
(:mod:`.shapes`) and of the optimizer's arguments (:mod:`.optimizer`), and quoted numbers
refused with the fix (:mod:`.quoted`). Nothing here imports TensorFlow.
"""

from kexp.errors import format_path
from kexp.spec import graph
from kexp.spec.base import Base, Column, Label, NamedObject, named, per_name, single_key
from kexp.spec.labels import BinaryLabels, LabelMap
from kexp.spec.load import (
    PathT,
    Spec,
    apply_overrides,
    load_spec,
    option_items,
    parse_override,
    parse_spec,
    wanted_backend,
)
from kexp.spec.messages import check_as_written, configure, load_config
from kexp.spec.network import FunctionalModel, GraphInput, GraphNode, SequentialModel
from kexp.spec.schema import CheckpointConfig, CompileConfig, Config, CVConfig, FitConfig, resolved
from kexp.spec.sources import (
    DATA_SOURCES,
    CsvData,
    Holdout,
    ImagesData,
    KerasData,
    NpzData,
    PythonData,
    RandomData,
    SequenceData,
)
from kexp.spec.steps import (
    RESERVED_TOKENS,
    X_STEPS,
    FlattenStep,
    GetDummiesStep,
    ImputeStep,
    MinMaxStep,
    PadStep,
    PreprocessConfig,
    ReshapeStep,
    ScaleStep,
    StandardizeStep,
    StepArgs,
    TokenizeStep,
)

__all__ = [
    "DATA_SOURCES", "RESERVED_TOKENS", "X_STEPS", "Base", "BinaryLabels", "CVConfig", "Column",
    "CheckpointConfig", "CompileConfig", "Config", "CsvData", "FitConfig", "FlattenStep", "FunctionalModel",
    "GetDummiesStep", "GraphInput", "GraphNode", "Holdout", "ImagesData", "ImputeStep", "KerasData", "Label",
    "LabelMap", "MinMaxStep", "NamedObject", "NpzData", "PadStep", "PathT", "PreprocessConfig", "PythonData",
    "RandomData", "ReshapeStep", "ScaleStep", "SequenceData", "SequentialModel", "Spec",
    "StandardizeStep", "StepArgs", "TokenizeStep", "apply_overrides", "option_items", "wanted_backend", "check_as_written", "configure", "format_path",
    "graph", "load_config", "load_spec", "named", "parse_override", "parse_spec", "per_name",
    "resolved", "single_key",
]
