/**
 * The partition rule of the contract: murmur2 of the UTF-8 key as Kafka's Java client computes it,
 * masked positive (`& 0x7fffffff`, not `Math.abs`), modulo the topic's partition count. All of a case's events
 * must land in one partition, the one the platform's publishers choose, so that they stay in order.
 */

/** Kafka's murmur2 (seed 0x9747b28c) as a signed 32-bit integer, like `Utils.murmur2` in Java. */
export function murmur2(data: Buffer): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = (0x9747b28c ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  switch (length & 3) {
    case 3:
      h ^= data[whole + 2] << 16;
    // falls through
    case 2:
      h ^= data[whole + 1] << 8;
    // falls through
    case 1:
      h ^= data[whole];
      h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition of a record with `key` on a topic of `partitions` partitions. */
export function partitionOf(key: Buffer | string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`partitions must be ≥ 1, got ${partitions}`);
  const bytes = typeof key === "string" ? Buffer.from(key, "utf8") : key;
  return (murmur2(bytes) & 0x7fffffff) % partitions;
}
