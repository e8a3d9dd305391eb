package network.kim.partner;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;

/**
 * One event made ready for Kafka: the topic (with the platform's prefix), the record key (the UTF-8 of the case or
 * application id), the single-object bytes, and the signature headers.
 */
public record PreparedRecord(String eventId, String eventType, String topic, String key, byte[] value,
        String signer, String signature) {

    public byte[] keyBytes() {
        return key.getBytes(StandardCharsets.UTF_8);
    }

    /** {@code kim.signer} and {@code kim.sig}, in that order. */
    public List<Header> headers() {
        return List.of(new RecordHeader(SigningKey.SIGNER_HEADER, signer.getBytes(StandardCharsets.UTF_8)),
                new RecordHeader(SigningKey.SIG_HEADER, signature.getBytes(StandardCharsets.US_ASCII)));
    }
}
