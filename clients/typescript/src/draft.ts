/**
 * From a partner's draft — `{event_type, occurred_at?, payload, correlation_id?, causation_id?}`, the shape the
 * HTTP gateway and the Python SDK take — to a signed record: the envelope filled in (a fresh event id, the
 * record time, the signing key's agency as `source_agency`), encoded, keyed and signed.
 */
import { randomUUID } from "node:crypto";

import type { Catalog, EventSchema } from "./catalog";
import { encodeWith, recordKey, type EventJson } from "./encode";
import { EncodeError, KimError, shown } from "./errors";
import { parseTimestamp } from "./logical";
import type { SigningKey } from "./signing";

export interface EventDraft {
  event_type: string;
  payload: Record<string, unknown>;
  /** ISO 8601 with a timezone (or a Date); default: now. */
  occurred_at?: string | Date;
  /** Default: the event's own id. */
  correlation_id?: string;
  causation_id?: string | null;
  /** Optional: if given it must be the signing key's agency (an agency speaks only for itself). */
  source_agency?: string;
}

/** A record ready for Kafka. */
export interface Prepared {
  eventId: string;
  eventType: string;
  version: number;
  /** With the topic prefix. */
  topic: string;
  key: Buffer;
  value: Buffer;
  headers: Record<string, string>;
  event: EventJson;
}

/**
 * Types a partner may not publish straight to Kafka. The openings name the client by pseudonym, which travels on
 * the log only sealed with the client's key from the platform's key table; erasures are the platform's alone.
 */
export const NOT_FOR_PARTNERS: Record<string, string> = {
  CaseOpened:
    "CaseOpened cannot be published straight to Kafka: only the platform may seal the client's pseudonym " +
    "(client_ref); send CaseOpened through the HTTP gateway (POST /v1/events)",
  ApplicationFiled:
    "ApplicationFiled cannot be published straight to Kafka: only the platform may seal the client's pseudonym " +
    "(client_ref); send ApplicationFiled through the HTTP gateway (POST /v1/events)",
  CaseErased: "CaseErased is published by the platform's `kim erase` only",
  ApplicationErased: "ApplicationErased is published by the platform's `kim erase` only",
};

const DRAFT_FIELDS = ["event_type", "occurred_at", "payload", "correlation_id", "causation_id", "source_agency"];
const SET_BY_PUBLISHER = ["event_id", "recorded_at", "agency"];
const EARLIEST_MICROS = Date.UTC(2015, 0, 1) * 1000;
const CLOCK_SKEW_MICROS = 5 * 60 * 1_000_000;

export interface PrepareOptions {
  catalog: Catalog;
  signingKey: SigningKey;
  /** The publishing agency; default: the signing key's. */
  agency?: string;
  topicPrefix?: string;
  /** For tests: the publishing time. */
  now?: () => Date;
}

/** The agency a publisher speaks as: the signing key's, and `agency` must agree with it. */
export function publishingAgency(catalog: Catalog, signingKey: SigningKey, agency?: string): string {
  const own = signingKey.agency;
  const chosen = agency ?? own;
  if (!chosen) throw new KimError(`the signing key ${signingKey.keyId} names no agency: pass the agency to publish as`);
  if (own !== null && chosen !== own) {
    throw new KimError(`the signing key is ${own}'s, not ${chosen}'s (an agency speaks only for itself)`);
  }
  if (!catalog.agencies().includes(chosen)) {
    throw new KimError(`unknown agency ${JSON.stringify(chosen)}; known agencies: ${catalog.agencies().join(", ")}`);
  }
  return chosen;
}

/** Validates, fills in the envelope, encodes, keys and signs one draft; EncodeError/KimError in one line. */
export function prepare(draft: EventDraft, options: PrepareOptions): Prepared {
  const { catalog, signingKey } = options;
  const agency = publishingAgency(catalog, signingKey, options.agency);
  if (typeof draft !== "object" || draft === null || Array.isArray(draft)) {
    throw new EncodeError("event", [`event: expected a JSON object, got ${shown(draft)}`]);
  }
  const eventType = draft.event_type;
  if (typeof eventType !== "string") {
    throw new EncodeError("event", ["event_type: required field is missing or not a string"]);
  }
  let schema: EventSchema;
  try {
    schema = catalog.schemaFor(eventType);
  } catch (err) {
    throw new EncodeError(eventType, [`event_type: ${(err as Error).message}`]);
  }
  const refusal = NOT_FOR_PARTNERS[eventType];
  if (refusal) throw new EncodeError(eventType, [`event_type: ${refusal}`]);

  const errors: string[] = [];
  for (const field of Object.keys(draft)) {
    if (SET_BY_PUBLISHER.includes(field)) errors.push(`${field}: set by the publisher, not by the event`);
    else if (!DRAFT_FIELDS.includes(field)) errors.push(`${field}: unknown field; allowed: ${DRAFT_FIELDS.join(", ")}`);
  }
  if (draft.source_agency !== undefined && draft.source_agency !== agency) {
    errors.push(
      `source_agency: ${shown(draft.source_agency)} is not the signing key's agency ${agency} ` +
        "(an agency speaks only for itself)",
    );
  }
  if (typeof draft.payload !== "object" || draft.payload === null || Array.isArray(draft.payload)) {
    errors.push(`payload: required, an object`);
  }
  const now = (options.now ?? (() => new Date()))();
  const occurredAt = draft.occurred_at ?? now;
  try {
    const { ms, micros: within } = parseTimestamp(occurredAt);
    const micros = ms * 1000 + within; // a range check: exact enough for any year
    if (micros < EARLIEST_MICROS) errors.push(`occurred_at: ${shown(occurredAt)} is before 2015-01-01`);
    if (micros > now.getTime() * 1000 + CLOCK_SKEW_MICROS) {
      errors.push(`occurred_at: ${shown(occurredAt)} is in the future (more than five minutes' clock skew)`);
    }
  } catch (err) {
    errors.push(`occurred_at: ${shown(occurredAt)}: ${(err as Error).message}`);
  }
  if (errors.length > 0) throw new EncodeError(eventType, errors);

  const eventId = randomUUID();
  const envelope = {
    event_id: eventId,
    event_type: eventType,
    occurred_at: occurredAt instanceof Date ? occurredAt.toISOString() : occurredAt,
    recorded_at: now.toISOString(),
    source_agency: agency,
    correlation_id: draft.correlation_id ?? eventId,
    causation_id: draft.causation_id ?? null,
  };
  const event: EventJson = { envelope, payload: draft.payload };
  let value: Buffer;
  try {
    value = encodeWith(schema, event);
  } catch (err) {
    if (err instanceof EncodeError) {
      throw new EncodeError(eventType, err.errors.map((e) => e.replace(/^envelope\./, "")));
    }
    throw err;
  }
  const key = recordKey(schema, draft.payload);
  return {
    eventId,
    eventType,
    version: schema.version,
    topic: (options.topicPrefix ?? "") + schema.topic,
    key,
    value,
    headers: signingKey.headers(key, value),
    event,
  };
}
