//! CUDA C source of the element-wise kernels, compiled by NVRTC at first use. Grid-stride loops
//! over `n` values (`unsigned long long`, as NVRTC has no `size_t` without headers), so any length runs with a bounded grid. Each mirrors its CPU twin in
//! `cpu::elementwise` value for value (`fmaxf(NaN, 0) = 0` like `f32::max`).

pub(super) const SOURCE: &str = r#"
extern "C" __global__ void fcn_relu(const float* x, float* y, unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)blockDim.x * gridDim.x) {
        y[i] = fmaxf(x[i], 0.0f);
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
