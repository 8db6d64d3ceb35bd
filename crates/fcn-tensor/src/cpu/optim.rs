//! Optimizer updates over a parameter's values, in place. The operation order and precision are
//! those the optimizers have always used, so training results do not change.

/// SGD with momentum, PyTorch's form: `buf = momentum * buf + (g + decay * w)`,
/// `w -= rate * buf`.
pub(crate) fn sgd_step(
    w: &mut [f32],
    buf: &mut [f32],
    g: &[f32],
    momentum: f32,
    decay: f32,
    rate: f32,
) {
    for ((w, b), &g) in w.iter_mut().zip(buf.iter_mut()).zip(g) {
        *b = momentum * *b + (g + decay * *w);
        *w -= rate * *b;
    }
}

/// LARS's momentum in velocity units: `v = momentum * v + rate * (g + decay * w)`, `w -= v`.
pub(crate) fn lars_step(
    w: &mut [f32],
    v: &mut [f32],
    g: &[f32],
    momentum: f32,
    decay: f32,
    rate: f32,
) {
    for ((w, v), &g) in w.iter_mut().zip(v.iter_mut()).zip(g) {
        *v = momentum * *v + rate * (g + decay * *w);
        *w -= *v;
    }
}

/// The coefficients of one Adam step (see `ops::AdamStep`).
pub(crate) struct Adam {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub decay: f32,
    pub rate: f64,
    pub c1: f64,
    pub c2: f64,
}

/// Adam with L2 decay added to the gradient (moments in f32, the step in f64).
pub(crate) fn adam_step(w: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], a: &Adam) {
    for i in 0..w.len() {
        let g = g[i] + a.decay * w[i];
        m[i] = a.beta1 * m[i] + (1.0 - a.beta1) * g;
        v[i] = a.beta2 * v[i] + (1.0 - a.beta2) * g * g;
        let denom = (f64::from(v[i]) / a.c2).sqrt() + f64::from(a.eps);
        w[i] -= (a.rate * (f64::from(m[i]) / a.c1) / denom) as f32;
    }
}

/// The sum of the squares, in f64, in order.
pub(crate) fn sum_squares(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v) * f64::from(v)).sum()
}
