package network.kim.partner;

import java.util.HexFormat;
import org.apache.avro.Schema;

/**
 * One published version of one event type: the message schema {@code {envelope, payload}}, its CRC-64-AVRO
 * fingerprint (8 bytes, little-endian, as it appears on the wire), and where its events go (the {@code kim.topic}
 * and {@code kim.key} attributes of the payload schema).
 */
public record EventSchema(String eventType, int version, String topic, String keyField, Schema schema,
        byte[] fingerprint) {

    public EventSchema {
        fingerprint = fingerprint.clone();
    }

    @Override
    public byte[] fingerprint() {
        return fingerprint.clone();
    }

    public String fingerprintHex() {
        return HexFormat.of().formatHex(fingerprint);
    }

    public Schema envelopeSchema() {
        return schema.getField("envelope").schema();
    }

    public Schema payloadSchema() {
        return schema.getField("payload").schema();
    }

    @Override
    public String toString() {
        return eventType + " v" + version + " (" + fingerprintHex() + ")";
    }
}
