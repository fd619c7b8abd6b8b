package dev.tandem.core.compute.cpu;

import dev.tandem.core.compute.Router;

/** Per-row operations: a few KB per token, done on the calling thread. */
final class RowOps {
    private float[] cos = new float[0];
    private float[] sin = new float[0];
    private float[] inverseFrequencies = new float[0];
    private double cachedTheta = Double.NaN;
    private int cachedHeadDim;

    void embed(CpuActivations out, CpuWeight table, int[] tokens, int rows) {
        for (int i = 0; i < rows; i++) {
            for (int c = 0; c < out.cols; c++) {
                out.set(i, c, table.get(tokens[i], c));
            }
        }
    }

    void rmsNorm(CpuActivations out, CpuActivations in, CpuWeight gain, float eps, int rows) {
        int n = in.cols;
        for (int i = 0; i < rows; i++) {
            float sumSquares = 0f;
            for (int c = 0; c < n; c++) {
                float v = in.get(i, c);
                sumSquares += v * v;
            }
            float inv = (float) (1.0 / Math.sqrt(sumSquares / n + eps));
            for (int c = 0; c < n; c++) {
                out.set(i, c, gain.get(0, c) * (in.get(i, c) * inv));
            }
        }
    }

    void layerNorm(CpuActivations out, CpuActivations in, CpuWeight gain, float eps, int rows) {
        int n = in.cols;
        for (int i = 0; i < rows; i++) {
            float sum = 0f;
            for (int c = 0; c < n; c++) {
                sum += in.get(i, c);
            }
            float mean = sum / n;
            float sumSquares = 0f;
            for (int c = 0; c < n; c++) {
                float d = in.get(i, c) - mean;
                sumSquares += d * d;
            }
            float inv = (float) (1.0 / Math.sqrt(sumSquares / n + eps));
            for (int c = 0; c < n; c++) {
                out.set(i, c, (in.get(i, c) - mean) * inv * gain.get(0, c));
            }
        }
    }

    void clamp(CpuActivations x, float limit, int rows) {
        for (int i = 0; i < rows; i++) {
            for (int c = 0; c < x.cols; c++) {
                x.set(i, c, Math.max(-limit, Math.min(limit, x.get(i, c))));
            }
        }
    }

    /**
     * Hugging Face's rotate-half RoPE: element j pairs with j + headDim/2, rotated by
     * {@code position · θ^(−2j/headDim)}, with the angle formed in float32 as transformers does.
     */
    void rope(CpuActivations x, int headDim, double theta, int[] positions, int rows) {
        int half = headDim / 2;
        prepareFrequencies(theta, headDim);
        for (int i = 0; i < rows; i++) {
            float position = positions[i];
            for (int j = 0; j < half; j++) {
                float angle = position * inverseFrequencies[j];
                cos[j] = (float) Math.cos(angle);
                sin[j] = (float) Math.sin(angle);
            }
            for (int h = 0; h < x.cols / headDim; h++) {
                int base = h * headDim;
                for (int j = 0; j < half; j++) {
                    float a = x.get(i, base + j);
                    float b = x.get(i, base + j + half);
                    x.set(i, base + j, a * cos[j] - b * sin[j]);
                    x.set(i, base + j + half, b * cos[j] + a * sin[j]);
                }
            }
        }
    }

    private void prepareFrequencies(double theta, int headDim) {
        if (theta == cachedTheta && headDim == cachedHeadDim) {
            return;
        }
        int half = headDim / 2;
        inverseFrequencies = new float[half];
        cos = new float[half];
        sin = new float[half];
        for (int j = 0; j < half; j++) {
            inverseFrequencies[j] = (float) (1.0 / (float) Math.pow(theta, (2.0 * j) / headDim));
        }
        cachedTheta = theta;
        cachedHeadDim = headDim;
    }

    void siluMul(CpuActivations gate, CpuActivations up, int rows) {
        for (int i = 0; i < rows; i++) {
            for (int c = 0; c < gate.cols; c++) {
                float g = gate.get(i, c);
                gate.set(i, c, g / (1f + (float) Math.exp(-g)) * up.get(i, c));
            }
        }
    }

    void siluMulScaled(CpuActivations gate, CpuActivations up, CpuActivations gates, int expert, int rows) {
        for (int i = 0; i < rows; i++) {
            float w = gates.get(i, expert);
            for (int c = 0; c < gate.cols; c++) {
                float g = gate.get(i, c);
                gate.set(i, c, g / (1f + (float) Math.exp(-g)) * up.get(i, c) * w);
            }
        }
    }

    /** The host {@link Router}'s arithmetic, written into a dense (rows, experts) matrix. */
    void routeDense(CpuActivations gates, CpuActivations logits, int topK, float normP, int rows) {
        int experts = logits.cols;
        Router router = new Router(experts, topK, normP);
        float[] row = new float[experts];
        int[] chosen = new int[topK];
        float[] weights = new float[topK];
        for (int i = 0; i < rows; i++) {
            for (int e = 0; e < experts; e++) {
                row[e] = logits.get(i, e);
                gates.set(i, e, 0f);
            }
            router.route(row, 0, chosen, weights);
            for (int j = 0; j < topK; j++) {
                gates.set(i, chosen[j], weights[j]);
            }
        }
    }

    void add(CpuActivations acc, CpuActivations x, int rows) {
        for (int i = 0; i < rows; i++) {
            for (int c = 0; c < acc.cols; c++) {
                acc.set(i, c, acc.get(i, c) + x.get(i, c));
            }
        }
    }

    void combineRows(CpuActivations acc, CpuActivations in, int[] targets, int[] start, int[] source, float[] weight,
                     int count) {
        for (int t = 0; t < count; t++) {
            int target = targets[t];
            for (int c = 0; c < acc.cols; c++) {
                float sum = 0f;
                for (int q = start[t]; q < start[t + 1]; q++) {
                    sum += weight[q] * in.get(source[q], c);
                }
                acc.set(target, c, acc.get(target, c) + sum);
            }
        }
    }

    void scatterAddScaled(CpuActivations acc, CpuActivations in, int[] rowIndex, float[] scale, int rows) {
        for (int i = 0; i < rows; i++) {
            int target = rowIndex[i];
            float s = scale[i];
            for (int c = 0; c < acc.cols; c++) {
                acc.set(target, c, acc.get(target, c) + s * in.get(i, c));
            }
        }
    }
}
