package network.kim.partner;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.utils.Utils;

/**
 * The contract's partition rule: murmur2 of the UTF-8 record key, masked positive, modulo the partition count — what
 * Kafka's Java client does for a keyed record by default. The platform keeps a case's (or an application's) events in
 * order because they all land in one partition, so every publisher must choose the same one; {@link KimPublisher}
 * sets it explicitly rather than trusting whatever partitioner a configuration names.
 */
public final class Partitioning {
    private Partitioning() {}

    public static int partitionOf(byte[] key, int partitions) {
        if (partitions <= 0) {
            throw new IllegalArgumentException("partitions must be positive, got " + partitions);
        }
        return Utils.toPositive(Utils.murmur2(key)) % partitions;
    }

    public static int partitionOf(String key, int partitions) {
        return partitionOf(key.getBytes(StandardCharsets.UTF_8), partitions);
    }
}
