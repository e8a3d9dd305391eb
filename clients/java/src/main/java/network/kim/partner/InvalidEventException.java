package network.kim.partner;

import java.util.List;

/**
 * An event that breaks the contract: an unknown type, a missing or wrongly typed field, a value the schema does not
 * allow, or a type partners may not publish themselves. Nothing was sent. {@link #errors()} names each problem as
 * {@code field: reason}, e.g. {@code payload.district: 'Nord' is not one of INNENSTADT_WEST, …}.
 */
public class InvalidEventException extends KimException {
    private static final long serialVersionUID = 1L;

    private final String eventType;
    private final List<String> errors;

    public InvalidEventException(String eventType, List<String> errors) {
        super("invalid " + eventType + ": " + String.join("; ", errors));
        this.eventType = eventType;
        this.errors = List.copyOf(errors);
    }

    public String eventType() {
        return eventType;
    }

    public List<String> errors() {
        return errors;
    }
}
