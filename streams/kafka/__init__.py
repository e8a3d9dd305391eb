"""How the platform reaches Kafka: one connection configuration, one factory of clients, topic provisioning."""
