package network.kim.partner;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;

/**
 * The event catalog, read from the contract's schema directory ({@code schemas/avro} of the platform's repository):
 *
 * <ul>
 *   <li>{@code types/*.avsc}: shared named types (enums such as {@code kim.Agency}), referenced by name;
 *   <li>{@code envelope/Envelope.avsc}: the envelope every event carries;
 *   <li>{@code events/<Type>/v<N>.avsc}: the payload of each published version of each event type.
 * </ul>
 *
 * <p>Each version becomes one message schema {@code {envelope, payload}} named {@code kim.message.<Type>}, as the
 * platform composes it. Every version is kept (old versions are still valid writers); {@link #current} is the
 * highest, the one a publisher writes with.
 *
 * <p>Fingerprints come from {@code published.json} beside the schema directory when it is there: the contract says to
 * take them from that file rather than from an Avro library, because some libraries canonicalise schemas with
 * logical types differently. Apache Avro Java's own fingerprint is used only for versions not (yet) listed there.
 */
public final class Catalog {
    private static final Pattern VERSION_FILE = Pattern.compile("v(\\d+)\\.avsc");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Map<String, List<EventSchema>> byType; // versions ascending

    private Catalog(Map<String, List<EventSchema>> byType) {
        this.byType = byType;
    }

    /** Loads {@code avroDir}, with the fingerprints of {@code avroDir/../published.json} if that file exists. */
    public static Catalog load(Path avroDir) {
        Path published = avroDir.toAbsolutePath().getParent().resolve("published.json");
        return load(avroDir, Files.isRegularFile(published) ? published : null);
    }

    /** Loads {@code avroDir}; {@code publishedJson} (may be null) pins the fingerprint of each published version. */
    public static Catalog load(Path avroDir, Path publishedJson) {
        if (!Files.isDirectory(avroDir.resolve("events"))) {
            throw new KimException("no event schemas in " + avroDir + " (expected the contract's schemas/avro, with"
                    + " events/, types/ and envelope/)");
        }
        Map<String, byte[]> pinned = publishedJson == null ? Map.of() : readPublished(publishedJson);
        List<String> types = listAvsc(avroDir.resolve("types")).stream().map(Catalog::read).toList();
        String envelope = read(avroDir.resolve("envelope").resolve("Envelope.avsc"));
        Map<String, List<EventSchema>> byType = new TreeMap<>();
        for (Path typeDir : sorted(avroDir.resolve("events"))) {
            if (!Files.isDirectory(typeDir)) {
                continue;
            }
            String eventType = typeDir.getFileName().toString();
            List<EventSchema> versions = new ArrayList<>();
            for (Path file : sorted(typeDir)) {
                Matcher match = VERSION_FILE.matcher(file.getFileName().toString());
                if (match.matches()) {
                    int version = Integer.parseInt(match.group(1));
                    Schema message = compose(eventType, types, envelope, read(file), file);
                    byte[] fingerprint = pinned.getOrDefault(eventType + "/" + version, javaFingerprint(message));
                    versions.add(eventSchema(eventType, version, message, fingerprint, file));
                }
            }
            if (!versions.isEmpty()) {
                versions.sort(Comparator.comparingInt(EventSchema::version));
                byType.put(eventType, List.copyOf(versions));
            }
        }
        return new Catalog(Collections.unmodifiableMap(byType));
    }

    /** The version a publisher writes with (the highest). */
    public EventSchema current(String eventType) {
        List<EventSchema> versions = versionsOf(eventType);
        return versions.get(versions.size() - 1);
    }

    /** A given published version of {@code eventType}. */
    public EventSchema version(String eventType, int version) {
        return versionsOf(eventType).stream()
                .filter(s -> s.version() == version)
                .findFirst()
                .orElseThrow(() -> new InvalidEventException(eventType,
                        List.of("version: " + eventType + " has no version " + version)));
    }

    public SortedSet<String> eventTypes() {
        return new TreeSet<>(byType.keySet());
    }

    /** Every version of every type, by type then version. */
    public List<EventSchema> schemas() {
        return byType.values().stream().flatMap(List::stream).toList();
    }

    /** The symbols of {@code kim.Agency}, the agencies an envelope may name. */
    public List<String> agencies() {
        return schemas().get(0).envelopeSchema().getField("source_agency").schema().getEnumSymbols();
    }

    private List<EventSchema> versionsOf(String eventType) {
        List<EventSchema> versions = eventType == null ? null : byType.get(eventType);
        if (versions == null) {
            throw new InvalidEventException(String.valueOf(eventType), List.of("event_type: unknown type '"
                    + eventType + "'; known types: " + String.join(", ", byType.keySet())));
        }
        return versions;
    }

    /**
     * The message schema of one version. A fresh parser per version: two versions of a type define the same payload
     * name, which one parser would refuse as a redefinition.
     */
    private static Schema compose(String eventType, List<String> types, String envelope, String payload, Path file) {
        try {
            Schema.Parser parser = new Schema.Parser();
            parseTypes(parser, types);
            Schema envelopeSchema = parser.parse(envelope);
            Schema payloadSchema = parser.parse(payload);
            if (!eventType.equals(payloadSchema.getName())) {
                throw new KimException(file + ": the payload record is named " + payloadSchema.getName()
                        + ", not " + eventType);
            }
            List<Schema.Field> fields = List.of(new Schema.Field("envelope", envelopeSchema),
                    new Schema.Field("payload", payloadSchema));
            return Schema.createRecord(eventType, null, "kim.message", false, fields);
        } catch (RuntimeException e) {
            if (e instanceof KimException) {
                throw e;
            }
            throw new KimException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** Named types may refer to each other: parse what can be parsed until nothing is left (or nothing moves). */
    private static void parseTypes(Schema.Parser parser, List<String> types) {
        List<String> left = new ArrayList<>(types);
        while (!left.isEmpty()) {
            List<String> failed = new ArrayList<>();
            RuntimeException last = null;
            for (String type : left) {
                try {
                    parser.parse(type);
                } catch (RuntimeException e) {
                    failed.add(type);
                    last = e;
                }
            }
            if (failed.size() == left.size()) {
                throw new KimException("cannot read the named types: " + last.getMessage(), last);
            }
            left = failed;
        }
    }

    private static EventSchema eventSchema(String eventType, int version, Schema message, byte[] fingerprint,
            Path file) {
        Schema payload = message.getField("payload").schema();
        String topic = payload.getProp("kim.topic");
        String key = payload.getProp("kim.key");
        if (topic == null || key == null) {
            throw new KimException(file + ": the payload schema names no kim.topic or kim.key");
        }
        return new EventSchema(eventType, version, topic, key, message, fingerprint);
    }

    /** Apache Avro Java's CRC-64-AVRO fingerprint of the parsing canonical form, little-endian as on the wire. */
    static byte[] javaFingerprint(Schema schema) {
        long fp = SchemaNormalization.parsingFingerprint64(schema);
        byte[] out = new byte[8];
        for (int i = 0; i < 8; i++) {
            out[i] = (byte) (fp >>> (8 * i));
        }
        return out;
    }

    private static Map<String, byte[]> readPublished(Path file) {
        try {
            Map<String, byte[]> out = new HashMap<>();
            for (JsonNode entry : JSON.readTree(file.toFile())) {
                out.put(entry.get("event_type").asText() + "/" + entry.get("version").asInt(),
                        HexFormat.of().parseHex(entry.get("fingerprint").asText()));
            }
            return out;
        } catch (IOException | RuntimeException e) {
            throw new KimException("cannot read the published fingerprints " + file + ": " + e.getMessage(), e);
        }
    }

    private static List<Path> listAvsc(Path dir) {
        return sorted(dir).stream().filter(p -> p.getFileName().toString().endsWith(".avsc")).toList();
    }

    private static List<Path> sorted(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> entries = Files.list(dir)) {
            Path[] paths = entries.toArray(Path[]::new);
            Arrays.sort(paths);
            return List.of(paths);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new KimException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }
}
