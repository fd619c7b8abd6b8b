// Tandem's CUDA kernels, compiled by NVRTC at first use for the device's compute capability.
// Activations are float32 rows with a row stride (in floats); weights are bf16 (stored as raw
// 16-bit words, so no CUDA headers are needed) or float32. Every kernel bounds-checks its rows
// and columns, so a grid may be rounded up.

typedef unsigned short bf16_t;
typedef unsigned short f16_t;

// The columns of row blockIdx.x that this thread handles: per-row kernels run on a grid of
// (rows, column blocks), so that a single row still spreads over many multiprocessors.
#define COLUMNS(c, n) for (int c = blockIdx.y * blockDim.x + threadIdx.x; c < (n); c += gridDim.y * blockDim.x)
// Four columns a thread (one 16-byte access), for kernels the host picks where every row is 16-byte aligned.
#define COLUMNS4(c, n) for (int c = 4 * (blockIdx.y * blockDim.x + threadIdx.x); c < (n); c += 4 * gridDim.y * blockDim.x)

__device__ __forceinline__ float bf16_to_float(bf16_t h) {
    return __uint_as_float(((unsigned int) h) << 16);
}

// float32 or bf16 (unsigned short) to float32, for kernels templated on what they read
__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(bf16_t h) { return bf16_to_float(h); }

// Round to nearest even, as torch does; NaN stays NaN.
__device__ __forceinline__ bf16_t float_to_bf16(float f) {
    unsigned int u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return (bf16_t) ((u >> 16) | 0x40u);
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16_t) (u >> 16);
}

// Two floats rounded to bf16 in one 32-bit word, the first in the low half (the lower column). From
// sm_80 one cvt.rn.bf16x2.f32 does both roundings (round to nearest even, as float_to_bf16; NaN stays
// NaN), where float_to_bf16 takes five integer instructions each: in the prefill attention's inner
// loop, which packs every probability, that is most of its non-MMA work. BF16_PACK_CVT=0 (an NVRTC
// define) keeps the integer form, for A/B runs.
#ifndef BF16_PACK_CVT
#define BF16_PACK_CVT 1
#endif
__device__ __forceinline__ unsigned pack_bf16x2(float first, float second) {
#if BF16_PACK_CVT && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned packed;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(packed) : "f"(second), "f"(first)); // first operand: the high half
    return packed;
#else
    return (unsigned) float_to_bf16(first) | ((unsigned) float_to_bf16(second) << 16);
#endif
}
// The two bf16 of a 32-bit word as floats: the low half (the lower column), the high half.
__device__ __forceinline__ float bf16x2_low(unsigned w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float bf16x2_high(unsigned w) { return __uint_as_float(w & 0xffff0000u); }

__device__ __forceinline__ float f16_to_float(f16_t h) {
    float f;
    asm("{ cvt.f32.f16 %0, %1; }" : "=f"(f) : "h"(h));
    return f;
}

// The dtypes a weight or KV cache is held in; one template each, instantiated below by name.
struct F32 {
    typedef float t;
    static __device__ __forceinline__ float load(const float* p, long i) { return p[i]; }
    // N consecutive values from a 4N-byte-aligned address, in 16-byte loads
    template <int N> static __device__ __forceinline__ void load_vec(const float* p, float* out) {
#pragma unroll
        for (int j = 0; j < N; j += 4) {
            float4 v = *(const float4*) (p + j);
            out[j] = v.x; out[j + 1] = v.y; out[j + 2] = v.z; out[j + 3] = v.w;
        }
    }
    static __device__ __forceinline__ void store(float* p, long i, float v) { p[i] = v; }
};
struct BF16 {
    typedef bf16_t t;
    static __device__ __forceinline__ float load(const bf16_t* p, long i) { return bf16_to_float(p[i]); }
    // N (4 or 8) consecutive values from a 2N-byte-aligned address, in one load
    template <int N> static __device__ __forceinline__ void load_vec(const bf16_t* p, float* out) {
        unsigned int w[N / 2];
        if (N == 8) {
            uint4 v = *(const uint4*) p;
            w[0] = v.x; w[1] = v.y; w[2 % (N / 2)] = v.z; w[3 % (N / 2)] = v.w;
        } else {
            uint2 v = *(const uint2*) p;
            w[0] = v.x; w[1] = v.y;
        }
#pragma unroll
        for (int j = 0; j < N / 2; j++) {
            out[2 * j] = bf16x2_low(w[j]);
            out[2 * j + 1] = bf16x2_high(w[j]);
        }
    }
    static __device__ __forceinline__ void store(bf16_t* p, long i, float v) { p[i] = float_to_bf16(v); }
};

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
__device__ float block_sum(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    int warps = blockDim.x >> 5;
    float total = 0.f;
    for (int w = 0; w < warps; w++) total += scratch[w];
    return total;
}

// ---- conversions (weight upload, bf16 matmul inputs) ----

extern "C" __global__ void convert_bf16_to_f32(float* out, const bf16_t* in, long n) {
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x)
        out[i] = bf16_to_float(in[i]);
}

extern "C" __global__ void convert_f16_to_f32(float* out, const f16_t* in, long n) {
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x)
        out[i] = f16_to_float(in[i]);
}

extern "C" __global__ void convert_f32_to_bf16(bf16_t* out, const float* in, long n) {
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x)
        out[i] = float_to_bf16(in[i]);
}

extern "C" __global__ void convert_f16_to_bf16(bf16_t* out, const f16_t* in, long n) {
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x)
        out[i] = float_to_bf16(f16_to_float(in[i]));
}

// Rows of strided float32 activations to contiguous bf16: grid (rows), the input of a bf16 GEMM.
extern "C" __global__ void rows_to_bf16(bf16_t* out, const float* in, int inStride, int cols) {
    int r = blockIdx.x;
    COLUMNS(c, cols)
        out[(long) r * cols + c] = float_to_bf16(in[(long) r * inStride + c]);
}

// Strided rows to contiguous rows: grid (rows).
extern "C" __global__ void pack_rows(float* out, const float* in, int inStride, int cols) {
    int r = blockIdx.x;
    COLUMNS(c, cols)
        out[(long) r * cols + c] = in[(long) r * inStride + c];
}

// Seeded uniform weights on ±scale, or all `scale` when constant != 0: synthetic checkpoints
// made on the device, as SyntheticCheckpoint draws them. A 64-bit mix of (seed, index).
extern "C" __global__ void fill_synthetic_bf16(bf16_t* out, long n, unsigned long long seed, float scale, int constant) {
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        if (constant) { out[i] = float_to_bf16(scale); continue; }
        unsigned long long z = seed + 0x9e3779b97f4a7c15ull * (unsigned long long) (i + 1);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        float u = (float) (z >> 40) * (1.0f / 16777216.0f); // [0, 1)
        out[i] = float_to_bf16((2.f * u - 1.f) * scale);
    }
}

// ---- per-row operations: grid (rows, column blocks) (see COLUMNS); the norms, which reduce a
// row, take one block a row (grid (rows, 1)) ----

template <typename W>
__device__ void embed_t(float* out, int outStride, const typename W::t* table, const int* tokens, int cols) {
    int r = blockIdx.x;
    long base = (long) tokens[r] * cols;
    COLUMNS(c, cols) out[(long) r * outStride + c] = W::load(table, base + c);
}
extern "C" __global__ void embed_f32(float* out, int s, const float* t, const int* tok, int cols) { embed_t<F32>(out, s, t, tok, cols); }
extern "C" __global__ void embed_bf16(float* out, int s, const bf16_t* t, const int* tok, int cols) { embed_t<BF16>(out, s, t, tok, cols); }

// The norms, the gather and the prefill attention take `copy` (else null): their output rows also
// rounded to bf16, contiguous, as rows_to_bf16 would make them for the next bf16 GEMM.
template <typename W>
__device__ void rms_norm_t(float* out, int outStride, const float* in, int inStride, const typename W::t* gain, int cols, float eps,
                           bf16_t* copy) {
    __shared__ float scratch[32];
    int r = blockIdx.x;
    const float* x = in + (long) r * inStride;
    float ss = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) ss += x[c] * x[c];
    ss = block_sum(ss, scratch);
    float inv = 1.0f / sqrtf(ss / cols + eps);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = W::load(gain, c) * (x[c] * inv);
        out[(long) r * outStride + c] = v;
        if (copy) copy[(long) r * cols + c] = float_to_bf16(v);
    }
}
// rms_norm_t four columns at a time (16-byte aligned rows of whole float4s, bf16 gains 8-byte aligned):
// the sum of squares split over the threads differently, so it may differ from rms_norm_bf16's in the last bits.
__device__ __forceinline__ float4 gain4(const bf16_t* g, int c) {
    uint2 w = *(const uint2*) (g + c);
    return make_float4(bf16x2_low(w.x), bf16x2_high(w.x), bf16x2_low(w.y), bf16x2_high(w.y));
}
extern "C" __global__ void rms_norm_bf16_4(float* out, int outStride, const float* in, int inStride, const bf16_t* gain,
                                           int cols, float eps, bf16_t* copy) {
    __shared__ float scratch[32];
    int r = blockIdx.x;
    const float* x = in + (long) r * inStride;
    float ss = 0.f;
    for (int c = 4 * threadIdx.x; c < cols; c += 4 * blockDim.x) {
        float4 v = *(const float4*) (x + c);
        ss += v.x * v.x; ss += v.y * v.y; ss += v.z * v.z; ss += v.w * v.w;
    }
    ss = block_sum(ss, scratch);
    float inv = 1.0f / sqrtf(ss / cols + eps);
    for (int c = 4 * threadIdx.x; c < cols; c += 4 * blockDim.x) {
        float4 v = *(const float4*) (x + c), g = gain4(gain, c), o;
        o.x = g.x * (v.x * inv); o.y = g.y * (v.y * inv); o.z = g.z * (v.z * inv); o.w = g.w * (v.w * inv);
        *(float4*) (out + (long) r * outStride + c) = o;
        if (copy) {
            *(uint2*) (copy + (long) r * cols + c) = make_uint2(pack_bf16x2(o.x, o.y), pack_bf16x2(o.z, o.w));
        }
    }
}
extern "C" __global__ void rms_norm_f32(float* o, int os, const float* i, int is, const float* g, int cols, float eps, bf16_t* copy) { rms_norm_t<F32>(o, os, i, is, g, cols, eps, copy); }
extern "C" __global__ void rms_norm_bf16(float* o, int os, const float* i, int is, const bf16_t* g, int cols, float eps, bf16_t* copy) { rms_norm_t<BF16>(o, os, i, is, g, cols, eps, copy); }

template <typename W>
__device__ void layer_norm_t(float* out, int outStride, const float* in, int inStride, const typename W::t* gain, int cols, float eps,
                             bf16_t* copy) {
    __shared__ float scratch[32];
    int r = blockIdx.x;
    const float* x = in + (long) r * inStride;
    float s = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) s += x[c];
    float mean = block_sum(s, scratch) / cols;
    float ss = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) { float d = x[c] - mean; ss += d * d; }
    ss = block_sum(ss, scratch);
    float inv = 1.0f / sqrtf(ss / cols + eps);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = (x[c] - mean) * inv * W::load(gain, c);
        out[(long) r * outStride + c] = v;
        if (copy) copy[(long) r * cols + c] = float_to_bf16(v);
    }
}
extern "C" __global__ void layer_norm_f32(float* o, int os, const float* i, int is, const float* g, int cols, float eps, bf16_t* copy) { layer_norm_t<F32>(o, os, i, is, g, cols, eps, copy); }
extern "C" __global__ void layer_norm_bf16(float* o, int os, const float* i, int is, const bf16_t* g, int cols, float eps, bf16_t* copy) { layer_norm_t<BF16>(o, os, i, is, g, cols, eps, copy); }

extern "C" __global__ void clamp_rows(float* x, int stride, int cols, float limit) {
    int r = blockIdx.x;
    COLUMNS(c, cols) {
        float v = x[(long) r * stride + c];
        x[(long) r * stride + c] = fmaxf(-limit, fminf(limit, v));
    }
}

// Rotate-half RoPE, in place: element j of each head pairs with j + headDim/2, by the angle
// position · invFreq[j] formed in float32 (as transformers does); invFreq from the host.
extern "C" __global__ void rope_rows(float* x, int stride, int cols, int headDim, const int* positions, const float* invFreq) {
    int r = blockIdx.x;
    int half = headDim / 2;
    float position = (float) positions[r];
    float* row = x + (long) r * stride;
    COLUMNS(i, cols / 2) {
        int head = i / half, j = i % half;
        float angle = position * invFreq[j];
        float c = (float) cos((double) angle), s = (float) sin((double) angle);
        float* h = row + head * headDim;
        float a = h[j], b = h[j + half];
        h[j] = a * c - b * s;
        h[j + half] = b * c + a * s;
    }
}

// gate = silu(gate) · up; with `copy` (may be null) also rounded to bf16, contiguous: the down
// projection's GEMM input, without a pass of its own.
extern "C" __global__ void silu_mul(float* gate, int gateStride, const float* up, int upStride, int cols, bf16_t* copy) {
    int r = blockIdx.x;
    COLUMNS(c, cols) {
        float g = gate[(long) r * gateStride + c];
        float v = g / (1.f + expf(-g)) * up[(long) r * upStride + c];
        gate[(long) r * gateStride + c] = v;
        if (copy) copy[(long) r * cols + c] = float_to_bf16(v);
    }
}

extern "C" __global__ void add_rows(float* acc, int accStride, const float* x, int xStride, int cols) {
    int r = blockIdx.x;
    COLUMNS(c, cols) acc[(long) r * accStride + c] += x[(long) r * xStride + c];
}

// add_rows four columns at a time (16-byte aligned rows of whole float4s).
extern "C" __global__ void add_rows4(float* acc, int accStride, const float* x, int xStride, int cols) {
    int r = blockIdx.x;
    COLUMNS4(c, cols) {
        float4* a = (float4*) (acc + (long) r * accStride + c);
        float4 v = *(const float4*) (x + (long) r * xStride + c), s = *a;
        s.x += v.x; s.y += v.y; s.z += v.z; s.w += v.w;
        *a = s;
    }
}

extern "C" __global__ void zero_rows(float* x, int stride, int cols) {
    int r = blockIdx.x;
    COLUMNS(c, cols) x[(long) r * stride + c] = 0.f;
}

extern "C" __global__ void gather_rows(float* out, int outStride, const float* in, int inStride, const int* index, int cols,
                                       bf16_t* copy) {
    int r = blockIdx.x;
    const float* src = in + (long) index[r] * inStride;
    COLUMNS(c, cols) {
        float v = src[c];
        out[(long) r * outStride + c] = v;
        if (copy) copy[(long) r * cols + c] = float_to_bf16(v);
    }
}

// gather_rows four columns at a time (cols, strides multiples of 4, 16-byte aligned rows).
extern "C" __global__ void gather_rows4(float* out, int outStride, const float* in, int inStride, const int* index, int cols,
                                        bf16_t* copy) {
    int r = blockIdx.x;
    const float* src = in + (long) index[r] * inStride;
    COLUMNS4(c, cols) {
        float4 v = *(const float4*) (src + c);
        *(float4*) (out + (long) r * outStride + c) = v;
        if (copy) {
            *(uint2*) (copy + (long) r * cols + c) = make_uint2(pack_bf16x2(v.x, v.y), pack_bf16x2(v.z, v.w));
        }
    }
}

// acc[index[r]] += scale[r] · in[r]; atomic, so rows that share a target add up.
extern "C" __global__ void scatter_add_scaled(float* acc, int accStride, const float* in, int inStride, const int* index,
                                              const float* scale, int cols) {
    int r = blockIdx.x;
    float s = scale[r];
    float* dst = acc + (long) index[r] * accStride;
    COLUMNS(c, cols) atomicAdd(dst + c, s * in[(long) r * inStride + c]);
}

// ---- the paged KV cache: per layer (slots, kvHeads · headDim) rows of keys and of values ----

template <typename KV>
__device__ void write_kv_t(typename KV::t* keys, typename KV::t* values, const float* k, int kStride, const float* v,
                           int vStride, const int* slots, int rowWidth) {
    int r = blockIdx.x;
    long base = (long) slots[r] * rowWidth;
    COLUMNS(c, rowWidth) {
        KV::store(keys, base + c, k[(long) r * kStride + c]);
        KV::store(values, base + c, v[(long) r * vStride + c]);
    }
}
extern "C" __global__ void write_kv_f32(float* K, float* V, const float* k, int ks, const float* v, int vs, const int* slots, int w) { write_kv_t<F32>(K, V, k, ks, v, vs, slots, w); }
extern "C" __global__ void write_kv_bf16(bf16_t* K, bf16_t* V, const float* k, int ks, const float* v, int vs, const int* slots, int w) { write_kv_t<BF16>(K, V, k, ks, v, vs, slots, w); }

// Host float32 rows (contiguous) into the cache, and the cache's rows out as float32.
template <typename KV>
__device__ void store_kv_rows_t(typename KV::t* cache, const float* rows, const int* slots, int rowWidth) {
    int r = blockIdx.x;
    COLUMNS(c, rowWidth) KV::store(cache, (long) slots[r] * rowWidth + c, rows[(long) r * rowWidth + c]);
}
template <typename KV>
__device__ void load_kv_rows_t(float* rows, const typename KV::t* cache, const int* slots, int rowWidth) {
    int r = blockIdx.x;
    COLUMNS(c, rowWidth) rows[(long) r * rowWidth + c] = KV::load(cache, (long) slots[r] * rowWidth + c);
}
extern "C" __global__ void store_kv_rows_f32(float* cache, const float* rows, const int* slots, int w) { store_kv_rows_t<F32>(cache, rows, slots, w); }
extern "C" __global__ void store_kv_rows_bf16(bf16_t* cache, const float* rows, const int* slots, int w) { store_kv_rows_t<BF16>(cache, rows, slots, w); }
extern "C" __global__ void load_kv_rows_f32(float* rows, const float* cache, const int* slots, int w) { load_kv_rows_t<F32>(rows, cache, slots, w); }
extern "C" __global__ void load_kv_rows_bf16(float* rows, const bf16_t* cache, const int* slots, int w) { load_kv_rows_t<BF16>(rows, cache, slots, w); }

// ---- paged attention ----
// `meta` holds, per row, its position then the offset of its block table in `tables`.
#define NEG_INF __int_as_float(0xff800000)
#define MAX_HEAD_DIM 256
#define PER_LANE (MAX_HEAD_DIM / 32)
#define DECODE_WARPS 8
#define MAX_GROUP 8

// Decode: one block per (listed row, KV head, chunk of MAX_GROUP query heads), DECODE_WARPS warps,
// serving the query heads that share the KV head, so each cached key and value is read once for
// all of them. Each warp walks every DECODE_WARPS-th tile of 32 positions of the row's window with
// an online softmax per query head (see attention_decode_t); the warps' partial results merge at
// the end in dynamic shared memory (DECODE_WARPS · min(group, MAX_GROUP) · headDim floats).
// `rowList` names the rows. With splits > 1 (few rows: too few blocks to fill the device), block
// z = chunk + chunks · split takes the split-th of `splits` equal parts of the window and writes
// its unnormalised result, its maximum and its sum to `partial` (per listed row, query head and
// split: headDim + 2 floats), which attention_decode_merge combines.

// The head dimension a lane's i-th value holds: side by side (one vector load a row) when the head
// dimension is a multiple of the values a lane holds, else lane, lane + 32, ….
__device__ __forceinline__ int head_dim_of(bool vec, int lane, int i, int lanes) {
    return vec ? lane * lanes + i : lane + 32 * i;
}

// One KV head's row at `at` (elements; < 0: none, zeros) as this lane's LANES values.
template <typename KV, int LANES>
__device__ __forceinline__ void load_head(const typename KV::t* base, long at, bool vec, int lane, int headDim,
                                          float* out) {
    if (at >= 0 && vec && lane * LANES < headDim) {
        KV::template load_vec<LANES>(base + at + lane * LANES, out);
        return;
    }
#pragma unroll
    for (int i = 0; i < LANES; i++) {
        int d = head_dim_of(vec, lane, i, LANES);
        out[i] = at >= 0 && !vec && d < headDim ? KV::load(base, at + d) : 0.f;
    }
}

// q_g · k for the G query heads (scaled, in shared memory: every lane reads the same word) against
// one key row; NEG_INF where the lane has no position.
template <typename KV, int G>
__device__ __forceinline__ void dot_row(const typename KV::t* k, const float* qs, int headDim, bool valid, float* s) {
#pragma unroll
    for (int g = 0; g < G; g++) s[g] = 0.f;
    if (valid && headDim % 8 == 0) {
#pragma unroll 4
        for (int d = 0; d < headDim; d += 8) {
            float kv[8];
            KV::template load_vec<8>(k + d, kv);
#pragma unroll
            for (int g = 0; g < G; g++) {
#pragma unroll
                for (int j = 0; j < 8; j++) s[g] += qs[g * headDim + d + j] * kv[j];
            }
        }
    } else if (valid) {
        for (int d = 0; d < headDim; d++) {
            float kd = KV::load(k, d);
#pragma unroll
            for (int g = 0; g < G; g++) s[g] += qs[g * headDim + d] * kd;
        }
    }
#pragma unroll
    for (int g = 0; g < G; g++) s[g] = valid ? s[g] : NEG_INF;
}

template <typename KV, int LANES, int G>
__device__ void attention_decode_t(float* out, int outStride, const float* q, int qStride, const typename KV::t* keys,
                                   const typename KV::t* values, const int* meta, const int* tables, const int* rowList,
                                   int blockSize, int kvHeads, int headDim, int group, int window, float scale,
                                   int splits, float* partial) {
    extern __shared__ float partialAcc[];             // (DECODE_WARPS, group, headDim)
    __shared__ float partialMax[DECODE_WARPS][MAX_GROUP];
    __shared__ float partialSum[DECODE_WARPS][MAX_GROUP];
    __shared__ float qs[G * MAX_HEAD_DIM];            // the block's queries, scaled
    int r = rowList[blockIdx.x], kvHead = blockIdx.y;
    int chunks = (group + MAX_GROUP - 1) / MAX_GROUP, split = blockIdx.z / chunks;
    int gBase = (blockIdx.z % chunks) * MAX_GROUP;   // this block's query heads: gBase .. gBase + gn
    int gn = min(G, group - gBase);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int pos = meta[2 * r];
    const int* table = tables + meta[2 * r + 1];
    int first = window > 0 ? max(0, pos - window + 1) : 0;
    int part = (pos - first + splits) / splits;       // positions a split takes
    first += split * part;
    int last = min(pos, first + part - 1);
    int rowWidth = kvHeads * headDim;
    bool vec = headDim % LANES == 0;                  // for values: each lane's LANES dimensions side by side
    for (int idx = threadIdx.x; idx < G * headDim; idx += blockDim.x) {
        int g = idx / headDim;
        qs[idx] = g < gn ? q[(long) r * qStride + (kvHead * group + gBase + g) * headDim + idx % headDim] * scale : 0.f;
    }
    __syncthreads();
    float acc[G][LANES], m[G], l[G];
#pragma unroll
    for (int g = 0; g < G; g++) {
#pragma unroll
        for (int i = 0; i < LANES; i++) acc[g][i] = 0.f;
        m[g] = NEG_INF;
        l[g] = 0.f;
    }
    // Tiles of 32 positions, a warp's every DECODE_WARPS-th: for the scores each lane takes one
    // position and its whole key row (no reduction across lanes), then the warp's online softmax,
    // then for P·V the lanes split the head dimension and walk the tile's value rows.
    for (int t0 = first + warp * 32; t0 <= last; t0 += DECODE_WARPS * 32) {
        int p = t0 + lane;
        bool valid = p <= last;
        long at = valid ? ((long) table[p / blockSize] * blockSize + p % blockSize) * rowWidth + kvHead * headDim : 0;
        float s[G];
        dot_row<KV, G>(keys + at, qs, headDim, valid, s);
#pragma unroll
        for (int g = 0; g < G; g++) {
            float top = s[g];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, o));
            float mNew = fmaxf(m[g], top);            // finite: the tile's first position is in range
            float correction = expf(m[g] - mNew);
            float w = valid ? expf(s[g] - mNew) : 0.f;
            float sum = w;
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            l[g] = l[g] * correction + sum;
#pragma unroll
            for (int i = 0; i < LANES; i++) acc[g][i] *= correction;
            s[g] = w;                                  // from here on: this lane's position's weight
            m[g] = mNew;
        }
        int n = min(32, last - t0 + 1);
#pragma unroll 4
        for (int j = 0; j < n; j++) {
            long rowAt = __shfl_sync(0xffffffffu, at, j);
            float v[LANES];
            load_head<KV, LANES>(values, rowAt, vec, lane, headDim, v);
#pragma unroll
            for (int g = 0; g < G; g++) {
                float w = __shfl_sync(0xffffffffu, s[g], j);
#pragma unroll
                for (int i = 0; i < LANES; i++) acc[g][i] += w * v[i];
            }
        }
    }
#pragma unroll
    for (int g = 0; g < G; g++) {
        if (g >= gn) break;
        if (lane == 0) { partialMax[warp][g] = m[g]; partialSum[warp][g] = l[g]; }
#pragma unroll
        for (int i = 0; i < LANES; i++) {
            int d = head_dim_of(vec, lane, i, LANES);
            if (d < headDim) partialAcc[(warp * gn + g) * headDim + d] = acc[g][i];
        }
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < gn * headDim; idx += blockDim.x) {
        int g = idx / headDim, d = idx % headDim;
        float total = NEG_INF;
        for (int w = 0; w < DECODE_WARPS; w++) total = fmaxf(total, partialMax[w][g]);
        float sum = 0.f, denominator = 0.f;
        for (int w = 0; w < DECODE_WARPS; w++) {
            if (partialSum[w][g] > 0.f) {
                float c = expf(partialMax[w][g] - total);
                denominator += partialSum[w][g] * c;
                sum += partialAcc[(w * gn + g) * headDim + d] * c;
            }
        }
        int head = kvHead * group + gBase + g;
        if (splits == 1) {
            out[(long) r * outStride + head * headDim + d] = sum / denominator;
        } else {
            float* at = partial + ((long) (blockIdx.x * kvHeads * group + head) * splits + split) * (headDim + 2);
            at[2 + d] = sum;
            if (d == 0) { at[0] = total; at[1] = denominator; }
        }
    }
}

// The splits of a decode row's attention combined: grid (listed rows, query heads), headDim threads.
extern "C" __global__ void attention_decode_merge(float* out, int outStride, const float* partial, const int* rowList,
                                                  int heads, int headDim, int splits) {
    int head = blockIdx.y, d = threadIdx.x;
    const float* at = partial + (long) (blockIdx.x * heads + head) * splits * (headDim + 2);
    float total = NEG_INF;
    for (int s = 0; s < splits; s++) {
        if (at[s * (headDim + 2) + 1] > 0.f) total = fmaxf(total, at[s * (headDim + 2)]);
    }
    float sum = 0.f, denominator = 0.f;
    for (int s = 0; s < splits; s++) {
        const float* p = at + s * (headDim + 2);
        if (p[1] > 0.f) {
            float c = expf(p[0] - total);
            denominator += p[1] * c;
            sum += p[2 + d] * c;
        }
    }
    if (d < headDim) out[(long) rowList[blockIdx.x] * outStride + head * headDim + d] = sum / denominator;
}
// LANES = head dimensions a lane holds: 4 up to head_dim 128, 8 up to 256 (fewer registers, more blocks an SM).
// G = query heads a block serves, rounded up to 1, 2, 4 or 8 (registers for G heads only).
#define DECODE_KERNEL_G(NAME, KVT, T, L, G) \
extern "C" __global__ void __launch_bounds__(32 * DECODE_WARPS, L == 4 ? (G == 1 ? 4 : G <= 4 ? 3 : 2) : 1) NAME##_g##G(float* out, int os, const float* q, int qs, const T* K, const T* V, \
        const int* meta, const int* tables, const int* rowList, int blockSize, int kvHeads, int headDim, int group, \
        int window, float scale, int splits, float* partial) { \
    attention_decode_t<KVT, L, G>(out, os, q, qs, K, V, meta, tables, rowList, blockSize, kvHeads, headDim, group, \
                                  window, scale, splits, partial); \
}
#define DECODE_KERNEL(NAME, KVT, T, L) DECODE_KERNEL_G(NAME, KVT, T, L, 1) DECODE_KERNEL_G(NAME, KVT, T, L, 2) \
    DECODE_KERNEL_G(NAME, KVT, T, L, 4) DECODE_KERNEL_G(NAME, KVT, T, L, 8)
DECODE_KERNEL(attention_decode_f32, F32, float, 8)
DECODE_KERNEL(attention_decode_bf16, BF16, bf16_t, 8)
DECODE_KERNEL(attention_decode_f32_128, F32, float, 4)
DECODE_KERNEL(attention_decode_bf16_128, BF16, bf16_t, 4)

// Prefill: one block per (tile, query head), 256 threads. A tile is up to TILE_Q consecutive rows
// of one sequence (`tiles`: first row, row count). Key tiles of TILE_K positions are read from
// the paged cache into shared memory (keys transposed), scores and the online softmax stay in
// registers and shared memory: the score matrix never reaches device memory. Thread (ty, tx)
// owns rows 4ty..4ty+3, keys 2tx, 2tx+1 of a key tile and, for the products with V, head
// dimensions 8tx..8tx+7; headDim ≤ 128.
#define TILE_Q 64
#define TILE_K 32   // small enough that two blocks fit a multiprocessor's shared memory
#define PREFILL_HEAD_DIM 128
#define KT_STRIDE (TILE_K + 4)  // keeps float4 rows aligned
#define QT_STRIDE (TILE_Q + 4)

// The keys a prefill tile's rows attend to, [lo, hi]: from the first of the earliest row's window
// to the last row's position.
__device__ __forceinline__ void tile_key_range(const int* meta, int firstRow, int count, int window, int& lo, int& hi) {
    lo = 1 << 30;
    hi = -1;
    for (int i = 0; i < count; i++) {
        int p = meta[2 * (firstRow + i)];
        hi = max(hi, p);
        lo = min(lo, window > 0 ? max(0, p - window + 1) : 0);
    }
}

template <typename KV>
__device__ void attention_prefill_t(float* out, int outStride, const float* q, int qStride, const typename KV::t* keys,
                                    const typename KV::t* values, const int* meta, const int* tables, const int* tiles,
                                    int blockSize, int kvHeads, int headDim, int group, int window, float scale) {
    extern __shared__ float4 smem4[]; // float4: 16-byte aligned
    float* smem = (float*) smem4;
    // Every operand is laid out so that a thread reads its 4 (or 8) values with float4 loads.
    float* Qt = smem;                                   // (PREFILL_HEAD_DIM, QT_STRIDE) queries transposed
    float* Kt = Qt + PREFILL_HEAD_DIM * QT_STRIDE;      // (PREFILL_HEAD_DIM, KT_STRIDE) keys transposed
    float* Vs = Kt + PREFILL_HEAD_DIM * KT_STRIDE;      // (TILE_K, PREFILL_HEAD_DIM)
    float* Pt = Vs + TILE_K * PREFILL_HEAD_DIM;         // (TILE_K, QT_STRIDE) probabilities transposed
    int firstRow = tiles[2 * blockIdx.x], count = tiles[2 * blockIdx.x + 1];
    int head = blockIdx.y, kvHead = head / group;
    int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
    int rowWidth = kvHeads * headDim;
    const int* table = tables + meta[2 * firstRow + 1];
    int lo, hi;
    tile_key_range(meta, firstRow, count, window, lo, hi);
    for (int idx = tid; idx < TILE_Q * headDim; idx += blockDim.x) {
        int i = idx / headDim, d = idx % headDim;
        Qt[d * QT_STRIDE + i] = i < count ? q[(long) (firstRow + i) * qStride + head * headDim + d] * scale : 0.f;
    }
    int myPos[4], myFirst[4];
    float m[4], l[4], acc[4][8];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int row = 4 * ty + i;
        myPos[i] = row < count ? meta[2 * (firstRow + row)] : -1;
        myFirst[i] = window > 0 ? max(0, myPos[i] - window + 1) : 0;
        m[i] = NEG_INF;
        l[i] = 0.f;
#pragma unroll
        for (int j = 0; j < 8; j++) acc[i][j] = 0.f;
    }
    for (int k0 = lo - lo % TILE_K; k0 <= hi; k0 += TILE_K) {
        __syncthreads(); // the previous tile's Kt, Vs and Ps are no longer read
        for (int idx = tid; idx < TILE_K * headDim; idx += blockDim.x) {
            int kk = idx / headDim, d = idx % headDim;
            int p = k0 + kk;
            float kv = 0.f, vv = 0.f;
            if (p <= hi) {
                long at = ((long) table[p / blockSize] * blockSize + p % blockSize) * rowWidth + kvHead * headDim + d;
                kv = KV::load(keys, at);
                vv = KV::load(values, at);
            }
            Kt[d * KT_STRIDE + kk] = kv;
            Vs[kk * PREFILL_HEAD_DIM + d] = vv;
        }
        __syncthreads();
        float s[4][2];
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 2; j++) s[i][j] = 0.f;
        for (int d = 0; d < headDim; d++) {
            float4 qa = *(const float4*) (Qt + d * QT_STRIDE + 4 * ty);
            float2 kb = *(const float2*) (Kt + d * KT_STRIDE + 2 * tx);
            float a[4] = {qa.x, qa.y, qa.z, qa.w};
            float b[2] = {kb.x, kb.y};
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 2; j++) s[i][j] += a[i] * b[j];
        }
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float tileMax = NEG_INF;
#pragma unroll
            for (int j = 0; j < 2; j++) {
                int p = k0 + 2 * tx + j;
                if (p > myPos[i] || p < myFirst[i]) s[i][j] = NEG_INF;
                tileMax = fmaxf(tileMax, s[i][j]);
            }
            for (int o = 8; o > 0; o >>= 1) tileMax = fmaxf(tileMax, __shfl_xor_sync(0xffffffffu, tileMax, o));
            float mNew = fmaxf(m[i], tileMax);
            float sum = 0.f;
#pragma unroll
            for (int j = 0; j < 2; j++) {
                float e = mNew == NEG_INF ? 0.f : expf(s[i][j] - mNew);
                Pt[(2 * tx + j) * QT_STRIDE + 4 * ty + i] = e;
                sum += e;
            }
            for (int o = 8; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            float correction = m[i] == NEG_INF ? 0.f : expf(m[i] - mNew);
            l[i] = l[i] * correction + sum;
#pragma unroll
            for (int j = 0; j < 8; j++) acc[i][j] *= correction;
            m[i] = mNew;
        }
        __syncthreads();
        for (int kk = 0; kk < TILE_K; kk++) {
            float4 v0 = *(const float4*) (Vs + kk * PREFILL_HEAD_DIM + 8 * tx);
            float4 v1 = *(const float4*) (Vs + kk * PREFILL_HEAD_DIM + 8 * tx + 4);
            float4 pp = *(const float4*) (Pt + kk * QT_STRIDE + 4 * ty);
            float v[8] = {v0.x, v0.y, v0.z, v0.w, v1.x, v1.y, v1.z, v1.w};
            float pr[4] = {pp.x, pp.y, pp.z, pp.w};
#pragma unroll
            for (int i = 0; i < 4; i++) {
                float p = pr[i];
#pragma unroll
                for (int j = 0; j < 8; j++) acc[i][j] += p * v[j];
            }
        }
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int row = 4 * ty + i;
        if (row >= count) continue;
        float* o = out + (long) (firstRow + row) * outStride + head * headDim;
#pragma unroll
        for (int j = 0; j < 8; j++) {
            int d = 8 * tx + j;
            if (d < headDim) o[d] = acc[i][j] / l[i];
        }
    }
}
extern "C" __global__ void attention_prefill_f32(float* out, int os, const float* q, int qs, const float* K, const float* V,
        const int* meta, const int* tables, const int* tiles, int blockSize, int kvHeads, int headDim, int group,
        int window, float scale) {
    attention_prefill_t<F32>(out, os, q, qs, K, V, meta, tables, tiles, blockSize, kvHeads, headDim, group, window, scale);
}
extern "C" __global__ void attention_prefill_bf16(float* out, int os, const float* q, int qs, const bf16_t* K,
        const bf16_t* V, const int* meta, const int* tables, const int* tiles, int blockSize, int kvHeads, int headDim,
        int group, int window, float scale) {
    attention_prefill_t<BF16>(out, os, q, qs, K, V, meta, tables, tiles, blockSize, kvHeads, headDim, group, window, scale);
}

// Prefill on tensor cores, for a bf16 cache: the same tiles and grid (tile, query head) as above,
// MMA_WARPS warps of 16 query rows each. QKᵀ and PV run as mma.sync m16n8k16 (bf16 in, float32
// accumulate), as FlashAttention-2 does: queries and the output stay in registers, the scores of a
// key tile become the bf16 A operand of PV without leaving them, and only the key tile and the
// value tile (transposed) pass through shared memory. Fragment layouts, from the PTX ISA with
// g = lane / 4 and t = lane % 4: A holds (g, 2t), (g + 8, 2t), (g, 2t + 8), (g + 8, 2t + 8), each two
// consecutive columns; B holds (k = 2t, n = g) and (k = 2t + 8, n = g), each two consecutive k;
// C holds (g, 2t), (g + 8, 2t), each two consecutive columns. Key and value tiles are copied in with
// cp.async into two stages of dynamic shared memory, the next tile's copy in flight while the
// warps work on this one; both tiles stay (key, dim) as the cache holds them, and PV's B operand
// comes out of the value tile transposed by ldmatrix.trans. Queries are scaled by
// scale · log2(e), so the softmax runs on exp2. Q_PARTS = 2 splits the scaled queries into a bf16
// value and its bf16 remainder (two QKᵀ products), P_PARTS = 2 the probabilities likewise (two PV
// products): with both, the result is as close to float32 attention as the FMA kernel's. The
// default is (2, 1): the scores exact, the probabilities rounded once as FlashAttention's bf16 P·V
// does (an earlier kernel's (1, 1) flipped a near-tied expert routing of mixtral-tiny's fixture).
#define MMA_WARPS 4
#define MMA_TILE_K 64
// A/B knobs (NVRTC -D through -Dtandem.cuda.nvrtcDefines): the key tile's B operands by ldmatrix (1)
// or a 32-bit load each (0); the blocks an SM that __launch_bounds__ asks the registers to allow.
#ifndef MMA_K_LDMATRIX
#define MMA_K_LDMATRIX 1
#endif
#ifndef MMA_MIN_BLOCKS
#define MMA_MIN_BLOCKS 1
#endif

// The shared-memory address (32 bits) of a generic pointer into shared memory.
__device__ __forceinline__ unsigned smem_address(const void* p) {
    unsigned a;
    asm("{ .reg .u64 s; cvta.to.shared.u64 s, %1; cvt.u32.u64 %0, s; }" : "=r"(a) : "l"(p));
    return a;
}

// A 16-byte copy from global to shared memory that bypasses the registers; zeros where !valid.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
    unsigned dst = smem_address(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" :: "r"(dst), "l"(gmem), "r"(valid ? 16 : 0) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// waits until at most one group (the newest: the next tile's) is still in flight
__device__ __forceinline__ void cp_async_wait_all_but_one() { asm volatile("cp.async.wait_group 1;\n" ::: "memory"); }

// Four 8 x 8 bf16 matrices from shared memory: lanes 8j .. 8j + 7 give matrix j's rows; lane l
// gets, of each matrix, row l / 4, columns 2(l % 4) and 2(l % 4) + 1.
__device__ __forceinline__ void ldmatrix_x4(unsigned r[4], const bf16_t* rowAddress) {
    unsigned at = smem_address(rowAddress);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(at) : "memory");
}

// Four 8 x 8 bf16 matrices from shared memory, transposed: lanes 8j .. 8j + 7 give matrix j's rows.
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned r[4], const bf16_t* rowAddress) {
    unsigned at = smem_address(rowAddress);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(at) : "memory");
}

// Keys and values of positions k0 .. k0 + MMA_TILE_K - 1 (zeros past hi) into a stage, (key, dim).
template <int HD>
__device__ __forceinline__ void mma_load_tile(bf16_t* Ks, bf16_t* Vs, const bf16_t* keys, const bf16_t* values,
                                              const int* table, int blockSize, int rowWidth, int kvHead, int k0,
                                              int hi) {
    const int kStride = HD + 8;
    for (int idx = threadIdx.x; idx < MMA_TILE_K * (HD / 8); idx += blockDim.x) {
        int kk = idx / (HD / 8), c = 8 * (idx % (HD / 8));
        int p = k0 + kk;
        bool valid = p <= hi;
        long at = valid ? ((long) table[p / blockSize] * blockSize + p % blockSize) * rowWidth + kvHead * HD + c : 0;
        cp_async16(Ks + kk * kStride + c, keys + at, valid);
        cp_async16(Vs + kk * kStride + c, values + at, valid);
    }
}

__device__ __forceinline__ void mma_bf16_16816(float c[4], const unsigned a[4], unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <int HD, int Q_PARTS, int P_PARTS>
__device__ void attention_prefill_mma_t(float* out, int outStride, const float* q, int qStride, const bf16_t* keys,
                                        const bf16_t* values, const int* meta, const int* tables, const int* tiles,
                                        int blockSize, int kvHeads, int group, int window, float scale, bf16_t* copy) {
    const int kStride = HD + 8; // bf16s a key or value row in shared memory: 16-byte rows, loads spread over the banks
    const int stageSize = 2 * MMA_TILE_K * kStride; // a key tile, then a value tile
    extern __shared__ __align__(16) bf16_t mmaStages[];           // two stages
    // grid (query heads, tiles): the blocks start in that order, and the tiles come heaviest first, so
    // the longest blocks of a causal prompt start first instead of last (no tail of long blocks)
    int firstRow = tiles[2 * blockIdx.y], count = tiles[2 * blockIdx.y + 1];
    int head = blockIdx.x, kvHead = head / group;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    int rowWidth = kvHeads * HD;
    const int* table = tables + meta[2 * firstRow + 1];
    int lo, hi;
    tile_key_range(meta, firstRow, count, window, lo, hi);
    // this thread's two rows (r0 = g, r1 = g + 8 of the warp's 16), their windows, and the warp's
    int r0 = warp * 16 + g, r1 = r0 + 8;
    int pos0 = r0 < count ? meta[2 * (firstRow + r0)] : -1;
    int pos1 = r1 < count ? meta[2 * (firstRow + r1)] : -1;
    int first0 = window > 0 ? max(0, pos0 - window + 1) : 0;
    int first1 = window > 0 ? max(0, pos1 - window + 1) : 0;
    int warpHi = max(pos0, pos1);
    int warpLo = min(pos0 >= 0 ? first0 : 1 << 30, pos1 >= 0 ? first1 : 1 << 30);
    for (int o = 1; o < 32; o <<= 1) {
        warpHi = max(warpHi, __shfl_xor_sync(0xffffffffu, warpHi, o));
        warpLo = min(warpLo, __shfl_xor_sync(0xffffffffu, warpLo, o));
    }
    const float qScale = scale * 1.4426950408889634f;
    const float* q0 = q + (long) (firstRow + r0) * qStride + head * HD;
    const float* q1 = q + (long) (firstRow + r1) * qStride + head * HD;
    unsigned qa[Q_PARTS][HD / 16][4];
#pragma unroll
    for (int ks = 0; ks < HD / 16; ks++) {
        int c = ks * 16 + 2 * t;
        float v[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f}; // the A fragment's order
        if (pos0 >= 0) { v[0] = q0[c]; v[1] = q0[c + 1]; v[4] = q0[c + 8]; v[5] = q0[c + 9]; }
        if (pos1 >= 0) { v[2] = q1[c]; v[3] = q1[c + 1]; v[6] = q1[c + 8]; v[7] = q1[c + 9]; }
#pragma unroll
        for (int part = 0; part < Q_PARTS; part++) {
#pragma unroll
            for (int i = 0; i < 4; i++) {
                float a = part == 0 ? v[2 * i] * qScale : v[2 * i] * qScale - bf16_to_float(float_to_bf16(v[2 * i] * qScale));
                float b = part == 0 ? v[2 * i + 1] * qScale
                                    : v[2 * i + 1] * qScale - bf16_to_float(float_to_bf16(v[2 * i + 1] * qScale));
                qa[part][ks][i] = pack_bf16x2(a, b);
            }
        }
    }
    float o[HD / 8][4];
#pragma unroll
    for (int n = 0; n < HD / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    float m0 = NEG_INF, m1 = NEG_INF, l0 = 0.f, l1 = 0.f; // l: this thread's columns only, summed at the end
    int kStart = lo - lo % MMA_TILE_K;
    if (kStart <= hi)
        mma_load_tile<HD>(mmaStages, mmaStages + MMA_TILE_K * kStride, keys, values, table, blockSize, rowWidth, kvHead,
                          kStart, hi);
    cp_async_commit();
    int stage = 0;
    for (int k0 = kStart; k0 <= hi; k0 += MMA_TILE_K, stage ^= 1) {
        const bf16_t* Ks = mmaStages + stage * stageSize;
        const bf16_t* Vs = Ks + MMA_TILE_K * kStride;
        if (k0 + MMA_TILE_K <= hi) { // the next tile, into the other stage (free since the last iteration's end)
            bf16_t* next = mmaStages + (stage ^ 1) * stageSize;
            mma_load_tile<HD>(next, next + MMA_TILE_K * kStride, keys, values, table, blockSize, rowWidth, kvHead,
                              k0 + MMA_TILE_K, hi);
        }
        cp_async_commit(); // an empty group at the last tile keeps the wait below uniform
        cp_async_wait_all_but_one();
        __syncthreads();   // every thread's copies of this tile have landed
        if (k0 <= warpHi && k0 + MMA_TILE_K > warpLo) { // else nothing this warp's rows attend to
            float s[MMA_TILE_K / 8][4];
#pragma unroll
            for (int n = 0; n < MMA_TILE_K / 8; n++) {
                s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#if MMA_K_LDMATRIX
                // matrices (keys n·8 .., dims 16ks ..), (.., 16ks + 8 ..), and the same of ks + 1: one
                // instruction for the B operands of two k-steps
                const bf16_t* kRow = Ks + (n * 8 + (lane & 7)) * kStride + (lane >> 3) * 8;
#pragma unroll
                for (int ks = 0; ks < HD / 16; ks += 2) {
                    unsigned bk[4];
                    if (HD >= 32) {
                        ldmatrix_x4(bk, kRow + ks * 16);
                    } else { // one k-step: matrices 2 and 3 would read past the row
                        const bf16_t* one = Ks + (n * 8 + g) * kStride + 2 * t;
                        bk[0] = *(const unsigned*) one;
                        bk[1] = *(const unsigned*) (one + 8);
                        bk[2] = bk[3] = 0u;
                    }
#pragma unroll
                    for (int part = 0; part < Q_PARTS; part++) mma_bf16_16816(s[n], qa[part][ks], bk[0], bk[1]);
                    if (ks + 1 < HD / 16) {
#pragma unroll
                        for (int part = 0; part < Q_PARTS; part++)
                            mma_bf16_16816(s[n], qa[part][ks + 1 < HD / 16 ? ks + 1 : ks], bk[2], bk[3]);
                    }
                }
#else
                const bf16_t* kRow = Ks + (n * 8 + g) * kStride + 2 * t;
#pragma unroll
                for (int ks = 0; ks < HD / 16; ks++) {
                    unsigned b0 = *(const unsigned*) (kRow + ks * 16);
                    unsigned b1 = *(const unsigned*) (kRow + ks * 16 + 8);
#pragma unroll
                    for (int part = 0; part < Q_PARTS; part++) mma_bf16_16816(s[n], qa[part][ks], b0, b1);
                }
#endif
            }
            float max0 = NEG_INF, max1 = NEG_INF;
#pragma unroll
            for (int n = 0; n < MMA_TILE_K / 8; n++)
#pragma unroll
                for (int j = 0; j < 2; j++) {
                    int p = k0 + n * 8 + 2 * t + j;
                    if (p > pos0 || p < first0) s[n][j] = NEG_INF;
                    if (p > pos1 || p < first1) s[n][2 + j] = NEG_INF;
                    max0 = fmaxf(max0, s[n][j]);
                    max1 = fmaxf(max1, s[n][2 + j]);
                }
            for (int o2 = 1; o2 < 4; o2 <<= 1) { // the four threads of a row
                max0 = fmaxf(max0, __shfl_xor_sync(0xffffffffu, max0, o2));
                max1 = fmaxf(max1, __shfl_xor_sync(0xffffffffu, max1, o2));
            }
            float new0 = fmaxf(m0, max0), new1 = fmaxf(m1, max1);
            float base0 = new0 == NEG_INF ? 0.f : new0, base1 = new1 == NEG_INF ? 0.f : new1;
            float corr0 = exp2f(m0 - base0), corr1 = exp2f(m1 - base1); // 0 while a row had nothing yet
            m0 = new0;
            m1 = new1;
            float sum0 = 0.f, sum1 = 0.f;
#pragma unroll
            for (int n = 0; n < MMA_TILE_K / 8; n++) {
                s[n][0] = exp2f(s[n][0] - base0);
                s[n][1] = exp2f(s[n][1] - base0);
                s[n][2] = exp2f(s[n][2] - base1);
                s[n][3] = exp2f(s[n][3] - base1);
                sum0 += s[n][0] + s[n][1];
                sum1 += s[n][2] + s[n][3];
            }
            l0 = l0 * corr0 + sum0;
            l1 = l1 * corr1 + sum1;
#pragma unroll
            for (int n = 0; n < HD / 8; n++) {
                o[n][0] *= corr0;
                o[n][1] *= corr0;
                o[n][2] *= corr1;
                o[n][3] *= corr1;
            }
#pragma unroll
            for (int kk = 0; kk < MMA_TILE_K / 16; kk++) {
                float pv[8] = {s[2 * kk][0], s[2 * kk][1], s[2 * kk][2], s[2 * kk][3],
                               s[2 * kk + 1][0], s[2 * kk + 1][1], s[2 * kk + 1][2], s[2 * kk + 1][3]};
                unsigned pa[P_PARTS][4];
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    pa[0][i] = pack_bf16x2(pv[2 * i], pv[2 * i + 1]);
                    if (P_PARTS == 2)
                        pa[P_PARTS - 1][i] = pack_bf16x2(pv[2 * i] - bf16_to_float(float_to_bf16(pv[2 * i])),
                                                         pv[2 * i + 1] - bf16_to_float(float_to_bf16(pv[2 * i + 1])));
                }
                // matrices (keys 0-7, dims n), (keys 8-15, dims n), (0-7, n + 1), (8-15, n + 1) of this
                // 16-key step, transposed: the B operands (k = key, n = dim) of dims n and n + 1
                const bf16_t* vRow = Vs + (kk * 16 + ((lane >> 3) & 1) * 8 + (lane & 7)) * kStride + (lane >> 4) * 8;
#pragma unroll
                for (int n = 0; n < HD / 8; n += 2) {
                    unsigned bv[4];
                    ldmatrix_x4_trans(bv, vRow + n * 8);
#pragma unroll
                    for (int part = 0; part < P_PARTS; part++) {
                        mma_bf16_16816(o[n], pa[part], bv[0], bv[1]);
                        mma_bf16_16816(o[n + 1], pa[part], bv[2], bv[3]);
                    }
                }
            }
        }
        __syncthreads(); // this stage is free for the tile after next
    }
    for (int o2 = 1; o2 < 4; o2 <<= 1) {
        l0 += __shfl_xor_sync(0xffffffffu, l0, o2);
        l1 += __shfl_xor_sync(0xffffffffu, l1, o2);
    }
    float* out0 = out + (long) (firstRow + r0) * outStride + head * HD;
    float* out1 = out + (long) (firstRow + r1) * outStride + head * HD;
    int cols = gridDim.x * HD; // the copy's rows: every query head
    unsigned* copy0 = copy ? (unsigned*) (copy + (long) (firstRow + r0) * cols + head * HD) : nullptr;
    unsigned* copy1 = copy ? (unsigned*) (copy + (long) (firstRow + r1) * cols + head * HD) : nullptr;
#pragma unroll
    for (int n = 0; n < HD / 8; n++) {
        int d = n * 8 + 2 * t;
        if (pos0 >= 0) {
            float a = o[n][0] / l0, b = o[n][1] / l0;
            out0[d] = a; out0[d + 1] = b;
            if (copy) copy0[d / 2] = pack_bf16x2(a, b);
        }
        if (pos1 >= 0) {
            float a = o[n][2] / l1, b = o[n][3] / l1;
            out1[d] = a; out1[d + 1] = b;
            if (copy) copy1[d / 2] = pack_bf16x2(a, b);
        }
    }
}
#define PREFILL_MMA_KERNEL(HD, QP, PP) \
extern "C" __global__ void __launch_bounds__(32 * MMA_WARPS, MMA_MIN_BLOCKS) attention_prefill_mma_##HD##_##QP##PP(float* out, \
        int os, const float* q, int qs, const bf16_t* K, const bf16_t* V, const int* meta, const int* tables, \
        const int* tiles, int blockSize, int kvHeads, int group, int window, float scale, bf16_t* copy) { \
    attention_prefill_mma_t<HD, QP, PP>(out, os, q, qs, K, V, meta, tables, tiles, blockSize, kvHeads, group, window, \
                                        scale, copy); \
}
#define PREFILL_MMA_KERNELS(HD) PREFILL_MMA_KERNEL(HD, 1, 1) PREFILL_MMA_KERNEL(HD, 2, 1) PREFILL_MMA_KERNEL(HD, 2, 2)
PREFILL_MMA_KERNELS(16)
PREFILL_MMA_KERNELS(32)
PREFILL_MMA_KERNELS(64)
PREFILL_MMA_KERNELS(128)

// ---- the dense MoE: routing where the logits are, each expert over every row, weighted ----

// gate = silu(gate) · up · gates[r, expert]: grid (rows).
// gate = silu(gate) · up · gates[r, expert], and (with `copy`) its bf16 rounding, as silu_mul.
extern "C" __global__ void silu_mul_scaled(float* gate, int gateStride, const float* up, int upStride, const float* gates,
                                           int gatesStride, int expert, int cols, bf16_t* copy) {
    int r = blockIdx.x;
    float w = gates[(long) r * gatesStride + expert];
    COLUMNS(c, cols) {
        float g = gate[(long) r * gateStride + c];
        // w == 0: the row was not routed here, and its gate and up may never have been computed
        float v = w == 0.f ? 0.f : g / (1.f + expf(-g)) * up[(long) r * upStride + c] * w;
        gate[(long) r * gateStride + c] = v;
        if (copy) copy[(long) r * cols + c] = float_to_bf16(v);
    }
}

// The host Router's arithmetic, one thread a row: softmax (exp in double, rounded to float), the
// top-k by repeated maximum (ties to the lower index), divided by their p-norm; zeros elsewhere.
#define MAX_EXPERTS 64
// With `chosenOut` (else null): row r's choices, largest first, also as (rows, topK) expert indices
// and their weights after the norm, what the host takes; `gates` may then be null.
extern "C" __global__ void route_dense(float* gates, int gatesStride, const float* logits, int logitsStride, int rows,
                                       int experts, int topK, float normP, int* chosenOut, float* weightOut) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const float* l = logits + (long) r * logitsStride;
    float pickedWeight[MAX_EXPERTS];
    float* g = gates ? gates + (long) r * gatesStride : pickedWeight; // without gates only the picks are written
    float p[MAX_EXPERTS];
    float max = NEG_INF;
    for (int e = 0; e < experts; e++) max = fmaxf(max, l[e]);
    float sum = 0.f;
    for (int e = 0; e < experts; e++) { p[e] = (float) exp((double) (l[e] - max)); sum += p[e]; }
    for (int e = 0; e < experts; e++) { p[e] /= sum; if (gates) g[e] = 0.f; }
    int chosen[MAX_EXPERTS];
    double norm = 0.0;
    for (int j = 0; j < topK; j++) {
        int best = -1;
        for (int e = 0; e < experts; e++) {
            if (p[e] >= 0.f && (best < 0 || p[e] > p[best])) best = e;
        }
        chosen[j] = best;
        g[gates ? best : j] = p[best];
        norm += pow((double) fabsf(p[best]), (double) normP);
        p[best] = -1.f;
    }
    if (normP > 0.f) {
        float scale = (float) (1.0 / pow(norm, 1.0 / (double) normP));
        for (int j = 0; j < topK; j++) g[gates ? chosen[j] : j] *= scale;
    }
    if (chosenOut) {
        for (int j = 0; j < topK; j++) {
            chosenOut[(long) r * topK + j] = chosen[j];
            weightOut[(long) r * topK + j] = g[gates ? chosen[j] : j];
        }
    }
}

// acc[targets[t]] += Σ_{q in [start[t], start[t+1])} weight[q] · in[source[q]], in q's order: grid
// (targets, column blocks). Each target row's experts, combined without atomics.
extern "C" __global__ void combine_rows(float* acc, int accStride, const float* in, int inStride, const int* targets,
                                        const int* start, const int* source, const float* weight, int cols) {
    int t = blockIdx.x;
    float* dst = acc + (long) targets[t] * accStride;
    int from = start[t], to = start[t + 1];
    COLUMNS(c, cols) {
        float sum = 0.f;
        for (int q = from; q < to; q++) sum += weight[q] * in[(long) source[q] * inStride + c];
        dst[c] += sum;
    }
}

// combine_rows four columns at a time (cols, strides multiples of 4, 16-byte aligned rows), the same sums.
extern "C" __global__ void combine_rows4(float* acc, int accStride, const float* in, int inStride, const int* targets,
                                         const int* start, const int* source, const float* weight, int cols) {
    int t = blockIdx.x;
    float* dst = acc + (long) targets[t] * accStride;
    int from = start[t], to = start[t + 1];
    COLUMNS4(c, cols) {
        float4 sum = make_float4(0.f, 0.f, 0.f, 0.f);
        for (int q = from; q < to; q++) {
            float w = weight[q];
            float4 v = *(const float4*) (in + (long) source[q] * inStride + c);
            sum.x += w * v.x; sum.y += w * v.y; sum.z += w * v.z; sum.w += w * v.w;
        }
        float4 d = *(float4*) (dst + c);
        d.x += sum.x; d.y += sum.y; d.z += sum.z; d.w += sum.w;
        *(float4*) (dst + c) = d;
    }
}

// ---- GEMV for one or two rows: out[r][n] (+)= Σ_k x[r][k] · W[n][k], bf16 W (N, K) row-major ----
// A warp computes GEMV_COLS output columns, so that each 16-byte chunk of x it loads (float32,
// 16-byte aligned rows) serves GEMV_COLS rows of W; lanes stream W in 16-byte loads (8 weights).
// With `gates`, the whole product is skipped when no row routes to `expert` (gates[r, expert]
// == 0 for all r): the experts a small batch does not touch are never read.
#define GEMV_WARPS 8
#define GEMV_COLS 4
__device__ __forceinline__ void bf16x8(uint4 p, float* w) {
    w[0] = bf16x2_low(p.x); w[1] = bf16x2_high(p.x);
    w[2] = bf16x2_low(p.y); w[3] = bf16x2_high(p.y);
    w[4] = bf16x2_low(p.z); w[5] = bf16x2_high(p.z);
    w[6] = bf16x2_low(p.w); w[7] = bf16x2_high(p.w);
}
// acc[r][j] += Σ_k x_r[k] · w_j[k] over this lane's 16-byte chunks of the weight rows w_j (bf16)
// and the rows x_r (float32), two chunks of each in flight: enough loads outstanding that a
// small batch streams the weights at nearly the full HBM bandwidth. Chunks [begin, end).
template <int ROWS>
__device__ __forceinline__ void gemv_lanes(const uint4* const (&w)[GEMV_COLS], const float4* const (&x)[ROWS],
                                           int begin, int end, int lane, float (&acc)[ROWS][GEMV_COLS]) {
    for (int c = begin + lane; c < end; c += 64) {
        bool second = c + 32 < end;
        uint4 w0[GEMV_COLS], w1[GEMV_COLS];
#pragma unroll
        for (int j = 0; j < GEMV_COLS; j++) {
            w0[j] = w[j][c];
            w1[j] = second ? w[j][c + 32] : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int r = 0; r < ROWS; r++) {
            float4 a0 = x[r][2 * c], b0 = x[r][2 * c + 1];
            float4 a1 = second ? x[r][2 * (c + 32)] : make_float4(0.f, 0.f, 0.f, 0.f);
            float4 b1 = second ? x[r][2 * (c + 32) + 1] : make_float4(0.f, 0.f, 0.f, 0.f);
            float x0[8] = {a0.x, a0.y, a0.z, a0.w, b0.x, b0.y, b0.z, b0.w};
            float x1[8] = {a1.x, a1.y, a1.z, a1.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
            for (int j = 0; j < GEMV_COLS; j++) {
                float f0[8], f1[8];
                bf16x8(w0[j], f0);
                bf16x8(w1[j], f1);
#pragma unroll
                for (int i = 0; i < 8; i++) acc[r][j] += f0[i] * x0[i] + f1[i] * x1[i];
            }
        }
    }
}

// SPLIT_K: the block's warps share GEMV_COLS columns and split K (then blockIdx.x counts groups of
// GEMV_COLS columns): for matrices with too few columns to give every multiprocessor its warps.
template <int ROWS, bool SPLIT_K>
__device__ void gemv_t(float* out, int outStride, const float* x, int xStride, const bf16_t* W, int N, int K, int rows,
                       const float* gates, int gatesStride, int expert, int accumulate) {
    if (gates) {
        bool hit = false;
        for (int r = 0; r < rows; r++) hit |= gates[(long) r * gatesStride + expert] != 0.f;
        if (!hit) return;
    }
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int n0 = (SPLIT_K ? blockIdx.x : blockIdx.x * GEMV_WARPS + warp) * GEMV_COLS;
    if (n0 >= N) return; // block-uniform with SPLIT_K
    const uint4* w[GEMV_COLS];
#pragma unroll
    for (int j = 0; j < GEMV_COLS; j++) w[j] = (const uint4*) (W + (long) min(n0 + j, N - 1) * K);
    const float4* xr[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; r++) xr[r] = (const float4*) (x + (long) min(r, rows - 1) * xStride);
    float acc[ROWS][GEMV_COLS];
#pragma unroll
    for (int r = 0; r < ROWS; r++)
#pragma unroll
        for (int j = 0; j < GEMV_COLS; j++) acc[r][j] = 0.f;
    int chunks = K / 8;
    gemv_lanes<ROWS>(w, xr, SPLIT_K ? warp * chunks / GEMV_WARPS : 0,
                     SPLIT_K ? (warp + 1) * chunks / GEMV_WARPS : chunks, lane, acc);
    __shared__ float partial[GEMV_WARPS][ROWS][GEMV_COLS];
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
#pragma unroll
        for (int j = 0; j < GEMV_COLS; j++) {
            float s = acc[r][j];
            for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
            if (SPLIT_K) {
                if (lane == 0) partial[warp][r][j] = s;
            } else if (lane == 0 && r < rows && n0 + j < N) {
                float* dst = out + (long) r * outStride + n0 + j;
                *dst = accumulate ? *dst + s : s;
            }
        }
    }
    if (SPLIT_K) {
        __syncthreads();
        int r = threadIdx.x / GEMV_COLS, j = threadIdx.x % GEMV_COLS;
        if (r < rows && r < ROWS && n0 + j < N) {
            float s = 0.f;
            for (int v = 0; v < GEMV_WARPS; v++) s += partial[v][r][j];
            float* dst = out + (long) r * outStride + n0 + j;
            *dst = accumulate ? *dst + s : s;
        }
    }
}
#define GEMV_KERNEL(NAME, ROWS, SPLIT) \
extern "C" __global__ void NAME(float* out, int os, const float* x, int xs, const bf16_t* W, int N, int K, int rows, \
                                const float* gates, int gs, int expert, int accumulate) { \
    gemv_t<ROWS, SPLIT>(out, os, x, xs, W, N, K, rows, gates, gs, expert, accumulate); \
}
GEMV_KERNEL(gemv_bf16_1, 1, false)
GEMV_KERNEL(gemv_bf16_2, 2, false)
GEMV_KERNEL(gemv_bf16_1_splitk, 1, true)
GEMV_KERNEL(gemv_bf16_2_splitk, 2, true)

// ---- sampling where the logits are: grid (rows), SAMPLE_THREADS threads ----
// Row r: temperature[r] == 0 is greedy (argmax); else softmax(logits / T) as the host Sampler forms
// it, cut by min-p, top-k and top-p as thresholds on the probability found by bisection (no
// sort), and the token
// where uniform[r] · kept mass falls in the kept tokens' cumulative sum, in index order: the same
// distribution as the host's, drawn with the sequence's own generator (only the draw comes in,
// only the token goes out).
#define SAMPLE_THREADS 1024

__device__ float block_reduce_max(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    __syncthreads();
    float m = NEG_INF;
    for (int w = 0; w < (blockDim.x >> 5); w++) m = fmaxf(m, scratch[w]);
    return m;
}

extern "C" __global__ void sample_rows(int* out, const float* logits, int stride, int cols, const float* temperature,
                                       const float* topP, const int* topK, const float* minP, const float* uniform) {
    __shared__ float scratch[32];
    __shared__ float prefix[SAMPLE_THREADS];
    const float* row = logits + (long) blockIdx.x * stride;
    float t = temperature[blockIdx.x];
    float top = topP[blockIdx.x];
    int tid = threadIdx.x;
    float max = NEG_INF;
    int best = cols;
    for (int c = tid; c < cols; c += blockDim.x) {
        if (row[c] > max || best == cols) { max = row[c]; best = c; }
    }
    // argmax with the first index on ties (also the fallback when rounding leaves the draw past the end)
    __shared__ float bestValue[SAMPLE_THREADS];
    __shared__ int bestIndex[SAMPLE_THREADS];
    bestValue[tid] = max;
    bestIndex[tid] = best;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (tid < half) {
            float v = bestValue[tid + half];
            int i = bestIndex[tid + half];
            if (v > bestValue[tid] || (v == bestValue[tid] && i < bestIndex[tid])) { bestValue[tid] = v; bestIndex[tid] = i; }
        }
        __syncthreads();
    }
    int argmax = bestIndex[0];
    float rowMax = bestValue[0];
    if (t == 0.f) {
        if (tid == 0) out[blockIdx.x] = argmax;
        return;
    }
    float sum = 0.f;
    for (int c = tid; c < cols; c += blockDim.x) sum += (float) exp((double) ((row[c] - rowMax) / t));
    sum = block_sum(sum, scratch);
    // min-p, then top-k, then top-p over what those leave: each a threshold on the probability
    float threshold = minP[blockIdx.x] / sum; // min_p · max p (the max's exp is 1)
    int k = topK[blockIdx.x];
    if (k > 0 && k < cols) { // the largest threshold that still keeps k tokens
        float lo = 0.f, hi = 1.f;
        for (int it = 0; it < 40; it++) {
            float mid = 0.5f * (lo + hi), count = 0.f;
            for (int c = tid; c < cols; c += blockDim.x) {
                if ((float) exp((double) ((row[c] - rowMax) / t)) / sum >= mid) count += 1.f;
            }
            count = block_sum(count, scratch);
            if (count >= k) lo = mid; else hi = mid;
        }
        threshold = fmaxf(threshold, lo);
    }
    float kept = 1.f;
    if (top < 1.f) { // the largest threshold whose mass still reaches top-p of what min-p and top-k keep
        float total = 0.f;
        for (int c = tid; c < cols; c += blockDim.x) {
            float p = (float) exp((double) ((row[c] - rowMax) / t)) / sum;
            if (p >= threshold) total += p;
        }
        total = block_sum(total, scratch);
        float lo = threshold, hi = 1.f;
        for (int it = 0; it < 40; it++) {
            float mid = 0.5f * (lo + hi), mass = 0.f;
            for (int c = tid; c < cols; c += blockDim.x) {
                float p = (float) exp((double) ((row[c] - rowMax) / t)) / sum;
                if (p >= mid) mass += p;
            }
            mass = block_sum(mass, scratch);
            if (mass >= top * total) lo = mid; else hi = mid;
        }
        threshold = lo;
    }
    // each thread takes a contiguous chunk; an exclusive scan of the chunks' kept mass
    int chunk = (cols + blockDim.x - 1) / blockDim.x;
    int from = tid * chunk, to = min(cols, from + chunk);
    float mine = 0.f;
    for (int c = from; c < to; c++) {
        float p = (float) exp((double) ((row[c] - rowMax) / t)) / sum;
        if (p >= threshold) mine += p;
    }
    prefix[tid] = mine;
    __syncthreads();
    for (int offset = 1; offset < blockDim.x; offset <<= 1) {
        float add = tid >= offset ? prefix[tid - offset] : 0.f;
        __syncthreads();
        prefix[tid] += add;
        __syncthreads();
    }
    kept = prefix[blockDim.x - 1];
    float r = uniform[blockIdx.x] * kept;
    float before = prefix[tid] - mine;
    __shared__ int chosen;
    if (tid == 0) chosen = argmax;
    __syncthreads();
    if (r >= before && r < prefix[tid]) {
        float cumulative = before;
        for (int c = from; c < to; c++) {
            float p = (float) exp((double) ((row[c] - rowMax) / t)) / sum;
            if (p < threshold) continue;
            cumulative += p;
            if (r < cumulative) { chosen = c; break; }
        }
    }
    __syncthreads();
    if (tid == 0) out[blockIdx.x] = chosen;
}

// ---- the small-batch MoE on the device: each (row, slot) pair through only its routed expert ----
// Pair p is row p / topK's slot p % topK: the (p % topK)-th expert, in index order, with a nonzero
// gate in that row (route_dense leaves zeros elsewhere), or -1 if there is none. No host round
// trip, and each weight read is one a routed token needs.
__device__ __forceinline__ int routed_expert(const float* gates, int gatesStride, int experts, int row, int slot) {
    const float* g = gates + (long) row * gatesStride;
    for (int e = 0; e < experts; e++) {
        if (g[e] != 0.f && slot-- == 0) return e;
    }
    return -1;
}

// out[p][n] = Σ_k x[p][k] · W_e[n][k], W_e = weights[e] (bf16 (N, K) row-major, 16-byte aligned) for
// pair p = blockIdx.y and its expert e; x's row is the pair's own (xPerPair) or its token's.
extern "C" __global__ void gemv_routed_bf16(float* out, int outStride, const float* x, int xStride, int xPerPair,
                                            const unsigned long long* weights, int N, int K, const float* gates,
                                            int gatesStride, int experts, int topK) {
    int p = blockIdx.y, row = p / topK;
    int e = routed_expert(gates, gatesStride, experts, row, p % topK);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int n0 = (blockIdx.x * GEMV_WARPS + warp) * GEMV_COLS;
    if (n0 >= N) return;
    float* o = out + (long) p * outStride;
    if (e < 0) {
        if (lane < GEMV_COLS && n0 + lane < N) o[n0 + lane] = 0.f;
        return;
    }
    const uint4* w[GEMV_COLS];
#pragma unroll
    for (int j = 0; j < GEMV_COLS; j++) w[j] = (const uint4*) ((const bf16_t*) weights[e] + (long) min(n0 + j, N - 1) * K);
    const float4* xr[1] = {(const float4*) (x + (long) (xPerPair ? p : row) * xStride)};
    float acc[1][GEMV_COLS];
#pragma unroll
    for (int j = 0; j < GEMV_COLS; j++) acc[0][j] = 0.f;
    gemv_lanes<1>(w, xr, 0, K / 8, lane, acc);
#pragma unroll
    for (int j = 0; j < GEMV_COLS; j++) {
        float s = acc[0][j];
        for (int o2 = 16; o2 > 0; o2 >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o2);
        if (lane == 0 && n0 + j < N) o[n0 + j] = s;
    }
}

// out[r] = Σ_slot gates[r, e_slot] · y[r · topK + slot], the slots in expert order (as the dense
// path adds experts): grid (rows, column blocks).
extern "C" __global__ void combine_routed(float* out, int outStride, const float* y, int yStride, const float* gates,
                                          int gatesStride, int experts, int topK, int cols) {
    int r = blockIdx.x;
    const float* g = gates + (long) r * gatesStride;
    COLUMNS(c, cols) {
        float acc = 0.f;
        int slot = 0;
        for (int e = 0; e < experts && slot < topK; e++) {
            if (g[e] != 0.f) {
                acc += g[e] * y[(long) (r * topK + slot) * yStride + c];
                slot++;
            }
        }
        out[(long) r * outStride + c] = acc;
    }
}

// ---- the dense MoE of a decode-sized batch, every expert side by side (batched GEMMs) ----
// h[e][r] = bf16(silu(gate) · up · gates[r, e]) from gu[e][r] = gate | up (2·cols floats): grid
// (experts · rows, column blocks); 0 where row r does not route to e, so e's down adds nothing.
// Pairs no row routes to (most of them: k of E) only write zeros; the rest unroll their columns
// so that several loads are in flight (restrict: the stores to h cannot change gu).
template <typename GU>
__device__ void silu_mul_experts_t(bf16_t* __restrict__ h, const GU* __restrict__ gu, const float* gates,
                                   int gatesStride, int rows, int cols) {
    int e = blockIdx.x / rows, r = blockIdx.x % rows;
    float w = gates[(long) r * gatesStride + e];
    bf16_t* hr = h + (long) blockIdx.x * cols;
    if (w == 0.f) {
        COLUMNS(c, cols) hr[c] = 0;
        return;
    }
    const GU* g = gu + (long) blockIdx.x * 2 * cols;
#pragma unroll 4
    COLUMNS(c, cols) {
        float gate = to_float(g[c]);
        hr[c] = float_to_bf16(gate / (1.f + expf(-gate)) * to_float(g[cols + c]) * w);
    }
}
extern "C" __global__ void silu_mul_experts(bf16_t* h, const float* gu, const float* gates, int gatesStride, int rows,
                                            int cols) {
    silu_mul_experts_t(h, gu, gates, gatesStride, rows, cols);
}
// the same from gate|up products rounded to bf16 (half the bytes to write and read back)
extern "C" __global__ void silu_mul_experts_bf16(bf16_t* h, const bf16_t* gu, const float* gates, int gatesStride,
                                                 int rows, int cols) {
    silu_mul_experts_t(h, gu, gates, gatesStride, rows, cols);
}

// ---- the experts of a prompt-sized batch, over rows sorted by expert (grouped GEMMs) ----
// h[r] = bf16(silu(gate) · up) from gu[r] = gate | up, bf16 (2·cols a row): the down GEMM's input,
// from the gate|up GEMM's bf16 output, with no float32 pass between them. Two columns a thread
// (cols even, rows 4-byte aligned); grid (rows, column blocks).
// silu(gate) · up of two bf16 columns in a word each, rounded to bf16 in a word.
__device__ __forceinline__ unsigned silu_mul_bf16x2(unsigned gate, unsigned up) {
    float g0 = bf16x2_low(gate), g1 = bf16x2_high(gate);
    return pack_bf16x2(g0 / (1.f + expf(-g0)) * bf16x2_low(up), g1 / (1.f + expf(-g1)) * bf16x2_high(up));
}
extern "C" __global__ void silu_mul_pairs_bf16(bf16_t* __restrict__ h, const bf16_t* __restrict__ gu, int cols) {
    int r = blockIdx.x;
    const unsigned int* g = (const unsigned int*) (gu + (long) r * 2 * cols);
    const unsigned int* u = g + cols / 2;
    unsigned int* out = (unsigned int*) (h + (long) r * cols);
    COLUMNS(c, cols / 2) {
        out[c] = silu_mul_bf16x2(g[c], u[c]);
    }
}

// silu_mul_pairs_bf16 eight columns a thread (cols a multiple of 8: 16-byte loads and stores).
extern "C" __global__ void silu_mul_pairs_bf16_8(bf16_t* __restrict__ h, const bf16_t* __restrict__ gu, int cols) {
    int r = blockIdx.x;
    const uint4* g = (const uint4*) (gu + (long) r * 2 * cols);
    const uint4* u = (const uint4*) (gu + (long) r * 2 * cols + cols);
    uint4* out = (uint4*) (h + (long) r * cols);
    COLUMNS(c, cols / 8) {
        uint4 gg = g[c], uu = u[c], o;
        unsigned* gw = (unsigned*) &gg;
        unsigned* uw = (unsigned*) &uu;
        unsigned* ow = (unsigned*) &o;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            ow[i] = silu_mul_bf16x2(gw[i], uw[i]);
        }
        out[c] = o;
    }
}

// out[r] = Σ_e y[e][r] in expert order (y already weighted): grid (rows, column blocks).
extern "C" __global__ void sum_experts(float* out, int outStride, const float* y, int rows, int experts, int cols) {
    int r = blockIdx.x;
    COLUMNS(c, cols) {
        float acc = 0.f;
        for (int e = 0; e < experts; e++) acc += y[((long) e * rows + r) * cols + c];
        out[(long) r * outStride + c] = acc;
    }
}

// ==== KV transfer: a layer's KV rows to and from host memory, as the cache holds them ====
// The keys and values of listed slots, word for word (no conversion: bf16 stays bf16), to and from
// contiguous rows: keys of slots[0..count) as rows 0..count-1, then their values as rows
// count..2·count-1, the bytes of a KV frame. `words` is a row's 4-byte words (_w4), or its 2-byte
// halves (_w2) for a row whose bytes are not a multiple of 4. Grid (2 · count, column blocks).
template <typename W>
__device__ void gather_kv_t(W* rows, const W* keys, const W* values, const int* slots, int count, int words) {
    int r = blockIdx.x;
    bool key = r < count;
    const W* cache = key ? keys : values;
    long src = (long) slots[key ? r : r - count] * words;
    COLUMNS(c, words) rows[(long) r * words + c] = cache[src + c];
}
template <typename W>
__device__ void scatter_kv_t(W* keys, W* values, const W* rows, const int* slots, int count, int words) {
    int r = blockIdx.x;
    bool key = r < count;
    W* cache = key ? keys : values;
    long dst = (long) slots[key ? r : r - count] * words;
    COLUMNS(c, words) cache[dst + c] = rows[(long) r * words + c];
}
extern "C" __global__ void gather_kv_w4(unsigned int* rows, const unsigned int* keys, const unsigned int* values,
                                        const int* slots, int count, int words) {
    gather_kv_t(rows, keys, values, slots, count, words);
}
extern "C" __global__ void gather_kv_w2(unsigned short* rows, const unsigned short* keys, const unsigned short* values,
                                        const int* slots, int count, int words) {
    gather_kv_t(rows, keys, values, slots, count, words);
}
extern "C" __global__ void scatter_kv_w4(unsigned int* keys, unsigned int* values, const unsigned int* rows,
                                         const int* slots, int count, int words) {
    scatter_kv_t(keys, values, rows, slots, count, words);
}
extern "C" __global__ void scatter_kv_w2(unsigned short* keys, unsigned short* values, const unsigned short* rows,
                                         const int* slots, int count, int words) {
    scatter_kv_t(keys, values, rows, slots, count, words);
}
