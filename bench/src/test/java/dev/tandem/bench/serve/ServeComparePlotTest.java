package dev.tandem.bench.serve;

import dev.tandem.core.TandemException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ServeComparePlotTest {
    private static final String REPORT = """
            {"rates":[{"rate":1,"requestsPerSecond":0.9,"slo":[
              {"metric":"TTFT","percentile":0.9,"slowdown":2.5,"limit":3,"pass":true},
              {"metric":"TBT","percentile":0.9,"slowdown":1.1,"limit":1.5,"pass":true},
              {"metric":"E2E","percentile":0.9,"slowdown":1.3,"limit":1.5,"pass":true}]},
             {"rate":2,"requestsPerSecond":1.7,"slo":[
              {"metric":"TTFT","percentile":0.9,"slowdown":"Infinity","limit":3,"pass":false}]}]}
            """;

    @TempDir
    Path temp;

    @Test
    void shouldDrawFourPanelsFromSavedReports() throws Exception {
        Path a = Files.writeString(temp.resolve("colocated.json"), REPORT);
        Path b = Files.writeString(temp.resolve("splitwise.json"), REPORT);
        Path png = temp.resolve("compare.png");
        ServeComparePlot.write(png, List.of(a, b));
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(2 * 640, image.getWidth(), "two panels a row");
        assertEquals(2 * 420, image.getHeight(), "two rows");
    }

    @Test
    void shouldNameAFileThatIsNotAReport() throws Exception {
        Path bad = Files.writeString(temp.resolve("bad.json"), "{\"url\":\"x\"}");
        TandemException e = assertThrows(TandemException.class,
                () -> ServeComparePlot.write(temp.resolve("x.png"), List.of(bad)));
        assertTrue(e.getMessage().contains("bad.json"), e.getMessage());
    }
}
