package dev.tandem.core.model;

import dev.tandem.core.compute.cpu.CpuBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntUnaryOperator;

import static dev.tandem.core.model.CheckpointEdits.INDEX;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The forms a Hugging Face checkpoint comes in: one file or shards, bf16, f16 or f32 weights, and
 * the config.json spellings of RoPE and head size. Each rewrite of a fixture must still give
 * transformers' logits and greedy tokens.
 */
class CheckpointFormsTest {
    private static final double MAX_RELATIVE_L2 = 1e-4;
    private static final String MIXTRAL = "mixtral-tiny";
    /** f16's smallest normal; below it the 10-bit mantissa loses bits, so bf16 values may round. */
    private static final float F16_MIN_NORMAL = 0x1p-14f;
    /** Half of f16's subnormal spacing 2⁻²⁴: the most that rounding a subnormal can move it. */
    private static final float F16_SUBNORMAL_HALF_ULP = 0x1p-25f;

    @TempDir
    Path temp;

    @Test
    void shouldMatchFixtureFromOneModelSafetensorsWithoutIndex() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("single"));
        List<CheckpointEdits.RawTensor> all = new ArrayList<>();
        for (Path shard : CheckpointEdits.shards(dir)) {
            all.addAll(CheckpointEdits.readTensors(shard));
            CheckpointEdits.delete(shard);
        }
        CheckpointEdits.delete(dir.resolve(INDEX));
        CheckpointEdits.writeTensors(dir.resolve("model.safetensors"), all);

        assertMatchesFixture(MIXTRAL, dir);
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldMatchFixtureWithFloat32Weights(String model) {
        Path dir = CheckpointEdits.copyFixture(model, temp.resolve("f32"));
        convertWeights(dir, "F32", 4, bits -> bits);

        assertMatchesFixture(model, dir);
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny", "dbrx-tiny"})
    void shouldMatchFixtureWithFloat16Weights(String model) {
        Path dir = CheckpointEdits.copyFixture(model, temp.resolve("f16"));
        int[] inexact = new int[1];
        convertWeights(dir, "F16", 2, bits -> {
            float value = Float.intBitsToFloat(bits);
            short half = Float.floatToFloat16(value);
            float back = Float.float16ToFloat(half);
            if (back != value) {
                // bf16 has 7 mantissa bits and f16 10, so only f16's subnormals can lose any
                assertTrue(Math.abs(value) < F16_MIN_NORMAL && Math.abs(back - value) <= F16_SUBNORMAL_HALF_ULP,
                        "bf16 " + value + " became f16 " + back);
                inexact[0]++;
            }
            return half;
        });
        // a few dozen of the ~500K weights are below 2⁻¹⁷ and round by at most 2⁻²⁵; none overflow
        assertTrue(inexact[0] < 100, inexact[0] + " weights changed in f16");

        assertMatchesFixture(model, dir);
    }

    @Test
    void shouldMatchFixtureWithRopeThetaAtTopLevelOfConfig() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("rope"));
        CheckpointEdits.editJson(dir.resolve("config.json"), c -> {
            assertEquals(1e6, c.get("rope_parameters").get("rope_theta").asDouble());
            c.remove("rope_parameters");
            c.put("rope_theta", 1e6);
        });

        assertMatchesFixture(MIXTRAL, dir);
    }

    @Test
    void shouldMatchFixtureWithExplicitHeadDim() {
        Path dir = CheckpointEdits.copyFixture(MIXTRAL, temp.resolve("head-dim"));
        CheckpointEdits.editJson(dir.resolve("config.json"), c -> {
            assertTrue(c.get("head_dim").isNull());
            c.put("head_dim", 64 / 4); // hidden_size / num_attention_heads
        });

        assertMatchesFixture(MIXTRAL, dir);
    }

    /** Rewrites every BF16 tensor of every shard as {@code dtype}, each bf16 widened to its float32 bits first. */
    private static void convertWeights(Path dir, String dtype, int bytesPerElement, IntUnaryOperator fromF32Bits) {
        for (Path shard : CheckpointEdits.shards(dir)) {
            List<CheckpointEdits.RawTensor> converted = new ArrayList<>();
            for (CheckpointEdits.RawTensor t : CheckpointEdits.readTensors(shard)) {
                assertEquals("BF16", t.dtype(), t.name());
                ByteBuffer in = ByteBuffer.wrap(t.data()).order(ByteOrder.LITTLE_ENDIAN);
                ByteBuffer out = ByteBuffer.allocate(t.data().length / 2 * bytesPerElement).order(ByteOrder.LITTLE_ENDIAN);
                while (in.hasRemaining()) {
                    int f32Bits = (in.getShort() & 0xFFFF) << 16;
                    int v = fromF32Bits.applyAsInt(f32Bits);
                    if (bytesPerElement == 4) {
                        out.putInt(v);
                    } else {
                        out.putShort((short) v);
                    }
                }
                converted.add(new CheckpointEdits.RawTensor(t.name(), dtype, t.shape(), out.array()));
            }
            CheckpointEdits.writeTensors(shard, converted);
            assertTrue(CheckpointEdits.header(shard).toString().contains("\"dtype\":\"" + dtype + "\""));
        }
    }

    private static void assertMatchesFixture(String model, Path dir) {
        assertFalse(Files.exists(dir.resolve("expected.safetensors")));
        FixtureParity.check(dir, model, () -> new CpuBackend(2), true, 64, 1, MAX_RELATIVE_L2, true);
    }
}
