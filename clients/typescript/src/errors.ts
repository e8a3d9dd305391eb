/** Every error this library raises: one line naming what is wrong (`errors` lists each problem on its own). */
export class KimError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The event does not match its schema, names an unknown type, or may not be published this way. */
export class EncodeError extends KimError {
  readonly eventType: string;
  readonly errors: string[];

  constructor(eventType: string, errors: string[]) {
    super(`invalid ${eventType}: ${errors.join("; ")}`);
    this.eventType = eventType;
    this.errors = errors;
  }
}

/** Kafka did not acknowledge the record (after the producer's retries). */
export class DeliveryError extends KimError {}

/** A value as it is shown in an error message: JSON, cut short. */
export function shown(value: unknown, limit = 80): string {
  let text: string;
  try {
    text = value === undefined ? "undefined" : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  text = text.replace(/\s+/g, " ");
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}
