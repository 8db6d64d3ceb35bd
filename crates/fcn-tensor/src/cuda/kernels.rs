//! CUDA C sources of the kernels, compiled by NVRTC at first use: the element-wise ones
//! ([`SOURCE`]) and the others ([`OPS_SOURCE`]). Grid-stride loops
//! over `n` values (`unsigned long long`, as NVRTC has no `size_t` without headers), so any length runs with a bounded grid. Each mirrors its CPU twin in
//! `cpu::elementwise` value for value (`fmaxf(NaN, 0) = 0` like `f32::max`).

pub(super) const SOURCE: &str = r#"
extern "C" __global__ void fcn_relu(const float* x, float* y, unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)blockDim.x * gridDim.x) {
        y[i] = x[i] < 0.0f ? 0.0f : x[i];  // a NaN stays NaN, as in PyTorch
    }
}

extern "C" __global__ void fcn_relu_backward(const float* gy, const float* y, float* gx, unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)blockDim.x * gridDim.x) {
        gx[i] = y[i] > 0.0f ? gy[i] : 0.0f;
    }
}

extern "C" __global__ void fcn_add(const float* a, const float* b, float* c, unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)blockDim.x * gridDim.x) {
        c[i] = a[i] + b[i];
    }
}

extern "C" __global__ void fcn_mul(const float* a, const float* b, float* c, unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)blockDim.x * gridDim.x) {
        c[i] = a[i] * b[i];
    }
}

extern "C" __global__ void fcn_scale(const float* x, float factor, float* y, unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)blockDim.x * gridDim.x) {
        y[i] = x[i] * factor;
    }
}
"#;

/// Names of the kernels of [`OPS_SOURCE`], loaded by name.
pub(super) const OPS_KERNELS: &[&str] = &[
    "fcn_crop",
    "fcn_crop_backward",
    "fcn_argmax_channels",
    "fcn_max_pool2d",
    "fcn_max_pool2d_backward",
    "fcn_softmax_cross_entropy",
    "fcn_sum_partials",
    "fcn_dropout_mask",
    "fcn_im2col",
    "fcn_col2im",
    "fcn_add_bias",
    "fcn_bias_backward",
    "fcn_sgd_step",
    "fcn_lars_step",
    "fcn_adam_step",
    "fcn_sum_squares_partials",
];

/// Threads per block that [`OPS_SOURCE`]'s `fcn_sum_partials` and `fcn_sum_squares_partials`
/// must be launched with, and the values each block sums.
pub(super) const SUM_THREADS: u32 = 256;
pub(super) const SUM_CHUNK: usize = 4096;

/// CUDA C source of the other kernels (crop, argmax, pooling, loss, dropout). Sizes are
/// `unsigned long long`; each kernel is a grid-stride loop over its outputs (gather form: every
/// output is written by one thread, so no atomics and deterministic results), and mirrors its
/// CPU twin in `cpu::*` rule for rule.
pub(super) const OPS_SOURCE: &str = r#"
typedef unsigned long long u64;
// NaN test without relying on the math headers (NVRTC compiles without fast math here).
#define FCN_ISNAN(v) ((v) != (v))
#define GRID_STRIDE(i, n) \
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < (n); i += (u64)blockDim.x * gridDim.x)

// y (planes, h, w) = x (planes, in_h, in_w) at rows oh.., columns ow...
extern "C" __global__ void fcn_crop(const float* x, float* y, u64 in_h, u64 in_w, u64 oh, u64 ow,
                                    u64 h, u64 w, u64 n) {
    GRID_STRIDE(i, n) {
        u64 c = i % w, r = i / w % h, p = i / (w * h);
        y[i] = x[p * in_h * in_w + (oh + r) * in_w + ow + c];
    }
}

// gx (planes, in_h, in_w): gy where the crop window lies, 0 elsewhere.
extern "C" __global__ void fcn_crop_backward(const float* gy, float* gx, u64 in_h, u64 in_w,
                                             u64 oh, u64 ow, u64 h, u64 w, u64 n) {
    GRID_STRIDE(i, n) {
        u64 c = i % in_w, r = i / in_w % in_h, p = i / (in_w * in_h);
        float v = 0.0f;
        if (r >= oh && r < oh + h && c >= ow && c < ow + w) {
            v = gy[p * h * w + (r - oh) * w + (c - ow)];
        }
        gx[i] = v;
    }
}

// Per pixel of (images, c, hw): the first largest channel, a NaN over any number.
extern "C" __global__ void fcn_argmax_channels(const float* x, unsigned int* out, u64 c, u64 hw,
                                               u64 n) {
    GRID_STRIDE(i, n) {
        const float* px = x + (i / hw) * c * hw + i % hw;
        float best = px[0];
        unsigned int at = 0;
        for (u64 ch = 1; ch < c; ++ch) {
            float v = px[ch * hw];
            if ((v > best || FCN_ISNAN(v)) && !FCN_ISNAN(best)) {
                best = v;
                at = (unsigned int)ch;
            }
        }
        out[i] = at;
    }
}

// One output per thread: the window scanned row-major, clipped to the input; the first maximum
// wins, a NaN wins and stays. idx is h * in_w + w within the plane.
extern "C" __global__ void fcn_max_pool2d(const float* x, float* y, unsigned int* idx, u64 in_h,
                                          u64 in_w, u64 out_h, u64 out_w, u64 kh, u64 kw,
                                          u64 sh, u64 sw, u64 ph, u64 pw, u64 n) {
    GRID_STRIDE(i, n) {
        u64 ow = i % out_w, oh = i / out_w % out_h, p = i / (out_w * out_h);
        const float* plane = x + p * in_h * in_w;
        long long h0 = (long long)(oh * sh) - (long long)ph;
        long long w0 = (long long)(ow * sw) - (long long)pw;
        long long h1 = h0 + (long long)kh, w1 = w0 + (long long)kw;
        if (h1 > (long long)in_h) h1 = (long long)in_h;
        if (w1 > (long long)in_w) w1 = (long long)in_w;
        if (h0 < 0) h0 = 0;
        if (w0 < 0) w0 = 0;
        float best = -__int_as_float(0x7f800000);
        u64 best_at = (u64)h0 * in_w + (u64)w0;
        bool done = false;
        for (long long hh = h0; hh < h1 && !done; ++hh) {
            for (long long ww = w0; ww < w1; ++ww) {
                u64 at = (u64)hh * in_w + (u64)ww;
                float v = plane[at];
                if (v > best || FCN_ISNAN(v)) {
                    best = v;
                    best_at = at;
                    if (FCN_ISNAN(v)) { done = true; break; }
                }
            }
        }
        y[i] = best;
        idx[i] = (unsigned int)best_at;
    }
}

// Gather form of the pooling gradient: each input value sums, in output order, the gradients
// of the windows that cover it and whose maximum it was (the CPU adds in the same order).
extern "C" __global__ void fcn_max_pool2d_backward(const float* gy, const unsigned int* idx,
                                                   float* gx, u64 in_h, u64 in_w, u64 out_h,
                                                   u64 out_w, u64 kh, u64 kw, u64 sh, u64 sw,
                                                   u64 ph, u64 pw, u64 n) {
    GRID_STRIDE(i, n) {
        u64 w = i % in_w, h = i / in_w % in_h, p = i / (in_w * in_h);
        u64 at = h * in_w + w;
        // Windows oh with oh*sh - ph <= h < oh*sh - ph + kh.
        long long hp = (long long)(h + ph), wp = (long long)(w + pw);
        long long oh0 = hp - (long long)kh + 1;
        oh0 = oh0 <= 0 ? 0 : (oh0 + (long long)sh - 1) / (long long)sh;
        long long oh1 = hp / (long long)sh;
        if (oh1 > (long long)out_h - 1) oh1 = (long long)out_h - 1;
        long long ow0 = wp - (long long)kw + 1;
        ow0 = ow0 <= 0 ? 0 : (ow0 + (long long)sw - 1) / (long long)sw;
        long long ow1 = wp / (long long)sw;
        if (ow1 > (long long)out_w - 1) ow1 = (long long)out_w - 1;
        const float* g = gy + p * out_h * out_w;
        const unsigned int* ix = idx + p * out_h * out_w;
        float acc = 0.0f;
        for (long long oh = oh0; oh <= oh1; ++oh) {
            for (long long ow = ow0; ow <= ow1; ++ow) {
                u64 o = (u64)oh * out_w + (u64)ow;
                if ((u64)ix[o] == at) acc += g[o];
            }
        }
        gx[i] = acc;
    }
}

// One pixel per thread of logits (images, c, hw): label < 0 is ignored. Writes the gradient
// coef[t] * (softmax - onehot) (0 when ignored) and the pixel's weighted loss in double.
extern "C" __global__ void fcn_softmax_cross_entropy(const float* x, const int* label,
                                                     const float* weight, const float* coef,
                                                     float* grad, double* loss, u64 c, u64 hw,
                                                     u64 n) {
    GRID_STRIDE(i, n) {
        u64 base = (i / hw) * c * hw + i % hw;
        const float* px = x + base;
        float* pg = grad + base;
        int t = label[i];
        if (t < 0) {
            for (u64 ch = 0; ch < c; ++ch) pg[ch * hw] = 0.0f;
            loss[i] = 0.0;
            continue;
        }
        float m = px[0];
        for (u64 ch = 1; ch < c; ++ch) {
            float v = px[ch * hw];
            m = v > m ? v : m;
        }
        float sum = 0.0f;
        for (u64 ch = 0; ch < c; ++ch) {
            float e = expf(px[ch * hw] - m);
            pg[ch * hw] = e;
            sum += e;
        }
        float log_sum = m + logf(sum);
        loss[i] = (double)weight[t] * (double)(log_sum - px[(u64)t * hw]);
        float inv = 1.0f / sum, k = coef[t];
        for (u64 ch = 0; ch < c; ++ch) {
            float onehot = ch == (u64)t ? 1.0f : 0.0f;
            pg[ch * hw] = (pg[ch * hw] * inv - onehot) * k;
        }
    }
}

// Block b sums values [4096 b, 4096 (b + 1)) of v in a fixed tree order (256 threads).
extern "C" __global__ void fcn_sum_partials(const double* v, double* partial, u64 n) {
    __shared__ double s[256];
    u64 base = blockIdx.x * 4096ULL;
    double acc = 0.0;
    for (unsigned int k = threadIdx.x; k < 4096; k += 256) {
        u64 i = base + k;
        if (i < n) acc += v[i];
    }
    s[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned int step = 128; step > 0; step >>= 1) {
        if (threadIdx.x < step) s[threadIdx.x] += s[threadIdx.x + step];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

// The CPU's counter-based uniform(seed, index) in [0, 1), bit for bit.
__device__ float fcn_uniform(u64 seed, u64 index) {
    u64 z = seed ^ (index * 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (float)(z >> 40) / 16777216.0f;
}

// Groups of group_len equal values: 0 with probability p, keep otherwise.
extern "C" __global__ void fcn_dropout_mask(float* mask, u64 seed, u64 group_len, float p,
                                            float keep, u64 n) {
    GRID_STRIDE(i, n) {
        mask[i] = fcn_uniform(seed, i / group_len) < p ? 0.0f : keep;
    }
}

// The column matrix (C * kh * kw, out_h * out_w) of one image x (C, in_h, in_w): row
// (c * kh + ki) * kw + kj, column oh * out_w + ow holds x[c, oh*sh + ki*dh - ph, ow*sw + kj*dw - pw]
// (0 in the padding).
extern "C" __global__ void fcn_im2col(const float* x, float* cols, u64 in_h, u64 in_w, u64 out_h,
                                      u64 out_w, u64 kh, u64 kw, u64 sh, u64 sw, u64 ph, u64 pw,
                                      u64 dh, u64 dw, u64 n) {
    GRID_STRIDE(i, n) {
        u64 plane = out_h * out_w;
        u64 p = i % plane, row = i / plane;
        u64 kj = row % kw, ki = row / kw % kh, c = row / (kh * kw);
        long long ih = (long long)(p / out_w * sh + ki * dh) - (long long)ph;
        long long iw = (long long)(p % out_w * sw + kj * dw) - (long long)pw;
        float v = 0.0f;
        if (ih >= 0 && ih < (long long)in_h && iw >= 0 && iw < (long long)in_w) {
            v = x[c * in_h * in_w + (u64)ih * in_w + (u64)iw];
        }
        cols[i] = v;
    }
}

// The adjoint of fcn_im2col as a gather: each value of x (C, in_h, in_w) sums the column
// entries that im2col would have copied from it, in (ki, kj) order. No atomics.
extern "C" __global__ void fcn_col2im(const float* cols, float* x, u64 in_h, u64 in_w, u64 out_h,
                                      u64 out_w, u64 kh, u64 kw, u64 sh, u64 sw, u64 ph, u64 pw,
                                      u64 dh, u64 dw, u64 n) {
    GRID_STRIDE(i, n) {
        u64 w = i % in_w, h = i / in_w % in_h, c = i / (in_w * in_h);
        u64 plane = out_h * out_w;
        float acc = 0.0f;
        for (u64 ki = 0; ki < kh; ++ki) {
            long long t = (long long)(h + ph) - (long long)(ki * dh);
            if (t < 0 || t % (long long)sh != 0) continue;
            u64 oh = (u64)t / sh;
            if (oh >= out_h) continue;
            for (u64 kj = 0; kj < kw; ++kj) {
                long long u = (long long)(w + pw) - (long long)(kj * dw);
                if (u < 0 || u % (long long)sw != 0) continue;
                u64 ow = (u64)u / sw;
                if (ow >= out_w) continue;
                acc += cols[((c * kh + ki) * kw + kj) * plane + oh * out_w + ow];
            }
        }
        x[i] = acc;
    }
}

// y (images, c, plane) += bias[channel].
extern "C" __global__ void fcn_add_bias(float* y, const float* bias, u64 c, u64 plane, u64 n) {
    GRID_STRIDE(i, n) {
        y[i] += bias[i / plane % c];
    }
}

// One block of 256 threads per channel: the sum of gy (images, c, plane) over images and pixels
// of channel blockIdx.x, in double, in a fixed tree order.
extern "C" __global__ void fcn_bias_backward(const float* gy, float* gb, u64 images, u64 c,
                                             u64 plane) {
    __shared__ double s[256];
    u64 ch = blockIdx.x;
    double acc = 0.0;
    for (u64 img = 0; img < images; ++img) {
        const float* g = gy + (img * c + ch) * plane;
        for (u64 p = threadIdx.x; p < plane; p += 256) acc += (double)g[p];
    }
    s[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned int step = 128; step > 0; step >>= 1) {
        if (threadIdx.x < step) s[threadIdx.x] += s[threadIdx.x + step];
        __syncthreads();
    }
    if (threadIdx.x == 0) gb[ch] = (float)s[0];
}

// Optimizer updates, one thread per value, the CPU's operation order (`cpu::optim`); new
// weights and state go to new buffers (w_out, b_out, ...), so the old ones stay valid values.

// SGD with momentum: b = momentum b + (g + decay w), w -= rate b.
extern "C" __global__ void fcn_sgd_step(const float* w, const float* b, const float* g,
                                        float* w_out, float* b_out, float momentum, float decay,
                                        float rate, u64 n) {
    GRID_STRIDE(i, n) {
        float bi = momentum * b[i] + (g[i] + decay * w[i]);
        b_out[i] = bi;
        w_out[i] = w[i] - rate * bi;
    }
}

// LARS in velocity units: v = momentum v + rate (g + decay w), w -= v.
extern "C" __global__ void fcn_lars_step(const float* w, const float* v, const float* g,
                                         float* w_out, float* v_out, float momentum, float decay,
                                         float rate, u64 n) {
    GRID_STRIDE(i, n) {
        float vi = momentum * v[i] + rate * (g[i] + decay * w[i]);
        v_out[i] = vi;
        w_out[i] = w[i] - vi;
    }
}

// Adam with L2 decay added to the gradient: moments in float, the step in double.
extern "C" __global__ void fcn_adam_step(const float* w, const float* m, const float* v,
                                         const float* g, float* w_out, float* m_out, float* v_out,
                                         float beta1, float beta2, float eps, float decay,
                                         double rate, double c1, double c2, u64 n) {
    GRID_STRIDE(i, n) {
        float gi = g[i] + decay * w[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        double denom = sqrt((double)vi / c2) + (double)eps;
        m_out[i] = mi;
        v_out[i] = vi;
        w_out[i] = w[i] - (float)(rate * ((double)mi / c1) / denom);
    }
}

// As fcn_sum_partials, of the squares of float values (in double): LARS's norms.
extern "C" __global__ void fcn_sum_squares_partials(const float* x, double* partial, u64 n) {
    __shared__ double s[256];
    u64 base = blockIdx.x * 4096ULL;
    double acc = 0.0;
    for (unsigned int k = threadIdx.x; k < 4096; k += 256) {
        u64 i = base + k;
        if (i < n) acc += (double)x[i] * (double)x[i];
    }
    s[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned int step = 128; step > 0; step >>= 1) {
        if (threadIdx.x < step) s[threadIdx.x] += s[threadIdx.x + step];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}
"#;
