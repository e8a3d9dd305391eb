package network.kim.partner;

/** The event was valid but Kafka did not acknowledge it (unreachable broker, refused login, missing topic, …). */
public class PublishException extends KimException {
    private static final long serialVersionUID = 1L;

    public PublishException(String message, Throwable cause) {
        super(message, cause);
    }
}
