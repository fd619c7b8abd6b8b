package dev.tandem.core.compute;

/** bfloat16 as torch has it: the top 16 bits of a float32, rounded to nearest even. */
public final class Bf16 {
    private Bf16() {
    }

    /** Round to nearest even; NaN stays NaN (quiet), as the CUDA kernels' float_to_bf16 has it. */
    public static short fromFloat(float value) {
        int bits = Float.floatToRawIntBits(value);
        if ((bits & 0x7fff_ffff) > 0x7f80_0000) {
            return (short) ((bits >>> 16) | 0x40);
        }
        bits += 0x7fff + ((bits >>> 16) & 1);
        return (short) (bits >>> 16);
    }

    /** Exact. */
    public static float toFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }
}
