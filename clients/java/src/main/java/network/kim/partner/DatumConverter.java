package network.kim.partner;

import java.nio.ByteBuffer;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.avro.LogicalType;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;

/**
 * Turns a JSON-like value (maps, lists, strings, numbers, booleans, null — what a JSON parser gives, or what code
 * builds by hand) into the Avro generic datum its schema declares, as the contract's JSON shows events:
 *
 * <ul>
 *   <li>{@code timestamp-micros} (and {@code -millis}): ISO 8601 with a timezone, {@code 2025-03-10T09:30:00Z} or
 *       {@code …+01:00}; also an {@link Instant}, {@link OffsetDateTime} or {@link ZonedDateTime};
 *   <li>{@code date}: {@code YYYY-MM-DD}, or a {@link LocalDate};
 *   <li>{@code uuid}: the canonical 8-4-4-4-12 hex form, or a {@link UUID};
 *   <li>{@code bytes}: lowercase hex (the contract's JSON form), or a {@code byte[]}/{@link ByteBuffer};
 *   <li>enums: the symbol's name; unions: the plain value of the branch it fits ({@code null} for the null branch);
 *   <li>records: maps; a field that is absent takes the schema's default, or is an error when it has none.
 * </ul>
 *
 * <p>It collects every problem rather than stopping at the first, each as {@code path: reason}.
 */
final class DatumConverter {
    private static final Pattern UUID_FORM =
            Pattern.compile("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");
    private static final int SHOWN = 60;

    private DatumConverter() {}

    /** The datum for {@code value}, or null with {@code errors} extended (then the datum is not usable). */
    static Object convert(Schema schema, Object value, String path, List<String> errors) {
        LogicalType logical = schema.getLogicalType();
        switch (schema.getType()) {
            case NULL:
                return value == null ? null : fail(errors, path, "expected null, got " + shown(value));
            case BOOLEAN:
                return value instanceof Boolean ? value : fail(errors, path, "expected true or false, got "
                        + shown(value));
            case INT:
                if (logical != null && "date".equals(logical.getName())) {
                    return date(value, path, errors);
                }
                return integral(value, path, errors, Integer.MIN_VALUE, Integer.MAX_VALUE, true);
            case LONG:
                if (logical != null && logical.getName().startsWith("timestamp-")) {
                    return timestamp(value, logical.getName(), path, errors);
                }
                return integral(value, path, errors, Long.MIN_VALUE, Long.MAX_VALUE, false);
            case FLOAT:
                return value instanceof Number n ? (Object) n.floatValue() : fail(errors, path, "expected a number, got "
                        + shown(value));
            case DOUBLE:
                return value instanceof Number n ? (Object) n.doubleValue() : fail(errors, path,
                        "expected a number, got " + shown(value));
            case STRING:
                return string(value, logical, path, errors);
            case BYTES:
                return bytes(value, path, errors, -1);
            case FIXED: {
                ByteBuffer buffer = bytes(value, path, errors, schema.getFixedSize());
                return buffer == null ? null : new GenericData.Fixed(schema, buffer.array());
            }
            case ENUM:
                if (value instanceof CharSequence s && schema.hasEnumSymbol(s.toString())) {
                    return new GenericData.EnumSymbol(schema, s.toString());
                }
                return fail(errors, path, shown(value) + " is not one of " + String.join(", ",
                        schema.getEnumSymbols()));
            case ARRAY:
                return array(schema, value, path, errors);
            case MAP:
                return map(schema, value, path, errors);
            case RECORD:
                return record(schema, value, path, errors);
            case UNION:
                return union(schema, value, path, errors);
            default:
                return fail(errors, path, "unsupported Avro type " + schema.getType());
        }
    }

    /** A record from a map: unknown keys and fields that are missing without a default are errors. */
    static GenericData.Record record(Schema schema, Object value, String path, List<String> errors) {
        if (!(value instanceof Map<?, ?> given)) {
            fail(errors, path, "expected an object, got " + shown(value));
            return null;
        }
        GenericData.Record record = new GenericData.Record(schema);
        Set<String> known = schema.getFields().stream().map(Schema.Field::name).collect(Collectors.toSet());
        for (Object key : given.keySet()) {
            if (!known.contains(String.valueOf(key))) {
                errors.add(join(path, String.valueOf(key)) + ": unknown field (" + schema.getName() + " has "
                        + String.join(", ", schema.getFields().stream().map(Schema.Field::name).toList()) + ")");
            }
        }
        for (Schema.Field field : schema.getFields()) {
            String at = join(path, field.name());
            if (given.containsKey(field.name())) {
                record.put(field.pos(), convert(field.schema(), given.get(field.name()), at, errors));
            } else if (field.hasDefaultValue()) {
                record.put(field.pos(), GenericData.get().getDefaultValue(field));
            } else {
                errors.add(at + ": missing (required)");
            }
        }
        return record;
    }

    private static Object union(Schema schema, Object value, String path, List<String> errors) {
        List<Schema> branches = schema.getTypes();
        if (value == null) {
            return branches.stream().anyMatch(b -> b.getType() == Schema.Type.NULL) ? null
                    : fail(errors, path, "must not be null");
        }
        List<Schema> candidates = branches.stream().filter(b -> b.getType() != Schema.Type.NULL).toList();
        List<String> firstErrors = null;
        for (Schema branch : candidates) {
            List<String> attempt = new ArrayList<>();
            Object datum = convert(branch, value, path, attempt);
            if (attempt.isEmpty()) {
                return datum;
            }
            if (firstErrors == null) {
                firstErrors = attempt;
            }
        }
        if (candidates.size() == 1 && firstErrors != null) {
            errors.addAll(firstErrors); // ["null", X]: say what is wrong with X
            return null;
        }
        return fail(errors, path, shown(value) + " fits none of " + candidates.stream().map(Schema::getName)
                .collect(Collectors.joining(", ")));
    }

    private static Object array(Schema schema, Object value, String path, List<String> errors) {
        if (!(value instanceof Collection<?> items)) {
            return fail(errors, path, "expected a list, got " + shown(value));
        }
        GenericData.Array<Object> out = new GenericData.Array<>(items.size(), schema);
        int i = 0;
        for (Object item : items) {
            out.add(convert(schema.getElementType(), item, path + "[" + i++ + "]", errors));
        }
        return out;
    }

    private static Object map(Schema schema, Object value, String path, List<String> errors) {
        if (!(value instanceof Map<?, ?> given)) {
            return fail(errors, path, "expected an object, got " + shown(value));
        }
        Map<String, Object> out = new LinkedHashMap<>();
        given.forEach((k, v) -> out.put(String.valueOf(k), convert(schema.getValueType(), v, join(path,
                String.valueOf(k)), errors)));
        return out;
    }

    private static Object string(Object value, LogicalType logical, String path, List<String> errors) {
        if (value instanceof UUID uuid) {
            return uuid.toString();
        }
        if (!(value instanceof CharSequence s)) {
            return fail(errors, path, "expected a string, got " + shown(value));
        }
        if (logical != null && "uuid".equals(logical.getName()) && !UUID_FORM.matcher(s).matches()) {
            return fail(errors, path, shown(value) + " is not a UUID (8-4-4-4-12 hex digits)");
        }
        return s.toString();
    }

    private static Object integral(Object value, String path, List<String> errors, long min, long max, boolean asInt) {
        if (value instanceof Integer || value instanceof Long || value instanceof Short || value instanceof Byte) {
            long n = ((Number) value).longValue();
            if (n >= min && n <= max) {
                return asInt ? (Object) (int) n : (Object) n;
            }
            return fail(errors, path, n + " is out of range");
        }
        return fail(errors, path, "expected a whole number, got " + shown(value));
    }

    private static Object date(Object value, String path, List<String> errors) {
        if (value instanceof LocalDate day) {
            return (int) day.toEpochDay();
        }
        if (value instanceof CharSequence s) {
            try {
                return (int) LocalDate.parse(s, DateTimeFormatter.ISO_LOCAL_DATE).toEpochDay();
            } catch (DateTimeException e) {
                // fall through to the error
            }
        }
        return fail(errors, path, shown(value) + " is not a date YYYY-MM-DD");
    }

    private static Object timestamp(Object value, String unit, String path, List<String> errors) {
        Instant at = instant(value);
        if (at == null) {
            return fail(errors, path, shown(value) + " is not a timestamp in ISO 8601 with a timezone (e.g."
                    + " 2025-03-01T10:00:00Z)");
        }
        return "timestamp-millis".equals(unit) ? (Object) at.toEpochMilli() : (Object) micros(at);
    }

    /** An instant from the forms {@link DatumConverter} accepts for timestamps, or null. */
    static Instant instant(Object value) {
        if (value instanceof Instant i) {
            return i;
        }
        if (value instanceof OffsetDateTime o) {
            return o.toInstant();
        }
        if (value instanceof ZonedDateTime z) {
            return z.toInstant();
        }
        if (value instanceof CharSequence s) {
            try {
                return OffsetDateTime.parse(s, DateTimeFormatter.ISO_OFFSET_DATE_TIME).toInstant();
            } catch (DateTimeException e) {
                return null;
            }
        }
        return null;
    }

    static long micros(Instant at) {
        return ChronoUnit.MICROS.between(Instant.EPOCH, at);
    }

    private static ByteBuffer bytes(Object value, String path, List<String> errors, int size) {
        byte[] raw = null;
        if (value instanceof byte[] b) {
            raw = b.clone();
        } else if (value instanceof ByteBuffer b) {
            raw = new byte[b.remaining()];
            b.duplicate().get(raw);
        } else if (value instanceof CharSequence s) {
            try {
                raw = HexFormat.of().parseHex(s);
            } catch (IllegalArgumentException e) {
                fail(errors, path, "expected bytes as hex digits, got " + shown(value));
                return null;
            }
        } else {
            fail(errors, path, "expected bytes as hex digits, got " + shown(value));
            return null;
        }
        if (size >= 0 && raw.length != size) {
            fail(errors, path, "expected " + size + " bytes, got " + raw.length);
            return null;
        }
        return ByteBuffer.wrap(raw);
    }

    private static Object fail(List<String> errors, String path, String reason) {
        errors.add(path + ": " + reason);
        return null;
    }

    private static String join(String path, String name) {
        return path.isEmpty() ? name : path + "." + name;
    }

    /** A value as an error message shows it: quoted if a string, cut short, on one line. */
    static String shown(Object value) {
        if (value == null) {
            return "null";
        }
        String text = value instanceof CharSequence ? "'" + value + "'" : value.toString();
        text = text.replaceAll("[\\r\\n\\t]", " ");
        return text.length() > SHOWN ? text.substring(0, SHOWN) + "…" : text;
    }
}
