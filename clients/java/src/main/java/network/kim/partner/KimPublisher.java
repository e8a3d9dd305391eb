package network.kim.partner;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Publishes an agency's events to the KIM partner network: validates and signs them ({@link EventPreparer}), sends
 * them with an idempotent producer that waits for every in-sync replica ({@code acks=all}) into the partition the
 * contract names ({@link Partitioning}), and reports where each landed.
 *
 * <pre>{@code
 * try (KimPublisher jobcenter = KimPublisher.builder()
 *         .bootstrap("127.0.0.1:19092")
 *         .login("agency-jobcenter", password)
 *         .agency("JOBCENTER")
 *         .signingKey(printedSigningKey)
 *         .catalog(Catalog.load(Path.of("schemas/avro")))
 *         .build()) {
 *     Published where = jobcenter.publish(EventDraft.of("CaseManagerAssigned",
 *             Map.of("case_id", "DO-2026-000123", "case_manager_ref", "CM-JC-0042", "agency", "JOBCENTER")));
 * }
 * }</pre>
 *
 * <p>Thread-safe: one publisher (one producer, one connection set) serves every thread of an application.
 */
public final class KimPublisher implements AutoCloseable {
    private final EventPreparer preparer;
    private final KafkaProducer<byte[], byte[]> producer;
    private final Duration timeout;
    private final String principal;

    private KimPublisher(EventPreparer preparer, KafkaProducer<byte[], byte[]> producer, Duration timeout,
            String principal) {
        this.preparer = preparer;
        this.producer = producer;
        this.timeout = timeout;
        this.principal = principal;
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Sends one event and waits until Kafka acknowledged it. {@link InvalidEventException} when the event breaks the
     * contract (nothing is sent), {@link PublishException} when Kafka did not take it.
     */
    public Published publish(EventDraft draft) {
        PreparedRecord prepared = preparer.prepare(draft);
        int partition = Partitioning.partitionOf(prepared.keyBytes(), partitionCount(prepared.topic()));
        ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(prepared.topic(), partition,
                prepared.keyBytes(), prepared.value(), prepared.headers());
        try {
            // The producer gives up by itself after delivery.timeout.ms (twice the timeout); wait a little longer.
            RecordMetadata meta = producer.send(record).get(2 * timeout.toMillis() + 5_000, TimeUnit.MILLISECONDS);
            return new Published(meta.topic(), meta.partition(), meta.offset(), prepared.eventId(),
                    prepared.eventType());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PublishException("interrupted while waiting for Kafka to acknowledge " + prepared.eventType(),
                    e);
        } catch (ExecutionException e) {
            throw new PublishException("Kafka did not acknowledge " + prepared.eventType() + " on "
                    + prepared.topic() + ": " + explain(e.getCause(), prepared.topic()), e.getCause());
        } catch (TimeoutException e) {
            throw new PublishException("Kafka did not acknowledge " + prepared.eventType() + " on "
                    + prepared.topic() + " in time", e);
        }
    }

    private int partitionCount(String topic) {
        try {
            List<PartitionInfo> partitions = producer.partitionsFor(topic);
            if (partitions == null || partitions.isEmpty()) {
                throw new PublishException("topic " + topic + " has no partitions on the broker", null);
            }
            return partitions.size();
        } catch (RuntimeException e) {
            if (e instanceof PublishException) {
                throw e;
            }
            throw new PublishException("cannot publish to " + topic + ": " + explain(e, topic), e);
        }
    }

    /** The cause in words: a refused login, a missing permission, a topic not found, or the client's own message. */
    private String explain(Throwable e, String topic) {
        String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        if (e instanceof AuthenticationException) {
            return "Kafka refused the login of " + principal + ": wrong username or password? (" + message + ")";
        }
        if (e instanceof AuthorizationException) {
            return principal + " may not write " + topic + " (" + message + ")";
        }
        if (e instanceof org.apache.kafka.common.errors.TimeoutException) {
            return "no answer about " + topic + " in time: is the broker reachable, does the topic exist and is the"
                    + " topic prefix right? (" + message + ")";
        }
        return e.getClass().getSimpleName() + ": " + message;
    }

    /** Flushes what is in flight and closes the producer (waits at most the publish timeout). */
    @Override
    public void close() {
        producer.close(timeout);
    }

    /** How to reach Kafka, who logs in and who speaks. */
    public static final class Builder {
        private String bootstrap = "127.0.0.1:19092";
        private String username;
        private String password;
        private String securityProtocol = "SASL_SSL";
        private String caFile;
        private String mechanism = "SCRAM-SHA-512";
        private String agency;
        private SigningKey signingKey;
        private String topicPrefix = "";
        private Catalog catalog;
        private Duration timeout = Duration.ofSeconds(30);
        private final Map<String, Object> overrides = new HashMap<>();

        private Builder() {}

        /** The brokers, {@code host:port[,host:port…]}. */
        public Builder bootstrap(String servers) {
            this.bootstrap = servers;
            return this;
        }

        /** The Kafka login {@code kim agency add} printed (SASL/SCRAM-SHA-512). */
        public Builder login(String username, String password) {
            this.username = username;
            this.password = password;
            return this;
        }

        /** {@code SASL_SSL} (default: TLS, verified), or {@code SASL_PLAINTEXT} on a closed test network only. */
        public Builder securityProtocol(String protocol) {
            this.securityProtocol = protocol;
            return this;
        }

        /**
         * The CA file (PEM) {@code kim agency add} named: the brokers' certificates are verified against it.
         * Without one, the JVM's own trust store verifies them.
         */
        public Builder caFile(String path) {
            this.caFile = path;
            return this;
        }

        public Builder agency(String agency) {
            this.agency = agency;
            return this;
        }

        /** The key as printed, {@code KEYID:base64url(secret)}; sets the agency too if none was given. */
        public Builder signingKey(String printed) {
            return signingKey(SigningKey.parse(printed));
        }

        public Builder signingKey(SigningKey key) {
            this.signingKey = key;
            return this;
        }

        /** Prefix of the platform's topic names (empty unless the platform prefixes them). */
        public Builder topicPrefix(String prefix) {
            this.topicPrefix = prefix == null ? "" : prefix;
            return this;
        }

        public Builder catalog(Catalog catalog) {
            this.catalog = catalog;
            return this;
        }

        /** The contract's {@code schemas/avro} directory (its {@code published.json} beside it). */
        public Builder schemas(Path avroDir) {
            return catalog(Catalog.load(avroDir));
        }

        /**
         * How long the producer waits for metadata and for a broker's answer (default 30 s); it retries a send for
         * twice that before {@link #publish} gives up.
         */
        public Builder timeout(Duration timeout) {
            this.timeout = timeout;
            return this;
        }

        /** Any other producer setting (e.g. {@code ssl.truststore.location}); the safety settings stay. */
        public Builder property(String name, Object value) {
            overrides.put(name, value);
            return this;
        }

        public KimPublisher build() {
            if (catalog == null) {
                throw new KimException("no catalog: give the contract's schemas (schemas(Path) or catalog(Catalog))");
            }
            if (signingKey == null) {
                throw new KimException("a signing key is required: every record is signed by the agency that"
                        + " publishes it (`kim agency add` printed it)");
            }
            String speaker = agency != null ? agency : signingKey.agency().orElse(null);
            EventPreparer preparer = new EventPreparer(catalog, speaker, signingKey, topicPrefix);
            return new KimPublisher(preparer, new KafkaProducer<>(properties()), timeout,
                    username == null ? "(no login)" : "'" + username + "'");
        }

        Properties properties() {
            Properties props = new Properties();
            props.putAll(overrides);
            props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            props.put(ProducerConfig.ACKS_CONFIG, "all");
            props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
            props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, String.valueOf(timeout.toMillis()));
            props.putIfAbsent(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(timeout.toMillis()));
            props.putIfAbsent(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, String.valueOf(2 * timeout.toMillis()));
            props.put("security.protocol", securityProtocol);
            if (caFile != null && !caFile.isBlank()) {
                props.put("ssl.truststore.type", "PEM");
                props.put("ssl.truststore.location", caFile);
            }
            if (username != null) {
                props.put("sasl.mechanism", mechanism);
                props.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required"
                        + " username=\"" + jaasQuoted(username) + "\" password=\"" + jaasQuoted(password) + "\";");
            }
            return props;
        }

        private static String jaasQuoted(String value) {
            return value == null ? "" : value.replace("\\", "\\\\").replace("\"", "\\\"");
        }
    }
}
