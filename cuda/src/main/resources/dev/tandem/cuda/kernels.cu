// Tandem's CUDA kernels, compiled by NVRTC at first use for the device's compute capability.
// Activations are float32 rows with a row stride (in floats); weights are bf16 (stored as raw
// 16-bit words, so no CUDA headers are needed) or float32. Every kernel bounds-checks its rows
// and columns, so a grid may be rounded up.

typedef unsigned short bf16_t;
typedef unsigned short f16_t;

// The columns of row blockIdx.x that this thread handles: per-row kernels run on a grid of
// (rows, column blocks), so that a single row still spreads over many multiprocessors.
#define COLUMNS(c, n) for (int c = blockIdx.y * blockDim.x + threadIdx.x; c < (n); c += gridDim.y * blockDim.x)

__device__ __forceinline__ float bf16_to_float(bf16_t h) {
    return __uint_as_float(((unsigned int) h) << 16);
}

// Round to nearest even, as torch does; NaN stays NaN.
__device__ __forceinline__ bf16_t float_to_bf16(float f) {
    unsigned int u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return (bf16_t) ((u >> 16) | 0x40u);
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16_t) (u >> 16);
}

__device__ __forceinline__ float f16_to_float(f16_t h) {
    float f;
    asm("{ cvt.f32.f16 %0, %1; }" : "=f"(f) : "h"(h));
    return f;
}

// The dtypes a weight or KV cache is held in; one template each, instantiated below by name.
struct F32 {
    typedef float t;
    static __device__ __forceinline__ float load(const float* p, long i) { return p[i]; }
    static __device__ __forceinline__ void store(float* p, long i, float v) { p[i] = v; }
};
struct BF16 {
    typedef bf16_t t;
    static __device__ __forceinline__ float load(const bf16_t* p, long i) { return bf16_to_float(p[i]); }
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

template <typename W>
__device__ void rms_norm_t(float* out, int outStride, const float* in, int inStride, const typename W::t* gain, int cols, float eps) {
    __shared__ float scratch[32];
    int r = blockIdx.x;
    const float* x = in + (long) r * inStride;
    float ss = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) ss += x[c] * x[c];
    ss = block_sum(ss, scratch);
    float inv = 1.0f / sqrtf(ss / cols + eps);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) out[(long) r * outStride + c] = W::load(gain, c) * (x[c] * inv);
}
extern "C" __global__ void rms_norm_f32(float* o, int os, const float* i, int is, const float* g, int cols, float eps) { rms_norm_t<F32>(o, os, i, is, g, cols, eps); }
extern "C" __global__ void rms_norm_bf16(float* o, int os, const float* i, int is, const bf16_t* g, int cols, float eps) { rms_norm_t<BF16>(o, os, i, is, g, cols, eps); }

template <typename W>
__device__ void layer_norm_t(float* out, int outStride, const float* in, int inStride, const typename W::t* gain, int cols, float eps) {
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
    for (int c = threadIdx.x; c < cols; c += blockDim.x) out[(long) r * outStride + c] = (x[c] - mean) * inv * W::load(gain, c);
}
extern "C" __global__ void layer_norm_f32(float* o, int os, const float* i, int is, const float* g, int cols, float eps) { layer_norm_t<F32>(o, os, i, is, g, cols, eps); }
extern "C" __global__ void layer_norm_bf16(float* o, int os, const float* i, int is, const bf16_t* g, int cols, float eps) { layer_norm_t<BF16>(o, os, i, is, g, cols, eps); }

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

extern "C" __global__ void zero_rows(float* x, int stride, int cols) {
    int r = blockIdx.x;
    COLUMNS(c, cols) x[(long) r * stride + c] = 0.f;
}

extern "C" __global__ void gather_rows(float* out, int outStride, const float* in, int inStride, const int* index, int cols) {
    int r = blockIdx.x;
    const float* src = in + (long) index[r] * inStride;
    COLUMNS(c, cols) out[(long) r * outStride + c] = src[c];
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
// all of them. Each warp walks every DECODE_WARPS-th position of the row's window with an online
// softmax per query head (lanes split the head dimension); the warps' partial results merge at
// the end in dynamic shared memory (DECODE_WARPS · min(group, MAX_GROUP) · headDim floats).
// `rowList` names the rows.
template <typename KV, int LANES>
__device__ void attention_decode_t(float* out, int outStride, const float* q, int qStride, const typename KV::t* keys,
                                   const typename KV::t* values, const int* meta, const int* tables, const int* rowList,
                                   int blockSize, int kvHeads, int headDim, int group, int window, float scale) {
    extern __shared__ float partialAcc[];             // (DECODE_WARPS, group, headDim)
    __shared__ float partialMax[DECODE_WARPS][MAX_GROUP];
    __shared__ float partialSum[DECODE_WARPS][MAX_GROUP];
    int r = rowList[blockIdx.x], kvHead = blockIdx.y;
    int gBase = blockIdx.z * MAX_GROUP;              // this block's query heads: gBase .. gBase + gn
    int gn = min(MAX_GROUP, group - gBase);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int pos = meta[2 * r];
    const int* table = tables + meta[2 * r + 1];
    int first = window > 0 ? max(0, pos - window + 1) : 0;
    int rowWidth = kvHeads * headDim;
    float qv[MAX_GROUP][LANES], acc[MAX_GROUP][LANES], m[MAX_GROUP], l[MAX_GROUP];
#pragma unroll
    for (int g = 0; g < MAX_GROUP; g++) {
        const float* qh = q + (long) r * qStride + (kvHead * group + gBase + g) * headDim;
#pragma unroll
        for (int i = 0; i < LANES; i++) {
            int d = lane + 32 * i;
            qv[g][i] = g < gn && d < headDim ? qh[d] * scale : 0.f;
            acc[g][i] = 0.f;
        }
        m[g] = NEG_INF;
        l[g] = 0.f;
    }
    for (int p = first + warp; p <= pos; p += DECODE_WARPS) {
        long row = ((long) table[p / blockSize] * blockSize + p % blockSize) * rowWidth + kvHead * headDim;
        float k[LANES], v[LANES];
#pragma unroll
        for (int i = 0; i < LANES; i++) {
            int d = lane + 32 * i;
            k[i] = d < headDim ? KV::load(keys, row + d) : 0.f;
            v[i] = d < headDim ? KV::load(values, row + d) : 0.f;
        }
#pragma unroll
        for (int g = 0; g < MAX_GROUP; g++) {
            if (g >= gn) break;
            float s = 0.f;
#pragma unroll
            for (int i = 0; i < LANES; i++) s += qv[g][i] * k[i];
            for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
            float mNew = fmaxf(m[g], s);
            float correction = expf(m[g] - mNew);
            float w = expf(s - mNew);
            l[g] = l[g] * correction + w;
#pragma unroll
            for (int i = 0; i < LANES; i++) acc[g][i] = acc[g][i] * correction + w * v[i];
            m[g] = mNew;
        }
    }
#pragma unroll
    for (int g = 0; g < MAX_GROUP; g++) {
        if (g >= gn) break;
        if (lane == 0) { partialMax[warp][g] = m[g]; partialSum[warp][g] = l[g]; }
#pragma unroll
        for (int i = 0; i < LANES; i++) {
            int d = lane + 32 * i;
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
        out[(long) r * outStride + (kvHead * group + gBase + g) * headDim + d] = sum / denominator;
    }
}
// LANES = head dimensions a lane holds: 4 up to head_dim 128, 8 up to 256 (fewer registers, more blocks an SM).
#define DECODE_KERNEL(NAME, KVT, T, L) \
extern "C" __global__ void NAME(float* out, int os, const float* q, int qs, const T* K, const T* V, const int* meta, \
        const int* tables, const int* rowList, int blockSize, int kvHeads, int headDim, int group, int window, \
        float scale) { \
    attention_decode_t<KVT, L>(out, os, q, qs, K, V, meta, tables, rowList, blockSize, kvHeads, headDim, group, \
                               window, scale); \
}
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
    int lo = 1 << 30, hi = -1;
    for (int i = 0; i < count; i++) {
        int p = meta[2 * (firstRow + i)];
        hi = max(hi, p);
        lo = min(lo, window > 0 ? max(0, p - window + 1) : 0);
    }
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
extern "C" __global__ void route_dense(float* gates, int gatesStride, const float* logits, int logitsStride, int rows,
                                       int experts, int topK, float normP) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const float* l = logits + (long) r * logitsStride;
    float* g = gates + (long) r * gatesStride;
    float p[MAX_EXPERTS];
    float max = NEG_INF;
    for (int e = 0; e < experts; e++) max = fmaxf(max, l[e]);
    float sum = 0.f;
    for (int e = 0; e < experts; e++) { p[e] = (float) exp((double) (l[e] - max)); sum += p[e]; }
    for (int e = 0; e < experts; e++) { p[e] /= sum; g[e] = 0.f; }
    int chosen[MAX_EXPERTS];
    double norm = 0.0;
    for (int j = 0; j < topK; j++) {
        int best = -1;
        for (int e = 0; e < experts; e++) {
            if (p[e] >= 0.f && (best < 0 || p[e] > p[best])) best = e;
        }
        chosen[j] = best;
        g[best] = p[best];
        norm += pow((double) fabsf(p[best]), (double) normP);
        p[best] = -1.f;
    }
    if (normP > 0.f) {
        float scale = (float) (1.0 / pow(norm, 1.0 / (double) normP));
        for (int j = 0; j < topK; j++) g[chosen[j]] *= scale;
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

// ---- GEMV for one or two rows: out[r][n] (+)= Σ_k x[r][k] · W[n][k], bf16 W (N, K) row-major ----
// A warp computes GEMV_COLS output columns, so that each 16-byte chunk of x it loads (float32,
// 16-byte aligned rows) serves GEMV_COLS rows of W; lanes stream W in 16-byte loads (8 weights).
// With `gates`, the whole product is skipped when no row routes to `expert` (gates[r, expert]
// == 0 for all r): the experts a small batch does not touch are never read.
#define GEMV_WARPS 8
#define GEMV_COLS 4
__device__ __forceinline__ void bf16x8(uint4 p, float* w) {
    w[0] = __uint_as_float(p.x << 16); w[1] = __uint_as_float(p.x & 0xffff0000u);
    w[2] = __uint_as_float(p.y << 16); w[3] = __uint_as_float(p.y & 0xffff0000u);
    w[4] = __uint_as_float(p.z << 16); w[5] = __uint_as_float(p.z & 0xffff0000u);
    w[6] = __uint_as_float(p.w << 16); w[7] = __uint_as_float(p.w & 0xffff0000u);
}
template <int ROWS>
__device__ void gemv_t(float* out, int outStride, const float* x, int xStride, const bf16_t* W, int N, int K, int rows,
                       const float* gates, int gatesStride, int expert, int accumulate) {
    if (gates) {
        bool hit = false;
        for (int r = 0; r < rows; r++) hit |= gates[(long) r * gatesStride + expert] != 0.f;
        if (!hit) return;
    }
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int n0 = (blockIdx.x * GEMV_WARPS + warp) * GEMV_COLS;
    if (n0 >= N) return;
    float acc[ROWS][GEMV_COLS];
#pragma unroll
    for (int r = 0; r < ROWS; r++)
#pragma unroll
        for (int j = 0; j < GEMV_COLS; j++) acc[r][j] = 0.f;
    int chunks = K / 8;
    for (int c = lane; c < chunks; c += 32) {
        float xv[ROWS][8];
#pragma unroll
        for (int r = 0; r < ROWS; r++) {
            const float4* xr = (const float4*) (x + (long) min(r, rows - 1) * xStride + 8 * c);
            float4 a = xr[0], b = xr[1];
            xv[r][0] = a.x; xv[r][1] = a.y; xv[r][2] = a.z; xv[r][3] = a.w;
            xv[r][4] = b.x; xv[r][5] = b.y; xv[r][6] = b.z; xv[r][7] = b.w;
        }
#pragma unroll
        for (int j = 0; j < GEMV_COLS; j++) {
            int n = min(n0 + j, N - 1);
            float wf[8];
            bf16x8(((const uint4*) (W + (long) n * K))[c], wf);
#pragma unroll
            for (int r = 0; r < ROWS; r++)
#pragma unroll
                for (int i = 0; i < 8; i++) acc[r][j] += wf[i] * xv[r][i];
        }
    }
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
#pragma unroll
        for (int j = 0; j < GEMV_COLS; j++) {
            float s = acc[r][j];
            for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
            if (lane == 0 && r < rows && n0 + j < N) {
                float* dst = out + (long) r * outStride + n0 + j;
                *dst = accumulate ? *dst + s : s;
            }
        }
    }
}
extern "C" __global__ void gemv_bf16_1(float* out, int os, const float* x, int xs, const bf16_t* W, int N, int K, int rows,
                                       const float* gates, int gs, int expert, int accumulate) {
    gemv_t<1>(out, os, x, xs, W, N, K, rows, gates, gs, expert, accumulate);
}
extern "C" __global__ void gemv_bf16_2(float* out, int os, const float* x, int xs, const bf16_t* W, int N, int K, int rows,
                                       const float* gates, int gs, int expert, int accumulate) {
    gemv_t<2>(out, os, x, xs, W, N, K, rows, gates, gs, expert, accumulate);
}

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
