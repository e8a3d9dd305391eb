package network.kim.partner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** What the client refuses before anything reaches Kafka, each with one line naming what is wrong. */
class RefusalsTest {
    private static final Instant NOW = Instant.parse("2026-03-02T10:00:00Z");
    private static final SigningKey JOBCENTER_KEY = new SigningKey("JOBCENTER.0ec70125", new byte[32]);

    private static EventPreparer jobcenter() {
        return new EventPreparer(Contract.catalog(), "JOBCENTER", JOBCENTER_KEY, "test-x.",
                Clock.fixed(NOW, ZoneOffset.UTC));
    }

    private static Map<String, Object> assigned() {
        return Map.of("case_id", "DO-2026-000123", "case_manager_ref", "CM-JC-0042", "agency", "JOBCENTER");
    }

    private static void assertOneLine(Exception e) {
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"CaseOpened", "ApplicationFiled"})
    void theTypesOnlyThePlatformSealsGoThroughTheGateway(String type) {
        EventDraft draft = EventDraft.of(type, Map.of("case_id", "DO-2026-000123"));
        InvalidEventException refused = assertThrows(InvalidEventException.class, () -> jobcenter().prepare(draft));
        assertTrue(refused.getMessage().contains("cannot seal the client's pseudonym"), refused.getMessage());
        assertTrue(refused.getMessage().contains("HTTP gateway"), refused.getMessage());
        assertOneLine(refused);
    }

    @Test
    void aValidEventIsPreparedKeyedAndSigned() {
        PreparedRecord record = jobcenter().prepare(EventDraft.of("CaseManagerAssigned", assigned())
                .occurredAt(Instant.parse("2026-03-02T09:30:00Z")));
        assertEquals("test-x.kim.cases", record.topic());
        assertEquals("DO-2026-000123", record.key());
        assertEquals("c301", HexFormat.of().formatHex(record.value(), 0, 2));
        EventSchema schema = Contract.catalog().current("CaseManagerAssigned");
        assertEquals(schema.fingerprintHex(), HexFormat.of().formatHex(record.value(), 2, 10));
        assertEquals("JOBCENTER.0ec70125", record.signer());
        assertEquals(JOBCENTER_KEY.signatureHeader(record.keyBytes(), record.value()), record.signature());
        assertEquals(List.of("kim.signer", "kim.sig"), record.headers().stream().map(h -> h.key()).toList());
    }

    @Test
    void anUnknownTypeNamesTheKnownOnes() {
        InvalidEventException refused = assertThrows(InvalidEventException.class,
                () -> jobcenter().prepare(EventDraft.of("CaseReopened", Map.of("case_id", "DO-1"))));
        assertTrue(refused.getMessage().startsWith("invalid CaseReopened: event_type: unknown type 'CaseReopened';"
                + " known types: ApplicationCompleted,"), refused.getMessage());
        assertOneLine(refused);
    }

    @Test
    void aSigningKeyOfAnotherAgencyIsRefused() {
        KimException refused = assertThrows(KimException.class, () -> new EventPreparer(Contract.catalog(),
                "JUGENDAMT", JOBCENTER_KEY, ""));
        assertEquals("the signing key is JOBCENTER's, not JUGENDAMT's: an agency speaks only for itself",
                refused.getMessage());
    }

    @Test
    void anUnknownAgencyIsRefused() {
        KimException refused = assertThrows(KimException.class, () -> new EventPreparer(Contract.catalog(),
                "JOBCENTRE", new SigningKey("JOBCENTRE.1", new byte[32]), ""));
        assertTrue(refused.getMessage().startsWith("unknown agency 'JOBCENTRE'; known agencies: KIM_CASE_MANAGEMENT"),
                refused.getMessage());
    }

    @Test
    void aMissingFieldIsNamed() {
        InvalidEventException refused = assertThrows(InvalidEventException.class, () -> jobcenter().prepare(
                EventDraft.of("CaseManagerAssigned", Map.of("case_id", "DO-2026-000123", "agency", "JOBCENTER"))));
        assertEquals(List.of("payload.case_manager_ref: missing (required)"), refused.errors());
        assertEquals("invalid CaseManagerAssigned: payload.case_manager_ref: missing (required)",
                refused.getMessage());
    }

    @Test
    void everyWrongFieldIsListedAtOnce() {
        Map<String, Object> payload = Map.of("case_id", "DO-2026-000123", "reason", "BORED", "resume_by",
                "next week", "colour", "blue");
        InvalidEventException refused = assertThrows(InvalidEventException.class,
                () -> jobcenter().prepare(EventDraft.of("CasePaused", payload)));
        String message = refused.getMessage();
        assertTrue(message.contains("payload.reason: 'BORED' is not one of "), message);
        assertTrue(message.contains("payload.resume_by: 'next week' is not a date YYYY-MM-DD"), message);
        assertTrue(message.contains("payload.colour: unknown field"), message);
        assertEquals(3, refused.errors().size(), refused.errors().toString());
        assertOneLine(refused);
    }

    @Test
    void aWrongTypeInAListIsNamedByIndex() {
        Map<String, Object> payload = Map.of("case_id", "DO-2026-000123", "needs",
                List.of(Map.of("lebenslage", "LANGUAGE", "priority", "HIGH"), Map.of("lebenslage", 7)));
        InvalidEventException refused = assertThrows(InvalidEventException.class,
                () -> jobcenter().prepare(EventDraft.of("NeedsAssessed", payload)));
        assertTrue(refused.errors().contains("payload.needs[1].lebenslage: 7 is not one of"
                + " " + String.join(", ", Contract.catalog().current("NeedsAssessed").payloadSchema()
                .getField("needs").schema().getElementType().getField("lebenslage").schema().getEnumSymbols())),
                refused.errors().toString());
        assertTrue(refused.errors().contains("payload.needs[1].priority: missing (required)"),
                refused.errors().toString());
    }

    @Test
    void implausibleEventTimesAreRefused() {
        for (String at : List.of("2014-12-31T23:59:59Z", "2026-03-02T10:06:00Z")) {
            EventDraft draft = EventDraft.fromMap(Map.of("event_type", "CaseResumed", "occurred_at", at, "payload",
                    Map.of("case_id", "DO-2026-000123")));
            InvalidEventException refused = assertThrows(InvalidEventException.class,
                    () -> jobcenter().prepare(draft));
            assertTrue(refused.getMessage().contains("occurred_at: " + at + " is not plausible"),
                    refused.getMessage());
        }
        jobcenter().prepare(EventDraft.fromMap(Map.of("event_type", "CaseResumed", "occurred_at",
                "2026-03-02T11:04:00+01:00", "payload", Map.of("case_id", "DO-2026-000123")))); // within the skew
    }

    @Test
    void aDraftCannotSetWhatThePublisherSets() {
        InvalidEventException refused = assertThrows(InvalidEventException.class, () -> EventDraft.fromJson(
                "{\"event_type\": \"CaseResumed\", \"source_agency\": \"JUGENDAMT\", \"occurred_at\": \"yesterday\","
                        + " \"payload\": {\"case_id\": \"DO-2026-000123\"}}"));
        assertEquals(List.of("source_agency: set by the publisher, not by the draft",
                "occurred_at: 'yesterday' is not a timestamp in ISO 8601 with a timezone (e.g. 2025-03-01T10:00:00Z)"),
                refused.errors());
    }

    @Test
    void aSigningKeyIsSplitAtItsLastColonAndMustHoldASecret() {
        SigningKey key = SigningKey.parse("JOBCENTER.3f9a1c2b:" + java.util.Base64.getUrlEncoder().encodeToString(
                "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("JOBCENTER.3f9a1c2b", key.keyId());
        assertEquals("JOBCENTER", key.agency().orElseThrow());
        for (String bad : List.of("", "JOBCENTER.3f9a1c2b", "JOBCENTER.3f9a1c2b:c2hvcnQ=", ":AAAAAAAAAAAAAAAAAAAAAA==",
                "JOBCENTER.3f9a1c2b:not base64!")) {
            KimException refused = assertThrows(KimException.class, () -> SigningKey.parse(bad));
            assertTrue(refused.getMessage().startsWith("a signing key looks like"), refused.getMessage());
        }
    }

    @Test
    void javasOwnFingerprintsAreThePublishedOnes() {
        for (EventSchema schema : Contract.catalog().schemas()) {
            assertEquals(schema.fingerprintHex(), HexFormat.of().formatHex(Catalog.javaFingerprint(schema.schema())),
                    schema.toString());
        }
    }
}
