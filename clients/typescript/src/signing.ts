/**
 * Record signatures. The broker's ACLs decide whether a login may write a topic, not what a record claims, so
 * every record carries `kim.signer` (the key id) and `kim.sig`: standard base64 (with padding) of
 * HMAC-SHA256(secret, 4-byte big-endian key length ‖ key ‖ value). The length prefix keeps the key/value split
 * unambiguous. The platform's workers accept an event only if its signature verifies with a key of the agency
 * named as its `source_agency`.
 */
import { createHmac } from "node:crypto";

import { KimError } from "./errors";

export const SIGNER_HEADER = "kim.signer";
export const SIG_HEADER = "kim.sig";
const PLATFORM_SIGNER = "kim-platform";

export class SigningKey {
  readonly keyId: string;
  readonly #secret: Buffer;

  constructor(keyId: string, secret: Buffer) {
    this.keyId = keyId;
    this.#secret = Buffer.from(secret);
  }

  /**
   * The key as `kim agency add` prints it: `KEYID:base64url(secret)`. Split at the LAST colon: the secret's
   * alphabet has none, a key id might.
   */
  static parse(text: string): SigningKey {
    const trimmed = String(text).trim();
    const at = trimmed.lastIndexOf(":");
    const keyId = at > 0 ? trimmed.slice(0, at) : "";
    const encoded = at > 0 ? trimmed.slice(at + 1) : "";
    const secret = /^[A-Za-z0-9_-]+={0,2}$/.test(encoded) ? Buffer.from(encoded, "base64url") : Buffer.alloc(0);
    if (!keyId || secret.length < 16) {
      throw new KimError("a signing key looks like 'AGENCY.xxxxxxxx:<base64url>' as `kim agency add` printed it");
    }
    return new SigningKey(keyId, secret);
  }

  /** The agency this key speaks for (the key id before its last `.`); null for the platform's key. */
  get agency(): string | null {
    if (this.keyId === PLATFORM_SIGNER) return null;
    const dot = this.keyId.lastIndexOf(".");
    return dot > 0 ? this.keyId.slice(0, dot) : this.keyId;
  }

  /** The 32-byte HMAC-SHA256 of the record's key and value. */
  signature(key: Buffer | null, value: Buffer | null): Buffer {
    const k = key ?? Buffer.alloc(0);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(k.length);
    return createHmac("sha256", this.#secret)
      .update(length)
      .update(k)
      .update(value ?? Buffer.alloc(0))
      .digest();
  }

  /** The two headers every record carries, as strings. */
  headers(key: Buffer | null, value: Buffer | null): Record<string, string> {
    return { [SIGNER_HEADER]: this.keyId, [SIG_HEADER]: this.signature(key, value).toString("base64") };
  }

  toString(): string {
    return `SigningKey(${this.keyId})`; // never the secret
  }
}
