package network.kim.partner.example;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import network.kim.partner.Catalog;
import network.kim.partner.EventDraft;
import network.kim.partner.KimException;
import network.kim.partner.KimPublisher;
import network.kim.partner.Published;
import network.kim.partner.SigningKey;

/**
 * An agency takes a case into its case management: it publishes {@code CaseManagerAssigned} for a case it holds (it
 * opened the case through the gateway) and prints where the event landed. The caseload read model then shows the case
 * manager and the agency employing them.
 *
 * <p>Settings, from the environment (the secrets {@code kim agency add} printed):
 *
 * <pre>
 *   KIM_KAFKA_BOOTSTRAP       brokers (default 127.0.0.1:19092)
 *   KIM_KAFKA_SECURITY_PROTOCOL  SASL_SSL (default) or SASL_PLAINTEXT (closed test networks only)
 *   KIM_KAFKA_CA_FILE            the CA file kim agency add named (default: the JVM's trust store)
 *   KIM_AGENCY_USERNAME       the agency's Kafka username, e.g. agency-jobcenter
 *   KIM_AGENCY_PASSWORD       its Kafka password
 *   KIM_AGENCY_SIGNING_KEY    its signing key, KEYID:secret as printed (names the agency)
 *   KIM_TOPIC_PREFIX          prefix of the platform's topics (default empty)
 *   KIM_CASE_ID               the case, e.g. DO-2026-000123
 *   KIM_CASE_MANAGER_REF      the case manager's pseudonymous staff reference (default CM-0001)
 *   KIM_SCHEMAS               the contract's schemas/avro directory (default ../../schemas/avro)
 * </pre>
 *
 * <p>Exit code 0 when Kafka acknowledged the event, 1 when it was refused, 2 when a setting is missing.
 */
public final class PublishExample {
    private PublishExample() {}

    public static void main(String[] args) {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel",
                System.getProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn"));
        try {
            SigningKey key = SigningKey.parse(required("KIM_AGENCY_SIGNING_KEY"));
            String agency = key.agency().orElseThrow(() -> new KimException("the example publishes as an agency;"
                    + " give it an agency's signing key, not the platform's"));
            String caseId = required("KIM_CASE_ID");
            Path schemas = Path.of(setting("KIM_SCHEMAS", "../../schemas/avro"));
            if (!Files.isDirectory(schemas)) {
                throw new Missing("KIM_SCHEMAS: no directory " + schemas.toAbsolutePath());
            }
            try (KimPublisher publisher = KimPublisher.builder()
                    .bootstrap(setting("KIM_KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
                    .securityProtocol(setting("KIM_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"))
                    .caFile(setting("KIM_KAFKA_CA_FILE", null))
                    .login(required("KIM_AGENCY_USERNAME"), required("KIM_AGENCY_PASSWORD"))
                    .agency(agency)
                    .signingKey(key)
                    .topicPrefix(setting("KIM_TOPIC_PREFIX", ""))
                    .catalog(Catalog.load(schemas))
                    .build()) {
                EventDraft assigned = EventDraft.of("CaseManagerAssigned", Map.of(
                                "case_id", caseId,
                                "case_manager_ref", setting("KIM_CASE_MANAGER_REF", "CM-0001"),
                                "agency", agency))
                        .occurredAt(Instant.now());
                Published where = publisher.publish(assigned);
                System.out.printf("published %s %s topic=%s partition=%d offset=%d%n", where.eventType(),
                        where.eventId(), where.topic(), where.partition(), where.offset());
            }
        } catch (Missing e) {
            System.err.println("error: " + e.getMessage());
            System.exit(2);
        } catch (KimException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(1);
        }
    }

    private static String required(String name) {
        String value = System.getenv(name);
        if (value == null || value.isBlank()) {
            throw new Missing(name + " is not set");
        }
        return value;
    }

    private static String setting(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isBlank() ? fallback : value;
    }

    /** A setting the example cannot run without. */
    private static final class Missing extends KimException {
        private static final long serialVersionUID = 1L;

        Missing(String message) {
            super(message);
        }
    }
}
