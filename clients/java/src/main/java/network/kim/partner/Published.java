package network.kim.partner;

/** Where Kafka stored an event, once it acknowledged it. */
public record Published(String topic, int partition, long offset, String eventId, String eventType) {
    @Override
    public String toString() {
        return eventType + " " + eventId + " -> " + topic + " partition " + partition + " offset " + offset;
    }
}
