package dev.tandem.bench.plot;

/** Numbers with SI suffixes (2k, 1.5M), for axis labels and tables; no AWT, so a headless runtime without java.desktop can print tables. */
public final class SiNumbers {
    private SiNumbers() {
    }

    public static String si(double v) {
        final double a = Math.abs(v);
        if (a >= 1e9) {
            return trim(v / 1e9) + "G";
        }
        if (a >= 1e6) {
            return trim(v / 1e6) + "M";
        }
        if (a >= 1e3) {
            return trim(v / 1e3) + "k";
        }
        return trim(v);
    }

    private static String trim(double v) {
        final String s = String.format(java.util.Locale.ROOT, "%.2f", v);
        return s.contains(".") ? s.replaceAll("0+$", "").replaceAll("\\.$", "") : s;
    }
}
