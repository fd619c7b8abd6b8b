package dev.tandem.core.model;

import dev.tandem.core.checkpoint.SafetensorsFile;

import java.net.URISyntaxException;
import java.nio.file.Path;

/** The Hugging Face fixtures copied from shared/fixtures, with transformers' reference outputs. */
public final class FixtureSupport {
    public static final String[] MODELS = {"mixtral-tiny", "dbrx-tiny"};
    public static final int PROMPTS = 3;

    private FixtureSupport() {
    }

    /**
     * The fixture's directory: on the test class path as files, or (when this class comes from
     * core's test jar, as in the CUDA module's tests) core's test resources beside the module.
     */
    public static Path dir(String model) {
        try {
            java.net.URI uri = FixtureSupport.class.getResource("/fixtures/" + model + "/config.json").toURI();
            if (uri.getScheme().equals("file")) {
                return Path.of(uri).getParent();
            }
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
        for (String root : new String[]{"../core/src/test/resources/fixtures", "core/src/test/resources/fixtures"}) {
            Path dir = Path.of(root, model);
            if (java.nio.file.Files.isDirectory(dir)) {
                return dir;
            }
        }
        throw new IllegalStateException("fixture " + model + " not found beside " + Path.of("").toAbsolutePath());
    }

    public static SafetensorsFile expected(String model) {
        return SafetensorsFile.open(dir(model).resolve("expected.safetensors"));
    }

    public static int[] ints(SafetensorsFile file, String name) {
        long[] values = file.tensor(name).toLongArray();
        int[] out = new int[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = Math.toIntExact(values[i]);
        }
        return out;
    }

    /** ‖a − b‖ / ‖b‖ over {@code n} values from the given offsets. */
    public static double relativeL2(float[] a, int aOffset, float[] b, int bOffset, int n) {
        double diff = 0, norm = 0;
        for (int i = 0; i < n; i++) {
            double d = a[aOffset + i] - b[bOffset + i];
            diff += d * d;
            norm += (double) b[bOffset + i] * b[bOffset + i];
        }
        return Math.sqrt(diff / norm);
    }
}
