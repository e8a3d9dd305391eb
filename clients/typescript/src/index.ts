export { loadCatalog, type Catalog, type CatalogOptions, type EventSchema } from "./catalog";
export { encodeEvent, encodeWith, recordKey, MAGIC, type EventJson } from "./encode";
export { prepare, publishingAgency, NOT_FOR_PARTNERS, type EventDraft, type Prepared, type PrepareOptions } from "./draft";
export { DeliveryError, EncodeError, KimError } from "./errors";
export { murmur2, partitionOf } from "./partition";
export { KimPublisher, type Published, type PublisherOptions } from "./publisher";
export { SigningKey, SIG_HEADER, SIGNER_HEADER } from "./signing";
