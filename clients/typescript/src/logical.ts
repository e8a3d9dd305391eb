/**
 * The logical types the schemas declare, as avsc LogicalType classes: partners write ISO 8601 strings, Avro
 * carries `timestamp-micros` as a long (microseconds since the epoch, UTC), `date` as an int (days since the
 * epoch) and `uuid` as the string itself. Microseconds are parsed from the text, not through `Date` (which keeps
 * only milliseconds), so `…T09:30:00.123456Z` encodes exactly as the platform encodes it.
 */
import * as avro from "avsc";

const DAY_MS = 86_400_000;
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?(Z|z|[+-]\d{2}:?\d{2})$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Milliseconds of a calendar day at midnight UTC, or undefined when there is no such day (2025-02-30). */
function utcDay(year: number, month: number, day: number): number | undefined {
  const at = new Date(0);
  at.setUTCFullYear(year, month - 1, day); // not Date.UTC: it maps years 0–99 to 1900–1999
  return at.getUTCFullYear() === year && at.getUTCMonth() === month - 1 && at.getUTCDate() === day
    ? at.getTime()
    : undefined;
}

/**
 * An ISO 8601 timestamp with a timezone as milliseconds since the epoch plus the microseconds within the
 * millisecond (so that a range check works for any year); Error saying why not otherwise.
 */
export function parseTimestamp(value: unknown): { ms: number; micros: number } {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new Error("an invalid Date");
    return { ms: value.getTime(), micros: 0 };
  }
  if (typeof value !== "string") throw new Error("expected an ISO 8601 timestamp with a timezone");
  const m = TIMESTAMP.exec(value);
  if (!m) throw new Error("expected an ISO 8601 timestamp with a timezone, e.g. 2025-03-01T10:00:00Z");
  const [, y, mo, d, h, mi, s = "0", frac = "", zone] = m;
  const day = utcDay(Number(y), Number(mo), Number(d));
  if (day === undefined || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    throw new Error("not a valid date and time");
  }
  let offsetMinutes = 0;
  if (zone !== "Z" && zone !== "z") {
    const digits = zone.replace(":", "");
    const sign = digits[0] === "-" ? -1 : 1;
    offsetMinutes = sign * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5)));
  }
  const micros = Number(frac.padEnd(6, "0"));
  const ms = day + ((Number(h) * 60 + Number(mi) - offsetMinutes) * 60 + Number(s)) * 1000 + Math.floor(micros / 1000);
  return { ms, micros: micros % 1000 };
}

/** Microseconds since the epoch of an ISO 8601 timestamp with a timezone (what `timestamp-micros` carries). */
export function parseTimestampMicros(value: unknown): number {
  const { ms, micros } = parseTimestamp(value);
  const total = ms * 1000 + micros;
  if (!Number.isSafeInteger(total)) throw new Error("out of the range this client can encode (years 1685 to 2254)");
  return total;
}

/** Days since the epoch of a `YYYY-MM-DD` date. */
export function parseDateDays(value: unknown): number {
  if (typeof value !== "string") throw new Error("expected a date YYYY-MM-DD");
  const m = DATE.exec(value);
  const day = m ? utcDay(Number(m[1]), Number(m[2]), Number(m[3])) : undefined;
  if (day === undefined) throw new Error("expected a date YYYY-MM-DD");
  return day / DAY_MS;
}

function isoMicros(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const rest = micros - ms * 1000;
  const base = new Date(ms).toISOString(); // …T09:30:00.123Z
  return rest === 0 ? base : `${base.slice(0, -1)}${String(rest).padStart(3, "0")}Z`;
}

export class TimestampMicrosType extends avro.types.LogicalType {
  protected _fromValue(val: number): string {
    return isoMicros(val);
  }
  protected _toValue(any: unknown): number {
    return parseTimestampMicros(any);
  }
  protected _resolve(type: avro.Type): unknown {
    // Another timestamp-micros (or a plain long) reads as itself.
    return avro.Type.isType(type, "long", "logical:timestamp-micros") ? this._fromValue.bind(this) : undefined;
  }
}

export class DateType extends avro.types.LogicalType {
  protected _fromValue(val: number): string {
    return new Date(val * DAY_MS).toISOString().slice(0, 10);
  }
  protected _toValue(any: unknown): number {
    return parseDateDays(any);
  }
  protected _resolve(type: avro.Type): unknown {
    return avro.Type.isType(type, "int", "logical:date") ? this._fromValue.bind(this) : undefined;
  }
}

export class UuidType extends avro.types.LogicalType {
  protected _fromValue(val: string): string {
    return val;
  }
  protected _toValue(any: unknown): string {
    if (typeof any !== "string" || !UUID.test(any)) throw new Error("expected a UUID like 4b6c1396-6b4a-55f1-8605-210bd8ead903");
    return any;
  }
  protected _resolve(type: avro.Type): unknown {
    return avro.Type.isType(type, "string", "logical:uuid") ? this._fromValue.bind(this) : undefined;
  }
}

/** What `avro.Type.forSchema` is given as `logicalTypes`. */
export const LOGICAL_TYPES = {
  "timestamp-micros": TimestampMicrosType,
  date: DateType,
  uuid: UuidType,
};
