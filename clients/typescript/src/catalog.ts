/**
 * The contract's catalog, read from the schema files as published (the repository's `schemas/avro`):
 * shared named types (`types/*.avsc`), the envelope, and one payload per event type and version
 * (`events/<Type>/vN.avsc`), each composed into the message record `{envelope, payload}` that goes on the
 * wire. Fingerprints come from `published.json`, never from this library: avsc (like other Avro libraries)
 * computes another canonical form for schemas with logical types than the one the platform pins.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as avro from "avsc";

import { KimError } from "./errors";
import { LOGICAL_TYPES } from "./logical";

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface EventSchema {
  eventType: string;
  version: number;
  /** The topic without prefix (`kim.cases`, `kim.immigration`): the payload's `kim.topic`. */
  topic: string;
  /** The payload field whose UTF-8 is the record key: the payload's `kim.key`. */
  keyField: string;
  /** The 8 bytes of the published CRC-64-AVRO fingerprint (little-endian, as on the wire). */
  fingerprint: Buffer;
  /** The message record `{envelope, payload}` as avsc writes it. */
  type: avro.Type;
}

export interface Catalog {
  /** Every published version of every event type. */
  schemas: EventSchema[];
  /** The newest published version of `eventType`, or a given `version` of it; KimError naming what is known. */
  schemaFor(eventType: string, version?: number): EventSchema;
  eventTypes(): string[];
  /** The agencies that may publish: the envelope's `source_agency` symbols except its default (`OTHER`). */
  agencies(): string[];
}

export interface CatalogOptions {
  /** `published.json` (a list of `{event_type, version, fingerprint}`); default: beside the avro directory. */
  published?: string;
}

const VERSION_FILE = /^v(\d+)\.avsc$/;

function readJson(file: string): Json {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new KimError(`cannot read schema file ${file}: ${(err as Error).message}`);
  }
}

function fullName(schema: Json): string {
  const name: string = schema.name;
  return name.includes(".") || !schema.namespace ? name : `${schema.namespace}.${name}`;
}

/** Loads every version of every event type under `avroDir` (e.g. the repository's `schemas/avro`). */
export function loadCatalog(avroDir: string, options: CatalogOptions = {}): Catalog {
  const publishedFile = options.published ?? path.join(avroDir, "..", "published.json");
  const published = new Map<string, Buffer>();
  for (const entry of readJson(publishedFile) as { event_type: string; version: number; fingerprint: string }[]) {
    published.set(`${entry.event_type}/v${entry.version}`, Buffer.from(entry.fingerprint, "hex"));
  }
  const typesDir = path.join(avroDir, "types");
  const named = fs
    .readdirSync(typesDir)
    .filter((f) => f.endsWith(".avsc"))
    .sort()
    .map((f) => readJson(path.join(typesDir, f)));
  const envelope = readJson(path.join(avroDir, "envelope", "Envelope.avsc"));
  const agencyEnum = named.find((t) => fullName(t) === "kim.Agency");

  const schemas: EventSchema[] = [];
  const eventsDir = path.join(avroDir, "events");
  for (const eventType of fs.readdirSync(eventsDir).sort()) {
    const typeDir = path.join(eventsDir, eventType);
    if (!fs.statSync(typeDir).isDirectory()) continue;
    for (const file of fs.readdirSync(typeDir).sort()) {
      const match = VERSION_FILE.exec(file);
      if (!match) continue;
      const version = Number(match[1]);
      const fingerprint = published.get(`${eventType}/v${version}`);
      if (!fingerprint) continue; // not published (yet): no partner may write it
      const payload = readJson(path.join(typeDir, file));
      // A fresh registry per message: v1 and v2 of a type both define their payload record's name.
      const registry: Record<string, avro.Type> = {};
      const opts = { registry, logicalTypes: LOGICAL_TYPES } as Partial<avro.ForSchemaOptions>;
      for (const t of named) avro.Type.forSchema(t, opts);
      const message = {
        type: "record",
        name: eventType,
        namespace: "kim.message",
        fields: [
          { name: "envelope", type: envelope },
          { name: "payload", type: payload },
        ],
      };
      schemas.push({
        eventType,
        version,
        topic: payload["kim.topic"],
        keyField: payload["kim.key"],
        fingerprint,
        type: avro.Type.forSchema(message as avro.Schema, opts),
      });
    }
  }
  if (schemas.length === 0) throw new KimError(`no published event schemas under ${avroDir}`);

  const byType = new Map<string, EventSchema[]>();
  for (const s of schemas) byType.set(s.eventType, [...(byType.get(s.eventType) ?? []), s]);
  const agencies: string[] = agencyEnum
    ? agencyEnum.symbols.filter((s: string) => s !== agencyEnum.default)
    : [];

  return {
    schemas,
    eventTypes: () => [...byType.keys()].sort(),
    agencies: () => [...agencies],
    schemaFor(eventType: string, version?: number): EventSchema {
      const versions = byType.get(eventType);
      if (!versions) {
        throw new KimError(
          `unknown event type ${JSON.stringify(eventType)}; known types: ${[...byType.keys()].sort().join(", ")}`,
        );
      }
      if (version === undefined) return versions.reduce((a, b) => (b.version > a.version ? b : a));
      const found = versions.find((s) => s.version === version);
      if (!found) {
        const known = versions.map((s) => `v${s.version}`).join(", ");
        throw new KimError(`${eventType} has no published version ${JSON.stringify(version)} (published: ${known})`);
      }
      return found;
    },
  };
}
