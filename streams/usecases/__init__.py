"""What the platform does for agencies beyond the SDK: checking an event against its case before it is published
(the gateway's case gate: may this agency act on the case, may the data pass), erasing a client (`kim erase`),
and publishing many agencies' events in order (`kim publish`, `kim simulate --publish`, `kim demo`)."""
