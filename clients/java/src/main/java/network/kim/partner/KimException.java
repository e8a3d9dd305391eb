package network.kim.partner;

/**
 * Anything this client refuses or cannot do. The message is always one line that names what is wrong, so it can go
 * into a log or an error dialog as it is.
 */
public class KimException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public KimException(String message) {
        super(oneLine(message));
    }

    public KimException(String message, Throwable cause) {
        super(oneLine(message), cause);
    }

    static String oneLine(String message) {
        return message == null ? "" : message.replaceAll("\\s*[\\r\\n]+\\s*", " ").strip();
    }
}
