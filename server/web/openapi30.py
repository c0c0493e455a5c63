"""The API description as OpenAPI 3.0, for the Swagger UI that ships in swagger-ui-bundle.

FastAPI writes OpenAPI 3.1 (`/openapi.json`, kept for machine clients); the Swagger UI
bundled in the installed `swagger-ui-bundle` package (4.15) reads only 3.0 and shows
"Unable to render this definition" for 3.1. Offices have no internet, so a newer UI from
a CDN is no answer: `/docs` reads this 3.0 rendering of the same document instead.

Only what FastAPI's 3.1 output uses is translated: `anyOf [X, null]` and `type: [X,
"null"]` to `nullable`, `const` to a one-value `enum`, schema `examples` to `example`,
numeric `exclusiveMinimum`/`exclusiveMaximum` to the boolean form, binary content to
`format: binary`; 3.1-only keys are dropped. Pure functions; imports nothing from the
project.
"""

from __future__ import annotations

import copy
from typing import Any

# Keys that only mean something to JSON Schema 2020-12 / OpenAPI 3.1 readers.
DROPPED = ("$schema", "$id", "$anchor", "$defs", "$dynamicRef", "$dynamicAnchor", "contentMediaType",
           "contentEncoding", "prefixItems", "unevaluatedProperties", "unevaluatedItems", "dependentSchemas",
           "dependentRequired", "if", "then", "else", "propertyNames", "contains", "minContains", "maxContains")
# Where a schema (or a map of them) sits inside a schema.
SCHEMA_KEYS = ("items", "additionalProperties", "not")
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null" and len(schema) == 1


def schema_30(schema: Any) -> Any:
    """One JSON Schema (OpenAPI 3.1 dialect) rewritten for OpenAPI 3.0."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DROPPED:
            if key == "contentEncoding" or (key == "contentMediaType" and value == "application/octet-stream"):
                out.setdefault("format", "binary")
            continue
        if key in SCHEMA_KEYS and isinstance(value, dict):
            out[key] = schema_30(value)
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: schema_30(s) for name, s in value.items()}
        elif key in SCHEMA_LISTS and isinstance(value, list):
            out[key] = [schema_30(s) for s in value]
        elif key == "const":
            out["enum"] = [value]
        elif key == "examples" and isinstance(value, list):
            if value:
                out["example"] = value[0]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, (int, float)) and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        else:
            out[key] = value
    kinds = out.get("type")
    if isinstance(kinds, list):
        rest = [k for k in kinds if k != "null"]
        if len(rest) < len(kinds):
            out["nullable"] = True
        if len(rest) == 1:
            out["type"] = rest[0]
        else:
            del out["type"]
            out["anyOf"] = [{"type": k} for k in rest]
    for key in ("anyOf", "oneOf"):
        options = out.get(key)
        if isinstance(options, list) and any(_is_null(o) for o in options):
            rest = [o for o in options if not _is_null(o)]
            del out[key]
            out["nullable"] = True
            if len(rest) == 1 and "$ref" not in rest[0]:
                out = {**rest[0], **out}
            elif len(rest) == 1:
                out["allOf"] = rest  # a $ref cannot carry siblings in 3.0
            elif rest:
                out[key] = rest
    return out


def _walk_content(content: dict[str, Any]) -> None:
    for media in content.values():
        if isinstance(media, dict) and "schema" in media:
            media["schema"] = schema_30(media["schema"])


def downgrade(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of an OpenAPI 3.1 document that OpenAPI 3.0 readers accept."""
    doc = copy.deepcopy(spec)
    doc["openapi"] = "3.0.3"
    for key in ("webhooks", "jsonSchemaDialect"):
        doc.pop(key, None)
    info = doc.get("info", {})
    info.pop("summary", None)
    if isinstance(info.get("license"), dict):
        info["license"].pop("identifier", None)
    components = doc.get("components", {})
    components["schemas"] = {name: schema_30(s) for name, s in components.get("schemas", {}).items()}
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if "schema" in parameter:
                    parameter["schema"] = schema_30(parameter["schema"])
            body = operation.get("requestBody")
            if isinstance(body, dict):
                _walk_content(body.get("content", {}))
            for response in operation.get("responses", {}).values():
                if isinstance(response, dict):
                    _walk_content(response.get("content", {}))
    return doc
