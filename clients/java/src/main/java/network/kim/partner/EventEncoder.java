package network.kim.partner;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;

/**
 * Encodes an event — envelope and payload as JSON-like maps — into Avro single-object encoding: {@code C3 01}, the
 * writer schema's 8-byte CRC-64-AVRO fingerprint (little-endian), then the Avro binary body of
 * {@code {envelope, payload}}.
 *
 * <p>The framing is written here rather than by Avro's {@code BinaryMessageEncoder} so that the fingerprint is the
 * one the contract pins ({@link EventSchema#fingerprint()}, from {@code published.json}), whatever this Avro version
 * computes; for today's schemas both are the same (a test checks it).
 */
public final class EventEncoder {
    static final byte[] MAGIC = {(byte) 0xC3, (byte) 0x01};

    private final Catalog catalog;

    public EventEncoder(Catalog catalog) {
        this.catalog = catalog;
    }

    public Catalog catalog() {
        return catalog;
    }

    /** The event written by the current version of its type. */
    public byte[] encode(String eventType, Map<String, ?> envelope, Map<String, ?> payload) {
        return encode(catalog.current(eventType), envelope, payload);
    }

    /** The event written by a given version (e.g. to reproduce an older published vector). */
    public byte[] encode(String eventType, int version, Map<String, ?> envelope, Map<String, ?> payload) {
        return encode(catalog.version(eventType, version), envelope, payload);
    }

    public byte[] encode(EventSchema schema, Map<String, ?> envelope, Map<String, ?> payload) {
        return frame(schema, record(schema, envelope, payload));
    }

    /** The Avro record of the event; {@link InvalidEventException} listing every field that does not fit. */
    public GenericRecord record(EventSchema schema, Map<String, ?> envelope, Map<String, ?> payload) {
        List<String> errors = new ArrayList<>();
        Object type = envelope == null ? null : envelope.get("event_type");
        if (type != null && !schema.eventType().equals(type)) {
            errors.add("envelope.event_type: " + DatumConverter.shown(type) + " is not " + schema.eventType());
        }
        GenericData.Record record = new GenericData.Record(schema.schema());
        record.put("envelope", DatumConverter.record(schema.envelopeSchema(), envelope, "envelope", errors));
        record.put("payload", DatumConverter.record(schema.payloadSchema(), payload, "payload", errors));
        if (!errors.isEmpty()) {
            throw new InvalidEventException(schema.eventType(), errors);
        }
        return record;
    }

    /** Single-object encoding of a record of {@code schema}. */
    public static byte[] frame(EventSchema schema, GenericRecord record) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        out.writeBytes(MAGIC);
        out.writeBytes(schema.fingerprint());
        try {
            BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
            new GenericDatumWriter<GenericRecord>(schema.schema(), GenericData.get()).write(record, encoder);
            encoder.flush();
        } catch (IOException | RuntimeException e) {
            throw new InvalidEventException(schema.eventType(), List.of("event: cannot be written as Avro: "
                    + e.getMessage()));
        }
        return out.toByteArray();
    }
}
