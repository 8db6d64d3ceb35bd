//! CUDA C source of the normalisation, resizing and channel kernels (batch normalisation,
//! global average pooling, bilinear resize, channel copies), compiled by NVRTC at first use with
//! the others. Gather form as everywhere: one thread per output value, or one block of
//! [`NORM_THREADS`] threads per channel or plane for the sums (in double, fixed tree order), so
//! results do not vary between runs.

/// Names of the kernels of [`NORM_SOURCE`], loaded by name.
pub(super) const NORM_KERNELS: &[&str] = &[
    "fcn_bn_statistics",
    "fcn_bn_running",
    "fcn_bn_apply",
    "fcn_bn_backward_sums",
    "fcn_bn_backward_input",
    "fcn_plane_means",
    "fcn_plane_means_backward",
    "fcn_resize_bilinear",
    "fcn_resize_bilinear_backward",
    "fcn_copy_channels",
];

/// Threads per block of the per-channel and per-plane sums (the tree below assumes 256).
pub(super) const NORM_THREADS: u32 = 256;

pub(super) const NORM_SOURCE: &str = r#"
typedef unsigned long long u64;
#define GRID_STRIDE(i, n) \
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < (n); i += (u64)blockDim.x * gridDim.x)

// The sum of the 256 values of s, in a fixed tree order; every thread gets it.
__device__ double fcn_block_sum(double* s, double v) {
    s[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int step = 128; step > 0; step >>= 1) {
        if (threadIdx.x < step) s[threadIdx.x] += s[threadIdx.x + step];
        __syncthreads();
    }
    double total = s[0];
    __syncthreads();
    return total;
}

// One block per channel of x (images, c, plane): the mean and 1 / sqrt(biased var + eps), two
// passes in double; with has_running, the running statistics blended with the batch's (the
// unbiased variance), into new buffers.
extern "C" __global__ void fcn_bn_statistics(const float* x, float* mean, float* invstd,
                                             const float* rm, const float* rv, float* rm_out,
                                             float* rv_out, u64 images, u64 c, u64 plane,
                                             float eps, float momentum, int has_running) {
    __shared__ double s[256];
    u64 ch = blockIdx.x;
    double count = (double)(images * plane);
    double acc = 0.0;
    for (u64 img = 0; img < images; ++img) {
        const float* p = x + (img * c + ch) * plane;
        for (u64 k = threadIdx.x; k < plane; k += 256) acc += (double)p[k];
    }
    double m = fcn_block_sum(s, acc) / count;
    acc = 0.0;
    for (u64 img = 0; img < images; ++img) {
        const float* p = x + (img * c + ch) * plane;
        for (u64 k = threadIdx.x; k < plane; k += 256) {
            double d = (double)p[k] - m;
            acc += d * d;
        }
    }
    double var = fcn_block_sum(s, acc) / count;
    if (threadIdx.x == 0) {
        mean[ch] = (float)m;
        invstd[ch] = (float)(1.0 / sqrt(var + (double)eps));
        if (has_running) {
            double mo = (double)momentum;
            double unbiased = var * count / (count - 1.0);
            rm_out[ch] = (float)(mo * m + (1.0 - mo) * (double)rm[ch]);
            rv_out[ch] = (float)(mo * unbiased + (1.0 - mo) * (double)rv[ch]);
        }
    }
}

// Evaluation: the running mean, and 1 / sqrt(running var + eps).
extern "C" __global__ void fcn_bn_running(const float* rm, const float* rv, float* mean,
                                          float* invstd, float eps, u64 n) {
    GRID_STRIDE(i, n) {
        mean[i] = rm[i];
        invstd[i] = (float)(1.0 / sqrt((double)rv[i] + (double)eps));
    }
}

// y = x * alpha + beta with alpha = invstd w, beta = b - mean alpha (the CPU's form), then
// + residual (has_residual) and a ReLU (relu; a NaN stays NaN).
extern "C" __global__ void fcn_bn_apply(const float* x, const float* mean, const float* invstd,
                                        const float* w, const float* b, const float* residual,
                                        float* y, u64 c, u64 plane, int has_residual, int relu,
                                        u64 n) {
    GRID_STRIDE(i, n) {
        u64 ch = i / plane % c;
        float alpha = invstd[ch] * w[ch];
        float beta = b[ch] - mean[ch] * alpha;
        float v = x[i] * alpha + beta;
        if (has_residual) v += residual[i];
        if (relu && v < 0.0f) v = 0.0f;
        y[i] = v;
    }
}

// One block per channel: sum(g) and sum(g (x - mean)) in double. Writes the bias gradient
// sum(g), the weight gradient sum(g (x - mean)) invstd, and both double sums for the input
// gradient.
extern "C" __global__ void fcn_bn_backward_sums(const float* gy, const float* x,
                                                const float* mean, const float* invstd,
                                                float* gw, float* gb, double* sums, u64 images,
                                                u64 c, u64 plane) {
    __shared__ double s[256];
    u64 ch = blockIdx.x;
    double m = (double)mean[ch];
    double sum = 0.0, dot = 0.0;
    for (u64 img = 0; img < images; ++img) {
        u64 base = (img * c + ch) * plane;
        for (u64 k = threadIdx.x; k < plane; k += 256) {
            double g = (double)gy[base + k];
            sum += g;
            dot += g * ((double)x[base + k] - m);
        }
    }
    sum = fcn_block_sum(s, sum);
    dot = fcn_block_sum(s, dot);
    if (threadIdx.x == 0) {
        gb[ch] = (float)sum;
        gw[ch] = (float)(dot * (double)invstd[ch]);
        sums[2 * ch] = sum;
        sums[2 * ch + 1] = dot;
    }
}

// The input gradient: through the batch statistics (the CPU's coefficients
// gx = g a + x b + d per channel), or g invstd w with running statistics.
extern "C" __global__ void fcn_bn_backward_input(const float* gy, const float* x,
                                                 const float* mean, const float* invstd,
                                                 const float* w, const double* sums, float* gx,
                                                 u64 c, u64 plane, u64 count,
                                                 int through_statistics, u64 n) {
    GRID_STRIDE(i, n) {
        u64 ch = i / plane % c;
        double is = (double)invstd[ch];
        double a = is * (double)w[ch];
        if (through_statistics) {
            double m = (double)count;
            double k = sums[2 * ch + 1] * is * is / m;
            float fa = (float)a;
            float fb = (float)(-k * a);
            float fd = (float)(((double)mean[ch] * k - sums[2 * ch] / m) * a);
            gx[i] = gy[i] * fa + (x[i] * fb + fd);
        } else {
            gx[i] = gy[i] * (float)a;
        }
    }
}

// One block per plane: its mean, summed in double.
extern "C" __global__ void fcn_plane_means(const float* x, float* y, u64 plane) {
    __shared__ double s[256];
    const float* p = x + (u64)blockIdx.x * plane;
    double acc = 0.0;
    for (u64 k = threadIdx.x; k < plane; k += 256) acc += (double)p[k];
    double total = fcn_block_sum(s, acc);
    if (threadIdx.x == 0) y[blockIdx.x] = (float)(total / (double)plane);
}

extern "C" __global__ void fcn_plane_means_backward(const float* gy, float* gx, u64 plane,
                                                    u64 n) {
    float share = 1.0f / (float)plane;
    GRID_STRIDE(i, n) { gx[i] = gy[i / plane] * share; }
}

// The CPU's tap (PyTorch's compute_source_index_and_lambda) of output position o, in float.
__device__ void fcn_tap(u64 o, u64 in, u64 out, int align, u64* i0, u64* i1, float* l0,
                        float* l1) {
    if (in == out) {
        *i0 = o; *i1 = o; *l0 = 1.0f; *l1 = 0.0f;
        return;
    }
    float scale = align ? (out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f)
                        : (float)in / (float)out;
    float src = align ? scale * (float)o : scale * ((float)o + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    u64 f = (u64)floorf(src);
    if (f > in - 1) f = in - 1;
    float l = src - (float)f;
    l = l < 0.0f ? 0.0f : (l > 1.0f ? 1.0f : l);
    *i0 = f;
    *i1 = f < in - 1 ? f + 1 : f;
    *l1 = l;
    *l0 = 1.0f - l;
}

extern "C" __global__ void fcn_resize_bilinear(const float* x, float* y, u64 in_h, u64 in_w,
                                               u64 out_h, u64 out_w, int align, u64 n) {
    GRID_STRIDE(i, n) {
        u64 ow = i % out_w, oh = i / out_w % out_h, p = i / (out_w * out_h);
        u64 h0, h1, w0, w1;
        float a0, a1, b0, b1;
        fcn_tap(oh, in_h, out_h, align, &h0, &h1, &a0, &a1);
        fcn_tap(ow, in_w, out_w, align, &w0, &w1, &b0, &b1);
        const float* r0 = x + p * in_h * in_w + h0 * in_w;
        const float* r1 = x + p * in_h * in_w + h1 * in_w;
        y[i] = a0 * (b0 * r0[w0] + b1 * r0[w1]) + a1 * (b0 * r1[w0] + b1 * r1[w1]);
    }
}

// The first output position whose tap's i0 is at least `target` (i0 never decreases with o).
__device__ u64 fcn_first_tap(u64 target, u64 in, u64 out, int align) {
    u64 lo = 0, hi = out;
    while (lo < hi) {
        u64 mid = (lo + hi) / 2, i0, i1;
        float l0, l1;
        fcn_tap(mid, in, out, align, &i0, &i1, &l0, &l1);
        if (i0 < target) lo = mid + 1; else hi = mid;
    }
    return lo;
}

// The weight with which output position o of an axis reads input position i.
__device__ float fcn_tap_weight(u64 o, u64 i, u64 in, u64 out, int align) {
    u64 i0, i1;
    float l0, l1;
    fcn_tap(o, in, out, align, &i0, &i1, &l0, &l1);
    return (i0 == i ? l0 : 0.0f) + (i1 == i ? l1 : 0.0f);
}

// Gather form of the gradient: input (h, w) reads the outputs whose taps touch it, those with
// i0 in {h - 1, h} along each axis (a contiguous range, found by binary search).
extern "C" __global__ void fcn_resize_bilinear_backward(const float* gy, float* gx, u64 in_h,
                                                        u64 in_w, u64 out_h, u64 out_w,
                                                        int align, u64 n) {
    GRID_STRIDE(i, n) {
        u64 w = i % in_w, h = i / in_w % in_h, p = i / (in_w * in_h);
        u64 oh0 = fcn_first_tap(h == 0 ? 0 : h - 1, in_h, out_h, align);
        u64 oh1 = fcn_first_tap(h + 1, in_h, out_h, align);
        u64 ow0 = fcn_first_tap(w == 0 ? 0 : w - 1, in_w, out_w, align);
        u64 ow1 = fcn_first_tap(w + 1, in_w, out_w, align);
        const float* g = gy + p * out_h * out_w;
        float acc = 0.0f;
        for (u64 oh = oh0; oh < oh1; ++oh) {
            float wh = fcn_tap_weight(oh, h, in_h, out_h, align);
            if (wh == 0.0f) continue;
            for (u64 ow = ow0; ow < ow1; ++ow) {
                float ww = fcn_tap_weight(ow, w, in_w, out_w, align);
                acc += wh * ww * g[oh * out_w + ow];
            }
        }
        gx[i] = acc;
    }
}

// Channels from .. from + count of src (images, src_c, plane) to channels to .. to + count of
// dst (images, dst_c, plane); one thread per copied value.
extern "C" __global__ void fcn_copy_channels(const float* src, float* dst, u64 src_c, u64 from,
                                             u64 dst_c, u64 to, u64 count, u64 plane, u64 n) {
    GRID_STRIDE(i, n) {
        u64 k = i % plane, ch = i / plane % count, img = i / (plane * count);
        dst[(img * dst_c + to + ch) * plane + k] = src[(img * src_c + from + ch) * plane + k];
    }
}
"#;

#[cfg(test)]
mod tests {
    /// Every kernel source compiles with NVRTC, which needs no GPU: where the NVRTC library is
    /// found (a CUDA toolkit, or the `nvidia-cuda-nvrtc` wheel on `LD_LIBRARY_PATH`), a syntax
    /// or type error in a kernel fails here rather than at first use on a GPU machine.
    #[test]
    fn kernel_sources_compile_with_nvrtc() {
        // SAFETY: only tries to open the shared library by its candidate names.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            eprintln!("skipping NVRTC compile check: libnvrtc not found");
            return;
        }
        for (name, source) in [
            ("SOURCE", super::super::kernels::SOURCE),
            ("OPS_SOURCE", super::super::kernels::OPS_SOURCE),
            ("NORM_SOURCE", super::NORM_SOURCE),
        ] {
            let ptx = cudarc::nvrtc::compile_ptx(source)
                .unwrap_or_else(|e| panic!("{name} does not compile: {e:?}"));
            let text = ptx.to_src();
            if name == "NORM_SOURCE" {
                for kernel in super::NORM_KERNELS {
                    assert!(text.contains(kernel), "{kernel} missing from the PTX");
                }
            }
        }
    }
}
