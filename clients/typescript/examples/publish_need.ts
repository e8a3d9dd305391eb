/**
 * Publishes one NeedsAssessed for a case as the agency whose signing key is given, and prints where it landed.
 * The agency must hold the case (it opened it, through the HTTP gateway) or employ its case manager; otherwise the
 * platform's workers dead-letter the event ("… has no part in case …").
 *
 * Settings, from the environment:
 *   KIM_KAFKA_BOOTSTRAP      host:port of the broker (default 127.0.0.1:9092)
 *   KIM_AGENCY_USERNAME      the agency's Kafka username, e.g. agency-jugendmigrationsdienst
 *   KIM_AGENCY_PASSWORD      its Kafka password
 *   KIM_AGENCY_SIGNING_KEY   its signing key, as `kim agency add` printed it
 *   KIM_CASE_ID              the case, e.g. DO-2026-000123
 *   KIM_TOPIC_PREFIX         prefix of the topic names (default none)
 *   KIM_SCHEMAS              the contract's schemas/avro directory (default: the repository's)
 *   KIM_KAFKA_CA_FILE        the CA file `kim agency add` named (default: node's trust store)
 *   KIM_KAFKA_TLS            "0" to connect without TLS (closed test networks only; default TLS)
 *   KIM_LEBENSLAGE, KIM_PRIORITY  the need (default LANGUAGE, HIGH)
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { KimError, KimPublisher, loadCatalog } from "../src";

function setting(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === "") throw new KimError(`set ${name} (see the top of examples/publish_need.ts)`);
  return value;
}

function tls(): boolean | { ca: string[] } {
  if (process.env.KIM_KAFKA_TLS === "0") return false;
  const ca = process.env.KIM_KAFKA_CA_FILE;
  return ca ? { ca: [fs.readFileSync(ca, "utf8")] } : true;
}

async function main(): Promise<void> {
  const schemas = setting("KIM_SCHEMAS", path.resolve(__dirname, "..", "..", "..", "..", "schemas", "avro"));
  const publisher = new KimPublisher({
    catalog: loadCatalog(schemas),
    bootstrap: setting("KIM_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
    username: setting("KIM_AGENCY_USERNAME"),
    password: setting("KIM_AGENCY_PASSWORD"),
    signingKey: setting("KIM_AGENCY_SIGNING_KEY"),
    topicPrefix: process.env.KIM_TOPIC_PREFIX ?? "",
    ssl: tls(),
  });
  try {
    const caseId = setting("KIM_CASE_ID");
    const published = await publisher.publish({
      event_type: "NeedsAssessed",
      occurred_at: new Date().toISOString(),
      payload: {
        case_id: caseId,
        needs: [{ lebenslage: setting("KIM_LEBENSLAGE", "LANGUAGE"), priority: setting("KIM_PRIORITY", "HIGH") }],
      },
    });
    console.log(
      `published ${published.eventType} ${published.eventId} for ${caseId} as ${publisher.agency}: ` +
        `topic ${published.topic} partition ${published.partition} offset ${published.offset}`,
    );
  } finally {
    await publisher.close();
  }
}

main().catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
