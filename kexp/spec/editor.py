"""The spec as a JSON Schema, for editors (``kexp schema``; the YAML language server).

pydantic generates it from :class:`kexp.spec.schema.Config`. The schema accepts what the
spec accepts: the short forms that before-validators expand are declared with
:class:`kexp.spec.base.ShortForms`, and unions told apart by Python functions become
``anyOf`` (any form that fits) rather than ``oneOf``. A copy ships as
``kexp/spec/kexp.schema.json``; refresh it with
``kexp schema > kexp/spec/kexp.schema.json``. This module never imports TensorFlow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from kexp.spec.schema import Config

#: the copy of the schema shipped with the package
SHIPPED = Path(__file__).with_name("kexp.schema.json")

#: the command that writes :data:`SHIPPED` again (run in the repository root)
REFRESH = "kexp schema > kexp/spec/kexp.schema.json"


class SpecJsonSchema(GenerateJsonSchema):
    """pydantic's generator, with unions that a Python function tells apart as ``anyOf``
    (pydantic writes ``oneOf``, which refuses a value more than one form fits)."""

    def tagged_union_schema(self, schema: core_schema.TaggedUnionSchema) -> JsonSchemaValue:
        out = super().tagged_union_schema(schema)
        if callable(schema["discriminator"]) and "oneOf" in out:
            out["anyOf"] = out.pop("oneOf")
        return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a spec file."""
    body = Config.model_json_schema(schema_generator=SpecJsonSchema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "kexp spec",
        **{k: v for k, v in body.items() if k != "title"},
    }


def json_schema_text() -> str:
    """:func:`json_schema` as the text ``kexp schema`` prints (and the shipped copy holds)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
