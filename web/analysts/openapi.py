"""OpenAPI 3.1 for the read API, generated from the endpoint table and the parameter specs."""

from __future__ import annotations

from typing import Any

from projections.registry import PROJECTIONS
from web.analysts import params

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {"type": "object", "properties": {"field": {"type": "string"}, "reason": {"type": "string"}}},
        },
        "setting": {"type": "string", "description": "403: the setting that withholds the answer"},
        "see": {"type": "string", "description": "403: the path that answers instead"},
    },
}
RESULT = {
    "type": "object",
    "required": ["query", "title", "small_cell_max", "columns", "rows"],
    "properties": {
        "query": {"type": "string"},
        "title": {"type": "string"},
        "small_cell_max": {"type": "integer", "description": "counts from 1 to this are suppressed"},
        "case_manager_figures": {
            "type": "boolean",
            "description": "case-manager-load only: whether /v1/caseloads/case-managers answers "
            "(KIM_CASE_MANAGER_FIGURES)",
        },
        "columns": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "kind": {"type": "string", "enum": ["count", "number", "text", "date"]},
                    "title": {"type": "string"},
                },
            },
        },
        "pagination": {
            "type": "object",
            "properties": {
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
                "total": {"type": "integer"},
                "next": {"type": ["string", "null"]},
            },
        },
        "rows": {
            "type": "array",
            "items": {
                "type": "object",
                "description": "one property per column; a count column C is a number or null, with C_suppressed "
                "(true when hidden: a small cell, or a cell that would give one away through a total)",
            },
        },
    },
}


def document(endpoints, topic_prefix: str = "") -> dict[str, Any]:
    """The document of ``endpoints``; ``topic_prefix`` is the server's, so min_offsets names the topics it reads."""
    paths: dict[str, Any] = {}
    for endpoint in endpoints:
        names = (*endpoint.params, *params.COMMON)
        offsets = params.PARAMS["min_offsets"].schema
        if endpoint.projection is not None:
            offsets = params.offsets_schema(topic_prefix + t for t in PROJECTIONS[endpoint.projection].source_topics)
        parameters = [
            {
                "name": n,
                "in": "query",
                "required": False,
                "schema": offsets if n == "min_offsets" else params.PARAMS[n].schema,
                "description": params.PARAMS[n].description,
            }
            for n in names
        ]
        parameters.append(
            {
                "name": "X-KIM-Min-Offsets",
                "in": "header",
                "required": False,
                "schema": offsets,
                "description": "like min_offsets (the query parameter wins when both are sent)",
            }
        )
        paths[endpoint.path] = {
            "get": {
                "summary": endpoint.summary,
                "operationId": endpoint.path.strip("/").replace("/", "_").replace("-", "_"),
                "parameters": parameters,
                "responses": {
                    "200": {
                        "description": "the suppressed table (JSON), or CSV with format=csv / Accept: text/csv",
                        "headers": {"X-Total-Count": {"schema": {"type": "integer"}}},
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Result"}},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    "400": _error("a parameter is unknown, malformed or out of range (named in the message)"),
                    **({"403": _error(endpoint.forbidden)} if endpoint.forbidden else {}),
                    "503": _error("min_offsets not reached within wait seconds, or the database is unreachable"),
                },
            }
        }
    paths["/v1/freshness"] = {
        "get": {
            "summary": "How far each projection has read the log (from projection_checkpoints)",
            "operationId": "v1_freshness",
            "responses": {
                "200": {
                    "description": "one row per projection",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}}},
                }
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "KIM analytics (read-only)",
            "version": "1",
            "description": "Caseloads, referrals and the immigration-office backlog, with small-cell suppression "
            "(rule 5 of the platform's data protection, docs/domain.md). Answers are suppressed before paging.",
        },
        "paths": paths,
        "components": {"schemas": {"Result": RESULT, "Error": ERROR}},
    }


def _error(text: str) -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
