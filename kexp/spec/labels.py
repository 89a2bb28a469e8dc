"""``preprocess.labels``: a map of the raw labels, applied before y is encoded."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from kexp.spec.base import Base, Label

__all__ = ["BinaryLabels", "LabelMap", "is_label_map"]


class BinaryLabels(Base):
    """Labels listed in ``positive`` become 1, every other label 0."""

    positive: Annotated[list[Label], Field(min_length=1)] = Field(
        description="The labels that become 1, e.g. [0, 2, 4, 6, 8]; every other label becomes 0")


class LabelMap(Base):
    """A map of the raw labels, applied before y is encoded (and to predict's labels).

    ``{binary: {positive: [0, 2, 4, 6, 8]}}`` ("is the digit even") or
    ``{map: {0: zero, 1: one}}`` (every label must be in the map).
    """

    binary: BinaryLabels | None = Field(
        default=None, description="Two classes: {positive: [labels]} become 1, the others 0")
    map: dict[Label, Label] | None = Field(
        default=None,
        description="{label: new label}, e.g. {0: zero, 1: one}; every label must be in it")

    @model_validator(mode="after")
    def _exactly_one(self) -> LabelMap:
        given = [k for k in ("binary", "map") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "expected exactly one of binary: {positive: [...]} or map: {label: new label}, "
                f"received {len(given)}" + (f" ({', '.join(given)})" if given else "")
            )
        return self


def is_label_map(value: Any) -> bool:
    return isinstance(value, LabelMap) or (
        isinstance(value, dict) and bool(value) and set(value) <= {"binary", "map"}
    )
