import * as path from "node:path";

/** The package's directory (tests run compiled, from dist/test/). */
export const PACKAGE = path.resolve(__dirname, "..", "..");
/** The contract in the repository: `../../schemas` from the package. */
export const SCHEMAS = path.resolve(PACKAGE, "..", "..", "schemas");
export const AVRO_DIR = path.join(SCHEMAS, "avro");
export const VECTORS_JSON = path.join(SCHEMAS, "vectors.json");
