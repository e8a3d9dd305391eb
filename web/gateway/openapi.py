"""The OpenAPI 3.1 document of the gateway, generated from the event catalog (one schema per event type)."""

from __future__ import annotations

from typing import Any

from schemas import Codec, rules
from schemas.publishers import WHO
from schemas.sealing import ERASURES, SEALED
from schemas.topics import IMMIGRATION
from streams.sdk.convert import named_types
from streams.sdk.draft import FIELDS, agencies
from web.gateway.auth import AGENCY_HEADER
from web.gateway.config import GatewayConfig
from web.gateway.jsonschema import json_schema

_CALLER_ENVELOPE = [f for f in FIELDS if f not in ("event_type", "payload")]
_OPTIONAL_NOTES = {
    "occurred_at": (
        f" Optional: defaults to the time the gateway records the event. Not before "
        f"{rules.EARLIEST_EVENT_TIME.date().isoformat()} and not more than "
        f"{int(rules.CLOCK_SKEW.total_seconds() // 60)} minutes after the gateway's clock (else 422)."
    ),
    "correlation_id": " Optional: defaults to the event's own id.",
}
_YEAR, _MONTH, _DAY = r"(?:19|20)[0-9]{2}", r"(?:0[1-9]|1[0-2])", r"(?:0[1-9]|[12][0-9]|3[01])"
_DATE = rf"{_YEAR}-{_MONTH}-{_DAY}|{_DAY}-{_MONTH}-{_YEAR}"  # schemas.rules._DATE_RUN
_EIGHT = rf"{_YEAR}{_MONTH}{_DAY}|{_DAY}{_MONTH}{_YEAR}"  # schemas.rules._EIGHT_DIGITS
# schemas.rules.valid_id as one ECMA-262 regex (also read alike by Python's re): at most 64 characters; a prefix of 1
# to 4 capitals; 1 to 6 parts of at most 32 letters and digits after '-', each of one or two characters or with a
# digit (three letters or more are a word), none eight digits forming a date; no run of parts forming a date
# (YYYY-MM-DD, DD-MM-YYYY). Lookaheads only where no plain form exists, so generators rarely draw in vain.
_PART = rf"(?=[A-Za-z0-9]{{1,32}}(?:-|$))(?!(?:{_EIGHT})(?:-|$))(?:[A-Za-z0-9]{{1,2}}|[A-Za-z]*[0-9][A-Za-z0-9]*)"
ID_PATTERN = rf"^(?=[A-Za-z0-9-]{{1,64}}$)(?!.*-(?:{_DATE})(?:-|$))[A-Z]{{1,4}}(?:-{_PART}){{1,6}}$"
PSEUDONYM_PATTERN = f"^{rules.PSEUDONYM.pattern}$"  # [A-Za-z0-9_-]{6,64}: the same in ECMA-262
# Rules of schemas/rules.py across fields or with the caller, which JSON Schema cannot say: in the field's description.
_BEYOND_SCHEMA = {
    **{name: " Not before the event's day (occurred_at, in Dortmund) (else 422)." for name in rules.DEADLINES},
    "appointment_at": " Not before occurred_at (else 422).",
    "from_agency": " Must be the caller's agency, the token's (else 422).",
    "to_agency": " Must differ from from_agency (else 422).",
    "needs": " At most one entry per Lebenslage (else 422).",
}


def event_schema(codec: Codec, event_type: str) -> dict[str, Any]:
    """The JSON a partner sends for one event of ``event_type``."""
    current = codec.schema_for(event_type)
    message = current.schema
    named = named_types(message)
    envelope = {f["name"]: f for f in message["fields"][0]["type"]["fields"]}
    payload = message["fields"][1]["type"]
    properties: dict[str, Any] = {"event_type": {"const": event_type}}
    for name in _CALLER_ENVELOPE:
        schema = json_schema(envelope[name]["type"], named)
        schema["description"] = envelope[name].get("doc", "") + _OPTIONAL_NOTES.get(name, "")
        properties[name] = schema
    properties["payload"] = json_schema(payload, named)
    if event_type in SEALED:
        properties["payload"] = _clear_client(properties["payload"])
    properties["payload"] = _with_field_rules(properties["payload"])
    out: dict[str, Any] = {
        "type": "object",
        "title": event_type,
        "description": payload.get("doc", "") + _who_may_publish(event_type, current.topic),
        "required": ["event_type", "payload"],
        "properties": properties,
        "additionalProperties": False,
        "x-kim-topic": current.topic,
        "x-kim-key": f"payload.{current.key_field}",
        "x-kim-version": current.version,
    }
    if payload.get("kim.emitted_by"):
        out["x-kim-emitted-by"] = payload["kim.emitted_by"]
    return out


def _who_may_publish(event_type: str, topic: str) -> str:
    """Which agency may send ``event_type``: the immigration offices alone for their topic (else 422), and who has a
    part in the case or application (projections/authority.py; else 403). The token's agency is the publisher."""
    who = WHO.get(event_type, "any agency")
    refused = "" if who.startswith("any agency") else " (another agency's token: 403)"
    offices = " or ".join(rules.IMMIGRATION_OFFICES)
    only = f" Only {offices} may publish it (another agency's token: 422)." if topic == IMMIGRATION else ""
    return f"\n\nWho may publish it: {who}{refused}.{only}"


def _with_field_rules(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with the domain rules on single fields that JSON Schema can say exactly (schemas/rules.py): the
    id and pseudonym patterns, lists that must name one and may not repeat one."""
    properties = {name: _described(name, _field_rule(name, schema)) for name, schema in payload["properties"].items()}
    return {**payload, "properties": properties}


def _described(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    if name not in _BEYOND_SCHEMA:
        return schema
    return {**schema, "description": schema.get("description", "") + _BEYOND_SCHEMA[name]}


def _field_rule(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in schema:  # an optional field: null, or the value the rule is about
        return {**schema, "anyOf": [b if b.get("type") == "null" else _field_rule(name, b) for b in schema["anyOf"]]}
    if schema.get("type") == "string" and name.endswith("_id"):
        return {**schema, "minLength": 1, "maxLength": 64, "pattern": ID_PATTERN}
    if schema.get("type") == "string" and name.endswith("_ref"):
        return {**schema, "minLength": 6, "maxLength": 64, "pattern": PSEUDONYM_PATTERN}
    if schema.get("type") == "array":
        out = {**schema, "minItems": 1} if name in rules.MUST_NAME_ONE else dict(schema)
        if name != "needs":  # needs: at most one entry per Lebenslage, which uniqueItems cannot say
            out["uniqueItems"] = True
        return out
    return schema


def _clear_client(payload: dict[str, Any]) -> dict[str, Any]:
    """What a partner sends for a sealed type: ``client_ref`` in clear and required; the gateway seals it."""
    properties = {k: v for k, v in payload["properties"].items() if k != "client_sealed"}
    properties["client_ref"] = {
        "type": "string",
        "description": "Pseudonym of the client; never a name. The gateway seals it with the client's key "
        "before publishing (crypto-shredding); it is never on the log in clear.",
    }
    required = [k for k in properties if k in payload.get("required", []) or k == "client_ref"]
    return {**payload, "properties": properties, "required": required}


def document(codec: Codec, config: GatewayConfig) -> dict[str, Any]:
    types = sorted(codec.catalog.event_types() - set(ERASURES))  # erasures: `kim erase` only, never a partner
    schemas: dict[str, Any] = {t: event_schema(codec, t) for t in types}
    schemas["Event"] = {
        "oneOf": [_ref(t) for t in types],
        "discriminator": {"propertyName": "event_type", "mapping": {t: f"#/components/schemas/{t}" for t in types}},
    }
    schemas.update(_response_schemas())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "KIM partner gateway",
            "version": "1",
            "description": (
                "Publish case events of the Kommunales Integrationsmanagement (KIM) over HTTP. A 202 means Kafka "
                "acknowledged every event (acks=all). Callers authenticate with their agency's bearer token "
                "(`kim agency add` issues it); the token fixes the events' source_agency."
            ),
        },
        "paths": {
            "/v1/events": {"post": _publish_operation(single=True, config=config)},
            "/v1/events:batch": {"post": _publish_operation(single=False, config=config)},
            "/v1/referrals/received": {"get": _received_operation()},
            "/v1/dead-letters": {"get": _dead_letters_operation()},
            "/healthz": {
                "get": {
                    "summary": "Liveness: the gateway process answers",
                    "responses": {"200": _json_response("Alive", {"$ref": "#/components/schemas/Health"})},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": _json_response("The OpenAPI document", {"type": "object"})},
                }
            },
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"agencyToken": {"type": "http", "scheme": "bearer"}},
            "parameters": {
                "Agency": {
                    "name": AGENCY_HEADER,
                    "in": "header",
                    "required": False,
                    "description": "Optional. If sent it must name the token's own agency (else 403).",
                    "schema": {"type": "string", "enum": list(agencies(codec))},  # an empty one is a 400
                },
                "IdempotencyKey": {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": (
                        "Optional; e.g. a UUID per request. The same key with the same request again (a retry) gets "
                        "the first answer back with `Idempotent-Replayed: true` and publishes nothing; with another "
                        "body or endpoint it is a 422; while the first is still being processed a 409. Keys are per "
                        "agency and kept 24 hours. A request whose answer was lost (the gateway stopped, Kafka failed "
                        "midway) is completed by the retry, which sends the very same records again (same event ids; "
                        "projections drop repeats)."
                    ),
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
                },
            },
        },
    }


def _publish_operation(single: bool, config: GatewayConfig) -> dict[str, Any]:
    if single:
        body: dict[str, Any] = _ref("Event")
        accepted = _ref("Accepted")
        summary = "Publish one event"
        invalid = "The event breaks the contract (schema or domain rules); errors name every invalid field"
    else:
        body = {"type": "array", "items": _ref("Event"), "minItems": 1, "maxItems": config.max_batch}
        accepted = _ref("BatchAccepted")
        summary = "Publish several events, all or nothing: if one is invalid, none is published"
        invalid = "Some events are invalid and nothing was published; errors carry each invalid event's index"
    return {
        "summary": summary,
        "parameters": [{"$ref": "#/components/parameters/Agency"}, {"$ref": "#/components/parameters/IdempotencyKey"}],
        "security": [{"agencyToken": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {
            "202": _json_response("Acknowledged by Kafka (acks=all)", accepted),
            "400": _error("Unusable request: invalid JSON or UTF-8, wrong body type, an empty X-KIM-Agency header"),
            "401": _error("No bearer token, or an unknown or revoked one"),
            "403": _error(
                "The X-KIM-Agency header or an event names another agency than the token's; or the agency has no part "
                "in the case or application an event is about (errors name the rule: field source_agency)"
            ),
            "409": _error("A request with the same Idempotency-Key is still being processed; retry later"),
            "413": _error(
                f"Body over {config.max_body_bytes} bytes, batch over {config.max_batch} events, "
                "or an event over Kafka's 1 MiB per record"
            ),
            "415": _error("Body is not JSON in UTF-8"),
            "422": _error(f"{invalid}; or the Idempotency-Key was used for another request"),
            "503": _error("Kafka unreachable or did not acknowledge; the body lists what was acknowledged"),
        },
    }


def _agency_view(summary: str, description: str, ok: dict[str, Any], unavailable: str) -> dict[str, Any]:
    """A GET of what the token's agency may see of its own: no parameters, the agency from the token."""
    return {
        "summary": summary,
        "description": "The agency is the bearer token's; there are no parameters. " + description,
        "parameters": [{"$ref": "#/components/parameters/Agency"}],
        "security": [{"agencyToken": []}],
        "responses": {
            "200": ok,
            "400": _error("A query parameter was sent (the token names the agency), or an empty X-KIM-Agency header"),
            "401": _error("No bearer token, or an unknown or revoked one"),
            "403": _error("The X-KIM-Agency header names another agency than the token's"),
            "503": _error(unavailable),
        },
    }


def _received_operation() -> dict[str, Any]:
    return _agency_view(
        "The referrals and hand-overs the caller's agency received, while a consent lets the data pass",
        "A referral is listed only while the consent it was issued under covers the agency, is not withdrawn and "
        "not expired (today, Dortmund's calendar). Hand-overs: the cases the agency is responsible for after a "
        "CaseHandedOver, while a consent of the case covers it. After a ConsentWithdrawn the case is gone from the "
        "answer once the projections applied it.",
        _json_response("The received referrals as of now", _ref("ReceivedReferrals")),
        "The platform database is unreachable",
    )


def _dead_letters_operation() -> dict[str, Any]:
    letter = {
        "type": "object",
        "required": ["projection", "reason", "event_type", "key", "source", "failed_at", "attempt"],
        "properties": {
            "projection": {"type": "string", "description": "The read model that did not apply the record"},
            "reason": {"type": "string", "description": "Why, in one line (a broken rule, a contradiction, …)"},
            "event_type": {"type": ["string", "null"], "description": "Null when the record could not be decoded"},
            "key": {"type": ["string", "null"], "description": "The record's key (case_id or application_id)"},
            "source": {
                "type": "object",
                "required": ["topic", "partition", "offset"],
                "properties": {
                    "topic": {"type": "string"},
                    "partition": {"type": "integer"},
                    "offset": {"type": "integer"},
                },
            },
            "failed_at": {"type": ["string", "null"], "format": "date-time"},
            "attempt": {"type": "integer", "minimum": 1},
        },
    }
    answer = {
        "type": "object",
        "required": ["agency", "total", "letters"],
        "properties": {
            "agency": {"type": "string"},
            "total": {"type": "integer", "minimum": 0, "description": "All letters of the agency's records"},
            "letters": {"type": "array", "items": letter, "maxItems": 500, "description": "The newest first"},
        },
    }
    return _agency_view(
        "The caller's records that were acknowledged by Kafka but not applied (dead-lettered), and why",
        "Lists the letters of records signed with the agency's key: which read model refused each, the reason, the "
        "record's position; never the record's bytes or another agency's letters. An agency's Kafka login cannot "
        "read the dead-letter topic itself.",
        _json_response("The agency's dead letters as of now", answer),
        "Kafka is unreachable",
    )


def _received_schema() -> dict[str, Any]:
    text, day, time = (
        {"type": "string"},
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
    )
    nullable_time = {"type": ["string", "null"], "format": "date-time"}
    nullable_text = {"type": ["string", "null"]}
    referral = {
        "type": "object",
        "properties": {
            "case_id": text,
            "referral_id": text,
            "from_agency": text,
            "lebenslage": text,
            "consent_id": text,
            "consent_valid_until": {"type": ["string", "null"], "format": "date"},
            "due_by": day,
            "status": {"enum": ["issued", "accepted", "declined", "completed"]},
            "issued_at": time,
            "accepted_at": nullable_time,
            "declined_at": nullable_time,
            "completed_at": nullable_time,
            "decline_reason": nullable_text,
            "outcome": nullable_text,
            "case_status": {"enum": ["open", "closed"]},
        },
    }
    handover = {
        "type": "object",
        "description": "A case handed over to the caller, listed while a consent of the case covers it.",
        "properties": {
            "case_id": text,
            "opened_at": time,
            "handed_over_at": time,
            "case_status": {"enum": ["open", "closed"]},
            "consent_ids": {"type": "array", "items": text},
        },
    }
    return {
        "type": "object",
        "properties": {
            "agency": text,
            "as_of": time,
            "referrals": {"type": "array", "items": referral},
            "handovers": {"type": "array", "items": handover},
        },
    }


def _response_schemas() -> dict[str, Any]:
    published = {
        "type": "object",
        "required": ["event_id", "event_type", "topic", "partition", "offset"],
        "properties": {
            "event_id": {"type": "string", "format": "uuid"},
            "event_type": {"type": "string"},
            "topic": {"type": "string"},
            "partition": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    }
    indexed = {**published, "properties": {"index": {"type": "integer"}, **published["properties"]}}
    return {
        "Accepted": published,
        "BatchAccepted": {
            "type": "object",
            "properties": {"accepted": {"type": "integer"}, "events": {"type": "array", "items": indexed}},
        },
        "FieldError": {
            "type": "object",
            "required": ["field", "reason"],
            "properties": {
                "index": {"type": "integer", "description": "Position of the event in a batch (batches only)."},
                "field": {"type": "string", "description": "e.g. payload.district; empty when no single field."},
                "reason": {"type": "string"},
            },
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "description": "One line: what is wrong."},
                "errors": {"type": "array", "items": _ref("FieldError")},
                "events": {
                    "type": "array",
                    "items": indexed,
                    "description": "503 only: the events Kafka did acknowledge before it failed.",
                },
            },
        },
        "Health": {"type": "object", "properties": {"status": {"const": "ok"}}},
        "ReceivedReferrals": _received_schema(),
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json_response(description, _ref("Error"))
