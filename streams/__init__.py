"""The Kafka side, one sub-package per concern (imports point down the list):

- ``streams.kafka``: the connection configuration, the one factory of Kafka clients, topic provisioning;
- ``streams.sdk``: the partner SDK — build, validate, sign and publish events (nothing of the platform in it);
- ``streams.runtime``: the projection runtime — judge records, fold them, write rows and checkpoints in one
  transaction, dead-letter; one record loop, driven live by faust or in bulk by aiokafka;
- ``streams.operations``: what operations staff run on top — status and metrics, rebuilds and as-of copies,
  dead-letter re-drive, a worker process composed;
- ``streams.usecases``: what the platform does for agencies beyond the SDK — the case gate, erasure,
  publishing many agencies' events in order.
"""
