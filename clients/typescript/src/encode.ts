/**
 * An event `{envelope, payload}` in JSON form → Avro single-object encoding:
 * `C3 01`, the writer schema's published fingerprint (8 bytes), then the Avro binary body.
 *
 * The JSON form is the one `schemas/vectors.json` holds and partners write: timestamps and dates as ISO 8601
 * strings, Avro `bytes` as lowercase hex, unions as plain values. `toAvro` checks it against the schema first and
 * converts what avsc cannot take as it is (hex → bytes), so a bad event fails with every field named.
 */
import type { Catalog, EventSchema } from "./catalog";
import { EncodeError, KimError, shown } from "./errors";

export const MAGIC = Buffer.from([0xc3, 0x01]);

export interface EventJson {
  envelope: Record<string, unknown>;
  payload: Record<string, unknown>;
}

type AnyType = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (Buffer.isBuffer(value)) return "bytes";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

function describe(type: AnyType): string {
  const name: string = type.typeName;
  if (name.startsWith("logical:")) return name.slice("logical:".length);
  if (name === "record" || name === "enum" || name === "fixed") return `${name} ${type.name.split(".").pop()}`;
  if (name === "array") return `array of ${describe(type.itemsType)}`;
  if (name.startsWith("union:")) return type.types.map(describe).join(" or ");
  return name;
}

/**
 * `value` checked against `type` and converted for avsc; every problem is pushed to `errors` as
 * `path: reason`. Returns the converted value (meaningless when errors were added).
 */
export function toAvro(type: AnyType, value: unknown, path: string, errors: string[]): unknown {
  const at = path || "event";
  const name: string = type.typeName;
  if (name.startsWith("logical:")) {
    try {
      type._toValue(value);
      return value;
    } catch (err) {
      errors.push(`${at}: ${shown(value)} is not a valid ${describe(type)}: ${(err as Error).message}`);
      return value;
    }
  }
  switch (name) {
    case "record": {
      if (!isObject(value)) {
        errors.push(`${at}: expected an object (${describe(type)}), got ${kindOf(value)}`);
        return value;
      }
      const out: Record<string, unknown> = {};
      const declared = new Set<string>();
      for (const field of type.fields) {
        declared.add(field.name);
        const where = path ? `${path}.${field.name}` : field.name;
        if (value[field.name] === undefined) {
          if (field.defaultValue() === undefined) errors.push(`${where}: required field is missing`);
          continue; // avsc writes the field's default
        }
        out[field.name] = toAvro(field.type, value[field.name], where, errors);
      }
      for (const key of Object.keys(value)) {
        if (!declared.has(key)) errors.push(`${path ? `${path}.${key}` : key}: unknown field of ${describe(type)}`);
      }
      return out;
    }
    case "enum":
      if (typeof value !== "string" || !type.symbols.includes(value)) {
        errors.push(`${at}: ${shown(value)} is not one of ${type.symbols.join(", ")}`);
      }
      return value;
    case "array":
      if (!Array.isArray(value)) {
        errors.push(`${at}: expected an array, got ${kindOf(value)}`);
        return value;
      }
      return value.map((item, i) => toAvro(type.itemsType, item, `${at}.${i}`, errors));
    case "map":
      if (!isObject(value)) {
        errors.push(`${at}: expected an object (map), got ${kindOf(value)}`);
        return value;
      }
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, toAvro(type.valuesType, v, `${at}.${k}`, errors)]),
      );
    case "union:unwrapped":
    case "union:wrapped": {
      const branches: AnyType[] = type.types;
      const wrapped = name === "union:wrapped";
      const nullable = branches.some((b) => b.typeName === "null");
      if (value === null || value === undefined) {
        if (nullable) return null;
        errors.push(`${at}: must not be null (${describe(type)})`);
        return value;
      }
      const candidates = branches.filter((b) => b.typeName !== "null");
      let firstErrors: string[] = [];
      for (const branch of candidates) {
        const found: string[] = [];
        const converted = toAvro(branch, value, path, found);
        if (found.length === 0) return wrapped ? { [branch.branchName]: converted } : converted;
        if (firstErrors.length === 0) firstErrors = found;
      }
      if (candidates.length === 1) errors.push(...firstErrors);
      else errors.push(`${at}: ${shown(value)} is none of ${describe(type)}`);
      return value;
    }
    case "null":
      if (value !== null) errors.push(`${at}: expected null, got ${kindOf(value)}`);
      return value;
    case "boolean":
      if (typeof value !== "boolean") errors.push(`${at}: expected a boolean, got ${kindOf(value)}`);
      return value;
    case "int":
    case "long": {
      const limit = name === "int" ? 2 ** 31 : 2 ** 53;
      if (typeof value !== "number" || !Number.isInteger(value) || value < -limit || value >= limit) {
        errors.push(`${at}: expected an integer (${name}), got ${shown(value)}`);
      }
      return value;
    }
    case "float":
    case "double":
      if (typeof value !== "number") errors.push(`${at}: expected a number, got ${kindOf(value)}`);
      return value;
    case "string":
      if (typeof value !== "string") errors.push(`${at}: expected a string, got ${kindOf(value)}`);
      return value;
    case "bytes":
    case "fixed": {
      if (Buffer.isBuffer(value)) return value;
      if (typeof value !== "string" || !HEX.test(value)) {
        errors.push(`${at}: expected bytes as a hex string, got ${shown(value)}`);
        return value;
      }
      const bytes = Buffer.from(value, "hex");
      if (name === "fixed" && bytes.length !== type.size) {
        errors.push(`${at}: expected ${type.size} bytes, got ${bytes.length}`);
      }
      return bytes;
    }
    default:
      errors.push(`${at}: cannot write Avro type ${name}`);
      return value;
  }
}

/** The single-object bytes of `event` written with `schema`; EncodeError naming every invalid field. */
export function encodeWith(schema: EventSchema, event: EventJson): Buffer {
  const errors: string[] = [];
  if (!isObject(event)) throw new EncodeError(schema.eventType, [`event: expected {envelope, payload}, got ${kindOf(event)}`]);
  const datum = toAvro(schema.type, event, "", errors);
  const declared = isObject(event.envelope) ? event.envelope.event_type : undefined;
  if (declared !== undefined && declared !== schema.eventType) {
    errors.push(`envelope.event_type: ${shown(declared)} does not match the schema's type ${schema.eventType}`);
  }
  if (errors.length > 0) throw new EncodeError(schema.eventType, errors);
  let body: Buffer;
  try {
    body = schema.type.toBuffer(datum);
  } catch (err) {
    throw new EncodeError(schema.eventType, [`event: cannot be written as Avro: ${(err as Error).message}`]);
  }
  return Buffer.concat([MAGIC, schema.fingerprint, body]);
}

/**
 * The single-object bytes of `event`, written by its type's newest published version or the given `version`.
 * The type is the envelope's `event_type`.
 */
export function encodeEvent(catalog: Catalog, event: EventJson, version?: number): Buffer {
  const eventType = isObject(event) && isObject(event.envelope) ? event.envelope.event_type : undefined;
  if (typeof eventType !== "string") {
    throw new EncodeError("event", ["envelope.event_type: required field is missing or not a string"]);
  }
  let schema: EventSchema;
  try {
    schema = catalog.schemaFor(eventType, version);
  } catch (err) {
    if (err instanceof KimError) throw new EncodeError(eventType, [`event_type: ${err.message}`]);
    throw err;
  }
  return encodeWith(schema, event);
}

/** The record key: the UTF-8 of the payload's key field (`case_id`, `application_id`). */
export function recordKey(schema: EventSchema, payload: Record<string, unknown>): Buffer {
  const key = payload[schema.keyField];
  if (typeof key !== "string" || key === "") {
    throw new EncodeError(schema.eventType, [`payload.${schema.keyField}: required field is missing`]);
  }
  return Buffer.from(key, "utf8");
}

