// Parses an AsyncAPI document with the official parser and prints one JSON line: the diagnostics by severity.
// Used by tests/integration/test_contract_tools.py; exit code 0 whatever it finds (the test judges).
import { Parser } from '@asyncapi/parser';
import { AvroSchemaParser } from '@asyncapi/avro-schema-parser';
import fs from 'node:fs';

const parser = new Parser();
parser.registerSchemaParser(AvroSchemaParser()); // the messages' payloads are Avro schemas: check them too
const { diagnostics } = await parser.parse(fs.readFileSync(process.argv[2], 'utf8'));
const named = { 0: 'error', 1: 'warning', 2: 'information', 3: 'hint' };
console.log(JSON.stringify(diagnostics.map((d) => ({
  severity: named[d.severity] ?? String(d.severity),
  code: d.code,
  message: d.message,
  path: d.path,
}))));
