package dev.tandem.transport;

/**
 * Element type of the activations in a frame. The code is the value on the wire; it never
 * reuses the ordinal so that reordering the constants cannot change the protocol.
 */
public enum Dtype
{
    /** bfloat16: 2 bytes, the default for activations on the wire. */
    BF16((byte)1, 2),
    /** IEEE float32: 4 bytes, used when the model runs in fp32 end to end. */
    FP32((byte)2, 4);

    private final byte code;
    private final int bytes;

    Dtype(final byte code, final int bytes)
    {
        this.code = code;
        this.bytes = bytes;
    }

    /** @return the value written to the frame's dtype field. */
    public byte code()
    {
        return code;
    }

    /** @return bytes per element. */
    public int bytes()
    {
        return bytes;
    }

    /** @return the dtype of {@code bytes} per element: a KV cache's {@code elementBytes}, 2 or 4. */
    public static Dtype ofBytes(final int bytes)
    {
        return switch (bytes)
        {
            case 2 -> BF16;
            case 4 -> FP32;
            default -> throw new IllegalArgumentException(bytes + " bytes an element: neither bf16 nor fp32");
        };
    }

    /**
     * @param code read from a frame.
     * @return the dtype, or null when the code is unknown (the caller rejects the frame).
     */
    public static Dtype fromCode(final byte code)
    {
        return switch (code)
        {
            case 1 -> BF16;
            case 2 -> FP32;
            default -> null;
        };
    }
}
