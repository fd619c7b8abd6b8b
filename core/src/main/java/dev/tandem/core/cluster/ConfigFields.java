package dev.tandem.core.cluster;

import dev.tandem.core.TandemException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

/**
 * The fields of a properties config file, read with errors that name the file and the key.
 *
 * @param where the file, as error messages name it
 */
public record ConfigFields(Properties p, String where, java.util.Map<String, Integer> lines) {
    /** Fields without line numbers (built in memory, not read from a file). */
    public ConfigFields(Properties p, String where) {
        this(p, where, java.util.Map.of());
    }

    /** Reads {@code file}; {@code what} names it in the error if it cannot be read ("cluster config"). */
    public static ConfigFields read(Path file, String what) {
        Properties p = new Properties();
        java.util.Map<String, Integer> lines = new java.util.HashMap<>();
        try {
            java.util.List<String> text = Files.readAllLines(file); // once: the properties and their lines
            p.load(new java.io.StringReader(String.join("\n", text)));
            for (int i = 0; i < text.size(); i++) {
                String line = text.get(i).strip();
                if (line.isEmpty() || line.startsWith("#") || line.startsWith("!")) {
                    continue;
                }
                int end = 0;
                while (end < line.length() && "=: \t".indexOf(line.charAt(end)) < 0) {
                    end++;
                }
                lines.putIfAbsent(line.substring(0, end), i + 1);
            }
        } catch (IOException e) {
            throw new TandemException(file + ": cannot read " + what + ": " + e.getMessage(), e);
        }
        return new ConfigFields(p, file.toString(), java.util.Map.copyOf(lines));
    }

    /** Where {@code key} is, for an error: "FILE:LINE" where the file names it, else the file. */
    public String at(String key) {
        Integer line = lines.get(key);
        return line == null ? where : where + ":" + line;
    }

    /** A number in [min, max], or {@code fallback} when the key is absent. */
    public double doubleIn(String key, double min, double max, double fallback) {
        String v = get(key, null);
        if (v == null) {
            return fallback;
        }
        try {
            double d = Double.parseDouble(v);
            if (!(d >= min && d <= max)) {
                throw new NumberFormatException();
            }
            return d;
        } catch (NumberFormatException e) {
            throw new TandemException(at(key) + ": '" + key + "' must be a number in [" + min + ", " + max
                    + "], got '" + v + "'");
        }
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
            throw new TandemException(at(key) + ": '" + key + "' must be an integer in [" + min + ", " + max
                    + "], got '" + v + "'");
        }
    }
}
