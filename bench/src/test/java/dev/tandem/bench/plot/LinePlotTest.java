package dev.tandem.bench.plot;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LinePlotTest {
    @Test
    void shouldDrawSeriesInTheirColoursOnLogAxes(@TempDir Path dir) throws IOException {
        LinePlot plot = new LinePlot("t", "x", "y").logX(true).logY(true)
                .series("red", Color.RED, new double[]{1e3, 1e4, 1e6}, new double[]{10, 100, 1000})
                .series("gap", Color.BLUE, new double[]{1e3, 1e4}, new double[]{0, 5}); // 0 cannot be drawn on log y
        Path png = dir.resolve("p.png");
        LinePlot.writePng(png, List.of(plot, plot), 2, 300, 200);
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(600, image.getWidth());
        assertEquals(200, image.getHeight());
        assertTrue(count(image, Color.RED.getRGB()) > 50, "the red line is drawn");
        assertTrue(count(image, Color.BLUE.getRGB()) > 5, "the drawable blue point and its legend entry");
    }

    @Test
    void shouldFormatTicksCompactly() {
        assertEquals("2k", LinePlot.si(2000));
        assertEquals("1.5M", LinePlot.si(1.5e6));
        assertEquals("250", LinePlot.si(250));
        assertEquals("0.5", LinePlot.si(0.5));
    }

    private static int count(BufferedImage image, int rgb) {
        int n = 0;
        for (int y = 0; y < image.getHeight(); y++) {
            for (int x = 0; x < image.getWidth(); x++) {
                n += (image.getRGB(x, y) | 0xFF000000) == (rgb | 0xFF000000) ? 1 : 0;
            }
        }
        return n;
    }
}
