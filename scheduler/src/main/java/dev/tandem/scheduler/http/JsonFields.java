package dev.tandem.scheduler.http;

import com.fasterxml.jackson.databind.JsonNode;

/** Typed optional fields of a JSON object: absent or null is null, a wrong type is a 400 naming the field. */
final class JsonFields {
    private final JsonNode object;
    private final String prefix;

    JsonFields(JsonNode object) {
        this(object, "");
    }

    /** {@code prefix} makes the reported param a path, e.g. "stream_options.". */
    JsonFields(JsonNode object, String prefix) {
        this.object = object;
        this.prefix = prefix;
    }

    boolean present(String name) {
        JsonNode v = object.get(name);
        return v != null && !v.isNull();
    }

    String string(String name) {
        JsonNode v = value(name);
        if (v != null && !v.isTextual()) {
            throw wrongType(name, "a string", v);
        }
        return v == null ? null : v.asText();
    }

    Boolean bool(String name) {
        JsonNode v = value(name);
        if (v != null && !v.isBoolean()) {
            throw wrongType(name, "a boolean", v);
        }
        return v == null ? null : v.booleanValue();
    }

    Double number(String name) {
        JsonNode v = value(name);
        if (v != null && !v.isNumber()) {
            throw wrongType(name, "a number", v);
        }
        return v == null ? null : v.doubleValue();
    }

    Integer integer(String name) {
        JsonNode v = value(name);
        if (v != null && !(v.isIntegralNumber() && v.canConvertToInt())) {
            throw wrongType(name, "an integer", v);
        }
        return v == null ? null : v.intValue();
    }

    Long longInteger(String name) {
        JsonNode v = value(name);
        if (v != null && !(v.isIntegralNumber() && v.canConvertToLong())) {
            throw wrongType(name, "an integer", v);
        }
        return v == null ? null : v.longValue();
    }

    Integer positiveInt(String name) {
        Integer v = integer(name);
        if (v != null && v < 1) {
            throw ApiError.badRequest("'" + prefix + name + "' must be >= 1, got " + v, prefix + name);
        }
        return v;
    }

    private JsonNode value(String name) {
        JsonNode v = object.get(name);
        return v == null || v.isNull() ? null : v;
    }

    private ApiError wrongType(String name, String expected, JsonNode got) {
        return ApiError.badRequest("'" + prefix + name + "' must be " + expected + ", got " + got, prefix + name);
    }
}
