package network.kim.partner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The contract's test vectors ({@code schemas/vectors.json}): one test per vector, each reproducing byte for byte the
 * single-object bytes from the vector's event JSON with that version's schema, the record key, the partition and both
 * signature headers.
 */
@SuppressWarnings("unchecked")
class VectorsTest {
    private static final HexFormat HEX = HexFormat.of();

    @TestFactory
    Stream<DynamicTest> everyVector() throws IOException {
        Map<String, Object> file = new ObjectMapper().readValue(Contract.vectors().toFile(), Map.class);
        List<Map<String, Object>> vectors = (List<Map<String, Object>>) file.get("vectors");
        assertFalse(vectors.isEmpty(), "vectors.json holds no vectors");
        return vectors.stream().map(v -> DynamicTest.dynamicTest(
                v.get("event_type") + " v" + v.get("version"), () -> reproduce(v)));
    }

    private static void reproduce(Map<String, Object> vector) throws IOException {
        Catalog catalog = Contract.catalog();
        String type = (String) vector.get("event_type");
        EventSchema schema = catalog.version(type, (Integer) vector.get("version"));
        assertEquals(vector.get("fingerprint"), schema.fingerprintHex(), "published fingerprint");
        assertEquals(vector.get("topic"), schema.topic(), "topic");

        Map<String, Object> event = (Map<String, Object>) vector.get("event");
        Map<String, Object> envelope = (Map<String, Object>) event.get("envelope");
        Map<String, Object> payload = (Map<String, Object>) event.get("payload");
        EventEncoder encoder = new EventEncoder(catalog);
        byte[] bytes = encoder.encode(schema, envelope, payload);
        assertEquals(vector.get("bytes_hex"), HEX.formatHex(bytes), "single-object bytes");

        // Apache Avro's own single-object encoder (its own fingerprint) writes the same bytes.
        GenericRecord record = encoder.record(schema, envelope, payload);
        ByteBuffer avro = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), schema.schema()).encode(record);
        byte[] avroBytes = new byte[avro.remaining()];
        avro.get(avroBytes);
        assertArrayEquals(bytes, avroBytes, "Avro's BinaryMessageEncoder");

        String key = String.valueOf(payload.get(schema.keyField()));
        assertEquals(vector.get("key"), key, "key");
        byte[] keyBytes = key.getBytes(StandardCharsets.UTF_8);
        assertEquals(vector.get("partition"), Partitioning.partitionOf(keyBytes, (Integer) vector.get("partitions")),
                "partition");

        SigningKey signing = SigningKey.parse((String) vector.get("signing_key"));
        Map<String, Object> headers = (Map<String, Object>) vector.get("headers");
        assertEquals(headers.get("kim.signer"), signing.keyId(), "kim.signer");
        assertEquals(headers.get("kim.sig"), signing.signatureHeader(keyBytes, bytes), "kim.sig");
    }
}
