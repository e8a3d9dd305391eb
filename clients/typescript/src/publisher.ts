/**
 * `KimPublisher`: one long-lived kafkajs producer that publishes an agency's drafts as signed records.
 * Idempotent (so a retried send is never stored twice) with acks from all in-sync replicas; logs in with
 * SASL/SCRAM-SHA-512 over TLS (`ssl` passes through to kafkajs; give it the installation's CA). The partition
 * is chosen by the contract's rule (`partitionOf`), the same one Kafka's Java client and the platform use.
 */
import type { ConnectionOptions } from "node:tls";
import { Kafka, logLevel, type Producer } from "kafkajs";

import type { Catalog } from "./catalog";
import { prepare, publishingAgency, type EventDraft, type Prepared } from "./draft";
import { DeliveryError, KimError } from "./errors";
import { partitionOf } from "./partition";
import { SigningKey } from "./signing";

export interface PublisherOptions {
  catalog: Catalog;
  /** `host:port[,host:port…]` or a list. */
  bootstrap: string | string[];
  username: string;
  password: string;
  /** As `kim agency add` printed it (`KEYID:base64url`), or parsed. */
  signingKey: string | SigningKey;
  /** Default: the signing key's agency; if given, it must be that agency. */
  agency?: string;
  /** Prepended to the contract's topic names (test installations use `test-xxxx.`). */
  topicPrefix?: string;
  /** TLS for the broker connection: node's TLS options (`{ ca: [pem] }` with the CA `kim agency add` named), true
   * (node's trust store), or false (plaintext, closed test networks only). Default: true. */
  ssl?: boolean | ConnectionOptions;
  clientId?: string;
  /** How long to wait for the broker, per request (ms). */
  requestTimeout?: number;
}

export interface Published {
  topic: string;
  partition: number;
  offset: number;
  eventId: string;
  eventType: string;
}

export class KimPublisher {
  readonly agency: string;
  readonly #options: PublisherOptions;
  readonly #signingKey: SigningKey;
  readonly #producer: Producer;
  #connected: Promise<void> | null = null;

  /** Checks the key and agency at once (KimError); connects on first publish or `connect()`. */
  constructor(options: PublisherOptions) {
    this.#options = options;
    this.#signingKey =
      options.signingKey instanceof SigningKey ? options.signingKey : SigningKey.parse(options.signingKey);
    this.agency = publishingAgency(options.catalog, this.#signingKey, options.agency);
    const brokers = Array.isArray(options.bootstrap) ? options.bootstrap : options.bootstrap.split(",");
    const kafka = new Kafka({
      clientId: options.clientId ?? `kim-ts-${this.agency.toLowerCase()}`,
      brokers: brokers.map((b) => b.trim()).filter(Boolean),
      ssl: options.ssl ?? true,
      sasl: { mechanism: "scram-sha-512", username: options.username, password: options.password },
      requestTimeout: options.requestTimeout ?? 30_000,
      logLevel: logLevel.ERROR,
    });
    this.#producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1, // a case's events stay in order even across retries
      allowAutoTopicCreation: false, // an agency may not create topics; a missing one is an error
      createPartitioner: () => ({ message, partitionMetadata }) =>
        partitionOf(message.key as Buffer, partitionMetadata.length),
    });
  }

  async connect(): Promise<void> {
    this.#connected ??= this.#producer.connect().catch((err: unknown) => {
      this.#connected = null;
      throw new DeliveryError(`cannot connect to Kafka at ${String(this.#options.bootstrap)}: ${describe(err)}`);
    });
    return this.#connected;
  }

  /** Validates, encodes and signs a draft without sending it (EncodeError naming what is wrong). */
  prepare(draft: EventDraft): Prepared {
    return prepare(draft, {
      catalog: this.#options.catalog,
      signingKey: this.#signingKey,
      agency: this.agency,
      topicPrefix: this.#options.topicPrefix,
    });
  }

  /** Publishes one event; resolves once every in-sync replica has it, with where it landed. */
  async publish(draft: EventDraft): Promise<Published> {
    const record = this.prepare(draft); // refused before anything goes over the network
    await this.connect();
    let answer;
    try {
      answer = await this.#producer.send({
        topic: record.topic,
        acks: -1,
        messages: [{ key: record.key, value: record.value, headers: record.headers }],
      });
    } catch (err) {
      throw new DeliveryError(`${record.eventType} ${record.eventId} not acknowledged by ${record.topic}: ${describe(err)}`);
    }
    const [meta] = answer;
    if (!meta || meta.errorCode !== 0 || meta.baseOffset === undefined) {
      throw new DeliveryError(`${record.eventType} ${record.eventId}: no acknowledgement from ${record.topic}`);
    }
    return {
      topic: meta.topicName,
      partition: meta.partition,
      offset: Number(meta.baseOffset),
      eventId: record.eventId,
      eventType: record.eventType,
    };
  }

  async close(): Promise<void> {
    if (this.#connected) {
      this.#connected = null;
      await this.#producer.disconnect();
    }
  }
}

function describe(err: unknown): string {
  if (err instanceof KimError) return err.message;
  const e = err as { message?: string; cause?: { message?: string }; type?: string };
  const parts = [e?.type, e?.message ?? String(err), e?.cause?.message].filter(Boolean);
  return parts.join(": ").replace(/\s+/g, " ");
}
