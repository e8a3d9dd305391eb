package network.kim.partner;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a partner says: the event type, its payload, and optionally when it happened and which piece of work it
 * belongs to. The rest of the envelope — {@code event_id}, {@code recorded_at}, {@code source_agency} — is the
 * publisher's to set, so a draft cannot carry it.
 *
 * <p>The JSON shape is the platform's ({@code EventDraft.from_dict}, the HTTP gateway's body):
 * {@code {"event_type", "occurred_at"?, "payload", "correlation_id"?, "causation_id"?}}.
 */
public final class EventDraft {
    private static final Set<String> FIELDS = Set.of("event_type", "occurred_at", "payload", "correlation_id",
            "causation_id");
    private static final Set<String> PUBLISHERS = Set.of("event_id", "recorded_at", "source_agency");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String eventType;
    private final Map<String, Object> payload;
    private final Instant occurredAt; // null: the time of publishing
    private final String correlationId; // null: the event's own id
    private final String causationId;

    private EventDraft(String eventType, Map<String, ?> payload, Instant occurredAt, String correlationId,
            String causationId) {
        this.eventType = eventType;
        this.payload = Collections.unmodifiableMap(new LinkedHashMap<>(payload));
        this.occurredAt = occurredAt;
        this.correlationId = correlationId;
        this.causationId = causationId;
    }

    public static EventDraft of(String eventType, Map<String, ?> payload) {
        if (eventType == null || payload == null) {
            throw new InvalidEventException(String.valueOf(eventType), List.of(eventType == null
                    ? "event_type: missing (required)" : "payload: missing (required)"));
        }
        return new EventDraft(eventType, payload, null, null, null);
    }

    public EventDraft occurredAt(Instant at) {
        return new EventDraft(eventType, payload, at, correlationId, causationId);
    }

    public EventDraft occurredAt(OffsetDateTime at) {
        return occurredAt(at.toInstant());
    }

    public EventDraft correlationId(String id) {
        return new EventDraft(eventType, payload, occurredAt, id, causationId);
    }

    public EventDraft causationId(String id) {
        return new EventDraft(eventType, payload, occurredAt, correlationId, id);
    }

    /** From the JSON-like shape; {@link InvalidEventException} naming every top-level problem. */
    public static EventDraft fromMap(Map<String, ?> data) {
        Object type = data.get("event_type");
        String name = type instanceof String s ? s : "event";
        List<String> errors = new ArrayList<>();
        for (String key : data.keySet()) {
            if (PUBLISHERS.contains(key)) {
                errors.add(key + ": set by the publisher, not by the draft");
            } else if (!FIELDS.contains(key)) {
                errors.add(key + ": unknown field (a draft has " + String.join(", ", List.of("event_type",
                        "occurred_at", "payload", "correlation_id", "causation_id")) + ")");
            }
        }
        if (!(type instanceof String)) {
            errors.add("event_type: " + (type == null ? "missing (required)" : "expected a string"));
        }
        Object payload = data.get("payload");
        if (!(payload instanceof Map)) {
            errors.add("payload: " + (payload == null ? "missing (required)" : "expected an object"));
        }
        Instant occurred = null;
        Object at = data.get("occurred_at");
        if (at != null) {
            occurred = DatumConverter.instant(at);
            if (occurred == null) {
                errors.add("occurred_at: " + DatumConverter.shown(at) + " is not a timestamp in ISO 8601 with a"
                        + " timezone (e.g. 2025-03-01T10:00:00Z)");
            }
        }
        String correlation = optionalString(data, "correlation_id", errors);
        String causation = optionalString(data, "causation_id", errors);
        if (!errors.isEmpty()) {
            throw new InvalidEventException(name, errors);
        }
        @SuppressWarnings("unchecked")
        Map<String, ?> fields = (Map<String, ?>) payload;
        return new EventDraft(name, fields, occurred, correlation, causation);
    }

    /** From a JSON object text in the shape of {@link #fromMap}. */
    public static EventDraft fromJson(String json) {
        Object parsed;
        try {
            parsed = JSON.readValue(json, Object.class);
        } catch (JsonProcessingException e) {
            throw new InvalidEventException("event", List.of("not JSON: " + e.getOriginalMessage()));
        }
        if (!(parsed instanceof Map<?, ?> map)) {
            throw new InvalidEventException("event", List.of("expected a JSON object"));
        }
        @SuppressWarnings("unchecked")
        Map<String, ?> data = (Map<String, ?>) map;
        return fromMap(data);
    }

    private static String optionalString(Map<String, ?> data, String key, List<String> errors) {
        Object value = data.get(key);
        if (value == null || value instanceof String) {
            return (String) value;
        }
        errors.add(key + ": expected a string, got " + DatumConverter.shown(value));
        return null;
    }

    public String eventType() {
        return eventType;
    }

    public Map<String, Object> payload() {
        return payload;
    }

    /** When it happened; null means the time of publishing. */
    public Instant occurredAt() {
        return occurredAt;
    }

    public String correlationId() {
        return correlationId;
    }

    public String causationId() {
        return causationId;
    }

    @Override
    public String toString() {
        return "EventDraft(" + eventType + ")"; // a payload may hold pseudonyms: not for logs
    }
}
