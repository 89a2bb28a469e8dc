"""The spec stage: YAML with line numbers and ``--set`` (:mod:`.load`), the pydantic
schema (:mod:`.schema`), pydantic errors as kexp messages, and functional-graph
checks (:mod:`.graph`). Nothing here imports TensorFlow.
"""

from kexp.errors import format_path
from kexp.spec.load import PathT, Spec, apply_overrides, load_spec, parse_override, parse_spec
from kexp.spec.schema import (
    RESERVED_TOKENS,
    CompileConfig,
    Config,
    CsvData,
    CVConfig,
    FitConfig,
    FlattenStep,
    FunctionalModel,
    GetDummiesStep,
    GraphNode,
    Holdout,
    ImputeStep,
    KerasData,
    LabelMap,
    MinMaxStep,
    NpzData,
    PadStep,
    PreprocessConfig,
    RandomData,
    ReshapeStep,
    ScaleStep,
    SequenceData,
    SequentialModel,
    StandardizeStep,
    TokenizeStep,
    configure,
    load_config,
    named,
    resolved,
    single_key,
)

__all__ = [
    "RESERVED_TOKENS", "CVConfig", "CompileConfig", "Config", "CsvData", "FitConfig", "FlattenStep",
    "FunctionalModel", "GetDummiesStep", "GraphNode", "Holdout", "ImputeStep", "KerasData", "LabelMap",
    "MinMaxStep", "NpzData", "PadStep", "PathT", "PreprocessConfig", "RandomData", "ReshapeStep",
    "ScaleStep", "SequenceData", "SequentialModel", "Spec", "StandardizeStep", "TokenizeStep",
    "apply_overrides", "configure", "format_path", "load_config", "load_spec", "named",
    "parse_override", "parse_spec", "resolved", "single_key",
]
