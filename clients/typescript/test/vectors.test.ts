/**
 * The contract's test vectors (`schemas/vectors.json`), reproduced byte for byte — one test per vector:
 * the single-object bytes from the vector's JSON event with that version's schema, the record key, the partition,
 * and both signature headers from the vector's signing key.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { describe, test } from "node:test";
import { Partitioners } from "kafkajs";

import { encodeEvent, encodeWith, loadCatalog, partitionOf, recordKey, SigningKey } from "../src";
import { AVRO_DIR, SCHEMAS, VECTORS_JSON } from "./paths";

interface Vector {
  event_type: string;
  version: number;
  fingerprint: string;
  topic: string;
  event: { envelope: Record<string, unknown>; payload: Record<string, unknown> };
  bytes_hex: string;
  key: string;
  partitions: number;
  partition: number;
  signing_key: string;
  headers: Record<string, string>;
}

const vectors: Vector[] = JSON.parse(fs.readFileSync(VECTORS_JSON, "utf8")).vectors;
const catalog = loadCatalog(AVRO_DIR);
const kafkajsPartitioner = Partitioners.DefaultPartitioner();

describe("schemas/vectors.json", () => {
  test("has a vector for every published event type and version", () => {
    const published: { event_type: string; version: number }[] = JSON.parse(
      fs.readFileSync(`${SCHEMAS}/published.json`, "utf8"),
    );
    const want = published.map((p) => `${p.event_type} v${p.version}`).sort();
    assert.deepEqual(vectors.map((v) => `${v.event_type} v${v.version}`).sort(), want);
    assert.deepEqual(catalog.schemas.map((s) => `${s.eventType} v${s.version}`).sort(), want);
  });

  vectors.forEach((v, i) => {
    test(`vector ${String(i + 1).padStart(2, "0")} ${v.event_type} v${v.version}`, () => {
      const schema = catalog.schemaFor(v.event_type, v.version);
      assert.equal(schema.fingerprint.toString("hex"), v.fingerprint, "published fingerprint");
      assert.equal(schema.topic, v.topic, "topic");

      const bytes = encodeWith(schema, v.event);
      assert.equal(bytes.toString("hex"), v.bytes_hex, "single-object bytes");
      assert.equal(encodeEvent(catalog, v.event, v.version).toString("hex"), v.bytes_hex, "by event_type");

      const key = recordKey(schema, v.event.payload);
      assert.equal(key.toString("utf8"), v.key, "key");
      assert.equal(partitionOf(key, v.partitions), v.partition, "partition");
      const partitionMetadata = Array.from({ length: v.partitions }, (_, p) => ({
        partitionId: p,
        leader: 1,
        replicas: [1],
        isr: [1],
        partitionErrorCode: 0,
      }));
      assert.equal(
        kafkajsPartitioner({ topic: v.topic, partitionMetadata, message: { key, value: bytes } }),
        v.partition,
        "kafkajs's default partitioner agrees",
      );

      const signer = SigningKey.parse(v.signing_key);
      assert.deepEqual(signer.headers(key, bytes), v.headers, "headers");
    });
  });
});
