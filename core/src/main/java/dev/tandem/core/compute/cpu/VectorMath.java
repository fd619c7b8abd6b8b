package dev.tandem.core.compute.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Float32 vector helpers over heap arrays. */
final class VectorMath {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private VectorMath() {
    }

    static float dot(float[] a, int aOffset, float[] b, int bOffset, int n) {
        int full = F.loopBound(n);
        FloatVector acc = FloatVector.zero(F);
        for (int i = 0; i < full; i += F.length()) {
            acc = FloatVector.fromArray(F, a, aOffset + i).fma(FloatVector.fromArray(F, b, bOffset + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (int i = full; i < n; i++) {
            sum += a[aOffset + i] * b[bOffset + i];
        }
        return sum;
    }

    /** {@code acc[accOffset..+n] += s · x[xOffset..+n]}. */
    static void axpy(float s, float[] x, int xOffset, float[] acc, int accOffset, int n) {
        int full = F.loopBound(n);
        FloatVector sv = FloatVector.broadcast(F, s);
        for (int i = 0; i < full; i += F.length()) {
            FloatVector.fromArray(F, x, xOffset + i).fma(sv, FloatVector.fromArray(F, acc, accOffset + i))
                    .intoArray(acc, accOffset + i);
        }
        for (int i = full; i < n; i++) {
            acc[accOffset + i] += s * x[xOffset + i];
        }
    }
}
