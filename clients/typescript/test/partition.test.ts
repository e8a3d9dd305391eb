/** murmur2 and the partition rule beyond the vectors (whose keys are only two): expected values from the
 * platform's murmur2 (aiokafka's, as Kafka's Java client), for keys of every length mod 4 and non-ASCII UTF-8. */
import assert from "node:assert/strict";
import { test } from "node:test";

import { murmur2, partitionOf } from "../src";

// [key, murmur2 as unsigned 32-bit, partition of 6, of 3, of 7]
const EXPECTED: [string, number, number, number, number][] = [
  ["", 275646681, 3, 0, 2],
  ["a", 2731586172, 4, 1, 5],
  ["ab", 316155434, 2, 2, 0],
  ["abc", 479470107, 3, 0, 4],
  ["C-1", 100757783, 5, 2, 0],
  ["DO-2025-004711", 2261935116, 4, 1, 5],
  ["ABH-2025-018342", 3035934630, 4, 1, 6],
  ["DO-2026-000123", 1432611756, 0, 0, 2],
  ["JMD-TS-7", 2740139396, 0, 0, 6],
  ["Überweisung-ß-€", 3002713378, 2, 2, 5],
  ["x".repeat(33), 1836250449, 3, 0, 5],
];

for (const [key, hash, p6, p3, p7] of EXPECTED) {
  test(`partition of ${JSON.stringify(key)}`, () => {
    assert.equal(murmur2(Buffer.from(key, "utf8")) >>> 0, hash);
    assert.deepEqual([partitionOf(key, 6), partitionOf(key, 3), partitionOf(Buffer.from(key), 7)], [p6, p3, p7]);
  });
}
