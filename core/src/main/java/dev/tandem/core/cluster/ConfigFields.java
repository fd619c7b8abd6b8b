package dev.tandem.core.cluster;

import dev.tandem.core.TandemException;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

/**
 * The fields of a properties config file, read with errors that name the file and the key.
 *
 * @param where the file, as error messages name it
 */
public record ConfigFields(Properties p, String where) {
    /** Reads {@code file}; {@code what} names it in the error if it cannot be read ("cluster config"). */
    public static ConfigFields read(Path file, String what) {
        Properties p = new Properties();
        try (Reader reader = Files.newBufferedReader(file)) {
            p.load(reader);
        } catch (IOException e) {
            throw new TandemException(file + ": cannot read " + what + ": " + e.getMessage(), e);
        }
        return new ConfigFields(p, file.toString());
    }

    public String get(String key, String fallback) {
        String v = p.getProperty(key);
        return v == null || v.isBlank() ? fallback : v.trim();
    }

    public String required(String key) {
        String v = get(key, null);
        if (v == null) {
            throw new TandemException(where + ": missing '" + key + "'");
        }
        return v;
    }

    public int intIn(String key, int min, int max) {
        return parse(key, required(key), min, max);
    }

    public int intIn(String key, int min, int max, int fallback) {
        String v = get(key, null);
        return v == null ? fallback : parse(key, v, min, max);
    }

    private int parse(String key, String v, int min, int max) {
        try {
            int n = Integer.parseInt(v);
            if (n < min || n > max) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new TandemException(where + ": '" + key + "' must be an integer in [" + min + ", " + max
                    + "], got '" + v + "'");
        }
    }
}
