/** What the library refuses, each with one line naming what is wrong — and what it accepts. */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, test } from "node:test";

import { EncodeError, KimError, KimPublisher, loadCatalog, prepare, SigningKey, type EventDraft } from "../src";
import { AVRO_DIR } from "./paths";

const catalog = loadCatalog(AVRO_DIR);
const SECRET = Buffer.alloc(32, 7);
const JMD_KEY = `JUGENDMIGRATIONSDIENST.0a1b2c3d:${SECRET.toString("base64url")}`;
const signingKey = SigningKey.parse(JMD_KEY);
const options = { catalog, signingKey, topicPrefix: "test-abc." };

const need: EventDraft = {
  event_type: "NeedsAssessed",
  occurred_at: "2026-03-02T10:00:00.123456+01:00",
  payload: { case_id: "DO-2026-000123", needs: [{ lebenslage: "LANGUAGE", priority: "HIGH" }] },
};

function refused(draft: unknown, pattern: RegExp): EncodeError {
  let caught: unknown;
  try {
    prepare(draft as EventDraft, options);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof EncodeError, `expected an EncodeError, got ${String(caught)}`);
  assert.match(caught.message, pattern);
  assert.ok(!caught.message.includes("\n"), `one line: ${caught.message}`);
  return caught;
}

describe("refusals", () => {
  for (const eventType of ["CaseOpened", "ApplicationFiled"]) {
    test(`${eventType} is refused: send it through the HTTP gateway`, async () => {
      const payload =
        eventType === "CaseOpened"
          ? { case_id: "DO-2026-1", client_ref: "P-7f3a9c", district: "EVING", access_route: "SELF",
              target_group: "NEWCOMER", rechtskreise: ["SGB_II"] }
          : { application_id: "ABH-2026-1", client_ref: "P-7f3a9c", procedure: "EXTENSION", channel: "ONLINE" };
      const error = refused({ event_type: eventType, payload }, /HTTP gateway/);
      assert.match(error.message, new RegExp(`^invalid ${eventType}: event_type: ${eventType} cannot be published straight to Kafka: only the platform may seal the client's pseudonym`));
      // The publisher refuses before it goes near the network: nothing listens on port 1.
      const publisher = new KimPublisher({ catalog, bootstrap: "127.0.0.1:1", username: "u", password: "p", signingKey: JMD_KEY });
      await assert.rejects(publisher.publish({ event_type: eventType, payload }), (err: Error) => {
        assert.ok(err instanceof EncodeError);
        assert.match(err.message, /through the HTTP gateway/);
        return true;
      });
    });
  }

  test("erasures are the platform's", () => {
    refused({ event_type: "CaseErased", payload: { case_id: "DO-2026-1" } }, /kim erase/);
  });

  test("an unknown type names the known ones", () => {
    refused({ event_type: "CaseReopened", payload: { case_id: "C-1" } }, /unknown event type "CaseReopened"; known types: ApplicationCompleted, /);
  });

  test("a missing field is named", () => {
    refused({ event_type: "NeedsAssessed", payload: { case_id: "C-1" } }, /^invalid NeedsAssessed: payload\.needs: required field is missing$/);
    refused({ event_type: "NeedsAssessed", occurred_at: "2026-03-01T10:00:00Z" }, /payload: required, an object/);
    refused({ event_type: "CaseManagerAssigned", payload: { case_manager_ref: "CM-1", agency: "JOBCENTER" } }, /payload\.case_id: required field is missing/);
  });

  test("wrong values, unknown fields and bad times are named", () => {
    const error = refused(
      {
        event_type: "NeedsAssessed",
        occurred_at: "2026-03-02 10:00",
        payload: { case_id: "C-1", needs: [{ lebenslage: "LANGUAGE", priority: "SOON" }], note: "x" },
      },
      /occurred_at: "2026-03-02 10:00": expected an ISO 8601 timestamp with a timezone/,
    );
    refused({ ...need, payload: { ...need.payload, needs: [{ lebenslage: "LANGUAGE", priority: "SOON" }] } },
      /payload\.needs\.0\.priority: "SOON" is not one of URGENT, HIGH, NORMAL/);
    refused({ ...need, payload: { ...need.payload, note: "x" } }, /payload\.note: unknown field of record NeedsAssessed/);
    refused({ ...need, occurred_at: "0044-03-15T10:00:00Z" }, /occurred_at: "0044-03-15T10:00:00Z" is before 2015-01-01/);
    refused({ ...need, occurred_at: "2999-01-01T00:00:00Z" }, /is in the future/);
    refused({ ...need, event_id: "x" }, /event_id: set by the publisher/);
    assert.equal(error.errors.length, 1); // the timestamp fails first: the payload is checked once the envelope is
  });

  test("an agency other than the signing key's is refused", () => {
    assert.throws(
      () => new KimPublisher({ catalog, bootstrap: "127.0.0.1:1", username: "u", password: "p", signingKey: JMD_KEY, agency: "JUGENDAMT" }),
      (err: Error) => err instanceof KimError && err.message === "the signing key is JUGENDMIGRATIONSDIENST's, not JUGENDAMT's (an agency speaks only for itself)",
    );
    refused({ ...need, source_agency: "JOBCENTER" }, /source_agency: "JOBCENTER" is not the signing key's agency JUGENDMIGRATIONSDIENST/);
  });

  test("a malformed signing key is refused; the key id is split from the secret at the LAST colon", () => {
    for (const bad of ["", "JOBCENTER.1234", "JOBCENTER.1234:", "JOBCENTER.1234:c2hvcnQ", "JOBCENTER.1234:not base64!"]) {
      assert.throws(() => SigningKey.parse(bad), /a signing key looks like 'AGENCY\.xxxxxxxx:<base64url>'/);
    }
    const odd = SigningKey.parse(`weird:id.1:${SECRET.toString("base64url")}`);
    assert.equal(odd.keyId, "weird:id.1");
    assert.ok(!String(odd).includes(SECRET.toString("base64url")));
  });
});

describe("accepted drafts", () => {
  test("a draft becomes a keyed, signed record with the envelope filled in", () => {
    const now = new Date("2026-03-02T10:00:00Z");
    const record = prepare(need, { ...options, now: () => now });
    assert.equal(record.topic, "test-abc.kim.cases");
    assert.equal(record.key.toString(), "DO-2026-000123");
    const schema = catalog.schemaFor("NeedsAssessed");
    assert.deepEqual(record.value.subarray(0, 10), Buffer.concat([Buffer.from([0xc3, 0x01]), schema.fingerprint]));
    const decoded = schema.type.fromBuffer(record.value.subarray(10)) as { envelope: Record<string, unknown>; payload: unknown };
    assert.deepEqual(JSON.parse(JSON.stringify(decoded.payload)), need.payload);
    assert.equal(decoded.envelope.source_agency, "JUGENDMIGRATIONSDIENST");
    assert.equal(decoded.envelope.event_id, record.eventId);
    assert.equal(decoded.envelope.correlation_id, record.eventId);
    assert.equal(decoded.envelope.occurred_at, "2026-03-02T09:00:00.123456Z"); // microseconds kept, UTC
    assert.equal(decoded.envelope.recorded_at, "2026-03-02T10:00:00.000Z");
    const length = Buffer.alloc(4);
    length.writeUInt32BE(record.key.length);
    const sig = createHmac("sha256", SECRET).update(Buffer.concat([length, record.key, record.value])).digest("base64");
    assert.deepEqual(record.headers, { "kim.signer": "JUGENDMIGRATIONSDIENST.0a1b2c3d", "kim.sig": sig });
  });
});
