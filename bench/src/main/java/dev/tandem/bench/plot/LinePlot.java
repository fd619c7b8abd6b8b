package dev.tandem.bench.plot;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.DoubleFunction;

/**
 * A line chart drawn with Java2D, headless: series of (x, y) points, linear or log axes, ticks,
 * a legend. One plot draws into any rectangle of a {@link Graphics2D}; {@link #writePng} lays
 * out several as a grid in one PNG. No charting library.
 */
public final class LinePlot {
    private static final Color[] PALETTE = {
            new Color(0x1F77B4), new Color(0xD62728), new Color(0x2CA02C), new Color(0x7F7F7F),
            new Color(0xFF7F0E), new Color(0x9467BD), new Color(0x8C564B), new Color(0xE377C2)};
    private static final int MARGIN_LEFT = 70;
    private static final int MARGIN_RIGHT = 16;
    private static final int MARGIN_TOP = 30;
    private static final int MARGIN_BOTTOM = 46;

    private record Series(String name, Color color, double[] x, double[] y) {
    }

    private final String title;
    private final String xLabel;
    private final String yLabel;
    private final List<Series> series = new ArrayList<>();
    private boolean logX;
    private boolean logY;
    private double[] xTicks;
    private DoubleFunction<String> xFormat = LinePlot::si;
    private DoubleFunction<String> yFormat = LinePlot::si;

    public LinePlot(String title, String xLabel, String yLabel) {
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
    }

    public LinePlot logX(boolean log) {
        this.logX = log;
        return this;
    }

    public LinePlot logY(boolean log) {
        this.logY = log;
        return this;
    }

    /** Ticks at these x values instead of powers of ten (log) or round steps (linear). */
    public LinePlot xTicks(double... ticks) {
        this.xTicks = ticks.clone();
        return this;
    }

    public LinePlot xFormat(DoubleFunction<String> format) {
        this.xFormat = format;
        return this;
    }

    public LinePlot yFormat(DoubleFunction<String> format) {
        this.yFormat = format;
        return this;
    }

    /** Add a series in the next palette colour; points with a non-positive value on a log axis are left out. */
    public LinePlot series(String name, double[] x, double[] y) {
        return series(name, PALETTE[series.size() % PALETTE.length], x, y);
    }

    public LinePlot series(String name, Color color, double[] x, double[] y) {
        if (x.length != y.length) {
            throw new IllegalArgumentException(name + ": " + x.length + " x values, " + y.length + " y values");
        }
        series.add(new Series(name, color, x.clone(), y.clone()));
        return this;
    }

    /** @return the colour the palette gives the i-th series, for callers that keep colours stable. */
    public static Color paletteColor(int i) {
        return PALETTE[i % PALETTE.length];
    }

    /** Draw into the rectangle (left, top, width, height) of {@code g}. */
    public void draw(Graphics2D g, int left, int top, int width, int height) {
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setStroke(new BasicStroke(1f)); // the previous plot's series may have left a thicker one
        g.setColor(Color.WHITE);
        g.fillRect(left, top, width, height);
        final int px = left + MARGIN_LEFT;
        final int py = top + MARGIN_TOP;
        final int pw = width - MARGIN_LEFT - MARGIN_RIGHT;
        final int ph = height - MARGIN_TOP - MARGIN_BOTTOM;
        final double[] xr = range(true);
        final double[] yr = range(false);
        final Axis xAxis = new Axis(xr[0], xr[1], logX, px, px + pw);
        final Axis yAxis = new Axis(yr[0], yr[1], logY, py + ph, py);

        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        final FontMetrics titleMetrics = g.getFontMetrics();
        g.setColor(Color.BLACK);
        g.drawString(title, px + (pw - titleMetrics.stringWidth(title)) / 2, top + 19);

        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        final FontMetrics fm = g.getFontMetrics();
        for (double t : xTicks != null ? xTicks : xAxis.ticks()) {
            final int x = xAxis.pixel(t);
            g.setColor(new Color(0xE6E6E6));
            g.drawLine(x, py, x, py + ph);
            g.setColor(Color.DARK_GRAY);
            final String label = xFormat.apply(t);
            g.drawString(label, x - fm.stringWidth(label) / 2, py + ph + fm.getAscent() + 4);
        }
        for (double t : yAxis.ticks()) {
            final int y = yAxis.pixel(t);
            g.setColor(new Color(0xE6E6E6));
            g.drawLine(px, y, px + pw, y);
            g.setColor(Color.DARK_GRAY);
            final String label = yFormat.apply(t);
            g.drawString(label, px - fm.stringWidth(label) - 5, y + fm.getAscent() / 2 - 1);
        }
        g.setColor(Color.BLACK);
        g.drawRect(px, py, pw, ph);
        g.drawString(xLabel, px + (pw - fm.stringWidth(xLabel)) / 2, top + height - 8);
        final AffineTransform saved = g.getTransform();
        g.rotate(-Math.PI / 2);
        g.drawString(yLabel, -(py + (ph + fm.stringWidth(yLabel)) / 2), left + fm.getAscent() + 2);
        g.setTransform(saved);

        final java.awt.Shape clip = g.getClip();
        g.clipRect(px, py, pw + 1, ph + 1);
        for (Series s : series) {
            g.setColor(s.color());
            g.setStroke(new BasicStroke(2f));
            int lastX = Integer.MIN_VALUE;
            int lastY = 0;
            for (int i = 0; i < s.x().length; i++) {
                if (!plottable(s.x()[i], logX) || !plottable(s.y()[i], logY)) {
                    lastX = Integer.MIN_VALUE; // a gap
                    continue;
                }
                final int x = xAxis.pixel(s.x()[i]);
                final int y = yAxis.pixel(s.y()[i]);
                if (lastX != Integer.MIN_VALUE) {
                    g.drawLine(lastX, lastY, x, y);
                }
                g.fillOval(x - 3, y - 3, 7, 7);
                lastX = x;
                lastY = y;
            }
        }
        g.setClip(clip);
        g.setStroke(new BasicStroke(1f));
        drawLegend(g, fm, px + 8, py + 8);
    }

    private void drawLegend(Graphics2D g, FontMetrics fm, int x, int y) {
        int width = 0;
        for (Series s : series) {
            width = Math.max(width, fm.stringWidth(s.name()));
        }
        final int lineHeight = fm.getHeight();
        g.setColor(new Color(255, 255, 255, 220));
        g.fillRect(x, y, width + 34, lineHeight * series.size() + 6);
        g.setColor(Color.GRAY);
        g.setStroke(new BasicStroke(1f));
        g.drawRect(x, y, width + 34, lineHeight * series.size() + 6);
        for (int i = 0; i < series.size(); i++) {
            final int baseline = y + 3 + lineHeight * i + fm.getAscent();
            g.setColor(series.get(i).color());
            g.setStroke(new BasicStroke(2f));
            g.drawLine(x + 5, baseline - fm.getAscent() / 2 + 1, x + 23, baseline - fm.getAscent() / 2 + 1);
            g.setColor(Color.BLACK);
            g.drawString(series.get(i).name(), x + 28, baseline);
        }
    }

    /** Lay out {@code plots} row by row, {@code columns} per row, each {@code cellWidth} x {@code cellHeight}, into a PNG. */
    public static void writePng(Path file, List<LinePlot> plots, int columns, int cellWidth, int cellHeight) {
        System.setProperty("java.awt.headless", "true");
        final int rows = (plots.size() + columns - 1) / columns;
        final BufferedImage image = new BufferedImage(columns * cellWidth, rows * cellHeight, BufferedImage.TYPE_INT_RGB);
        final Graphics2D g = image.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, image.getWidth(), image.getHeight());
            for (int i = 0; i < plots.size(); i++) {
                plots.get(i).draw(g, (i % columns) * cellWidth, (i / columns) * cellHeight, cellWidth, cellHeight);
            }
        } finally {
            g.dispose();
        }
        try {
            final Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            if (!ImageIO.write(image, "png", file.toFile())) {
                throw new IOException("no PNG writer");
            }
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot write " + file, ex);
        }
    }

    private double[] range(boolean xAxis) {
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        final boolean log = xAxis ? logX : logY;
        for (Series s : series) {
            for (double v : xAxis ? s.x() : s.y()) {
                if (plottable(v, log)) {
                    lo = Math.min(lo, v);
                    hi = Math.max(hi, v);
                }
            }
        }
        if (xAxis && xTicks != null) {
            for (double t : xTicks) {
                lo = Math.min(lo, t);
                hi = Math.max(hi, t);
            }
        }
        if (lo > hi) {
            return log ? new double[]{1, 10} : new double[]{0, 1};
        }
        if (log) { // a little room around the points, whole decades for the y axis
            return xAxis ? new double[]{lo / 1.4, hi * 1.4}
                    : new double[]{Math.pow(10, Math.floor(Math.log10(lo))), Math.pow(10, Math.ceil(Math.log10(hi * 1.0001)))};
        }
        final double pad = hi == lo ? Math.max(1, Math.abs(hi)) * 0.1 : (hi - lo) * 0.05;
        return new double[]{Math.min(0, lo), hi + pad};
    }

    private static boolean plottable(double v, boolean log) {
        return Double.isFinite(v) && (!log || v > 0);
    }

    /** Values like 2k, 16k, 1M, 0.5, 250. */
    public static String si(double v) {
        return SiNumbers.si(v);
    }

    /** Maps data values to pixels along one axis. */
    private record Axis(double lo, double hi, boolean log, int from, int to) {
        int pixel(double v) {
            final double t = log ? (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))
                    : (v - lo) / (hi - lo);
            return (int) Math.round(from + t * (to - from));
        }

        double[] ticks() {
            final List<Double> ticks = new ArrayList<>();
            if (log) {
                for (double p = Math.pow(10, Math.ceil(Math.log10(lo))); p <= hi * 1.0001; p *= 10) {
                    ticks.add(p);
                }
            } else {
                final double step = niceStep((hi - lo) / 5);
                for (double t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) {
                    ticks.add(t);
                }
            }
            return ticks.stream().mapToDouble(Double::doubleValue).toArray();
        }

        private static double niceStep(double raw) {
            final double magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
            final double f = raw / magnitude;
            return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * magnitude;
        }
    }
}
