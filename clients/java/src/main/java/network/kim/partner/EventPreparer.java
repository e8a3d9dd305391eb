package network.kim.partner;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * Turns an agency's {@link EventDraft} into a {@link PreparedRecord}: completes the envelope (a new event id, the
 * agency as source, the recording time), encodes, keys and signs. Pure apart from the clock and the random id — no
 * Kafka — so everything a partner can get wrong is refused here, before anything is sent.
 *
 * <p>What it refuses, each with one line naming the problem:
 *
 * <ul>
 *   <li>{@code CaseOpened} and {@code ApplicationFiled}: they name the client by pseudonym, which travels on the log
 *       only sealed with the client's own key from the platform's key table (crypto-shredding). A partner has no key
 *       table, so these two go through the platform's HTTP gateway, which seals them;
 *   <li>an agency the contract does not know, or a signing key of another agency (an agency speaks only for itself);
 *   <li>an unknown event type, a missing, unknown or mistyped field, a value the schema does not allow;
 *   <li>an {@code occurred_at} before 2015 or more than five minutes in the future (the stream side dead-letters such
 *       events).
 * </ul>
 *
 * <p>The domain rules that need the case's history (may this agency act on the case, does a consent cover a referral)
 * are judged on the stream side; an event that breaks one is dead-lettered, and the gateway lists it.
 */
public final class EventPreparer {
    /** The types only the platform may put on the log (it seals the client's pseudonym). */
    public static final Set<String> GATEWAY_ONLY = Set.of("CaseOpened", "ApplicationFiled");
    static final Instant EARLIEST = Instant.parse("2015-01-01T00:00:00Z");
    static final Duration SKEW = Duration.ofMinutes(5);

    private final EventEncoder encoder;
    private final String agency;
    private final SigningKey signingKey;
    private final String topicPrefix;
    private final Clock clock;

    public EventPreparer(Catalog catalog, String agency, SigningKey signingKey, String topicPrefix) {
        this(catalog, agency, signingKey, topicPrefix, Clock.systemUTC());
    }

    public EventPreparer(Catalog catalog, String agency, SigningKey signingKey, String topicPrefix, Clock clock) {
        if (agency == null || !catalog.agencies().contains(agency)) {
            throw new KimException("unknown agency '" + agency + "'; known agencies: " + String.join(", ",
                    catalog.agencies()));
        }
        if (signingKey == null) {
            throw new KimException("a signing key is required: every record is signed by the agency that publishes"
                    + " it (`kim agency add` printed it)");
        }
        signingKey.agency().filter(owner -> !owner.equals(agency)).ifPresent(owner -> {
            throw new KimException("the signing key is " + owner + "'s, not " + agency + "'s: an agency speaks only"
                    + " for itself");
        });
        this.encoder = new EventEncoder(catalog);
        this.agency = agency;
        this.signingKey = signingKey;
        this.topicPrefix = topicPrefix == null ? "" : topicPrefix;
        this.clock = clock;
    }

    public String agency() {
        return agency;
    }

    public PreparedRecord prepare(EventDraft draft) {
        String type = draft.eventType();
        if (GATEWAY_ONLY.contains(type)) {
            throw new InvalidEventException(type, List.of("event_type: cannot seal the client's pseudonym: only the"
                    + " platform publishes " + type + "; send it through the HTTP gateway (POST /v1/events)"));
        }
        EventSchema schema = encoder.catalog().current(type);
        Instant now = clock.instant();
        Instant occurred = draft.occurredAt() == null ? now : draft.occurredAt();
        if (occurred.isBefore(EARLIEST) || occurred.isAfter(now.plus(SKEW))) {
            throw new InvalidEventException(type, List.of("occurred_at: " + occurred + " is not plausible: not"
                    + " before 2015-01-01 and not after the time of publishing (five minutes' clock skew allowed)"));
        }
        String eventId = UUID.randomUUID().toString();
        Map<String, Object> envelope = new LinkedHashMap<>();
        envelope.put("event_id", eventId);
        envelope.put("event_type", type);
        envelope.put("occurred_at", occurred);
        envelope.put("recorded_at", now);
        envelope.put("source_agency", agency);
        envelope.put("correlation_id", draft.correlationId() == null ? eventId : draft.correlationId());
        envelope.put("causation_id", draft.causationId());
        byte[] value = encoder.encode(schema, envelope, draft.payload());
        String key = String.valueOf(draft.payload().get(schema.keyField())); // present: the encoder checked it
        byte[] keyBytes = key.getBytes(StandardCharsets.UTF_8);
        return new PreparedRecord(eventId, type, topicPrefix + schema.topic(), key, value, signingKey.keyId(),
                signingKey.signatureHeader(keyBytes, value));
    }
}
