package dev.tandem.core.checkpoint;

import dev.tandem.core.TandemException;

/** Element types as safetensors names them. */
public enum DType {
    BF16(2), F16(2), F32(4), F64(8), I64(8), I32(4), I16(2), I8(1), U8(1), BOOL(1);

    public final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /** True for the types a weight may have. */
    public boolean isFloatingWeight() {
        return this == BF16 || this == F16 || this == F32;
    }

    public static DType parse(String name, String where) {
        for (DType t : values()) {
            if (t.name().equals(name)) {
                return t;
            }
        }
        throw new TandemException(where + ": unknown dtype '" + name + "'");
    }
}
