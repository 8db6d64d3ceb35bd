#!/usr/bin/env python3
"""Cost model of synchronous data-parallel FCN-8s training: ring all-reduce of the gradients.

Plain python3, no third-party module. Prints markdown tables (docs/distributed.md quotes them).

    python3 benches/allreduce_model.py                      # the tables of docs/distributed.md
    python3 benches/allreduce_model.py --calibrate ar.json  # fit alpha, B to `fcn bench allreduce --json`
    python3 benches/allreduce_model.py --cpu-step 0.6 --gpu-tflops 300 --overlap 0.5

The model (Patarasuk & Yuan 2009; Thakur et al. 2005): a ring all-reduce of S bytes over p ranks
is a reduce-scatter and an all-gather, 2(p-1) steps, each sending S/p bytes to the next rank:

    T(p) = k * 2(p-1) * alpha + 2(p-1)/p * S / B

alpha = per-message latency, B = link bandwidth per direction, k = number of gradient buckets
(fcn-rs all-reduces in buckets of `distributed.bucket_mib`, 25 MiB by default; every bucket pays
the latency term). A step of one rank then takes t_compute + max(0, T - overlap * t_backward):

- `--overlap 0` is fcn-rs as it is: the gradients are summed after the whole backward pass.
- `--overlap 1` is PyTorch DDP's ideal: buckets are reduced while backward still runs.

Weak scaling (each rank keeps its batch): efficiency E(p) = t_compute / step time, and the
throughput is p * batch / step time. Local SGD averages the model (the same S bytes) every H
steps instead of summing gradients every step: the communication per step is T(p) / H.

Sources of the constants are in the comments next to them. What is measured and what is
assumed is printed with every table.
"""

import argparse
import json
import math
import sys

# --- The message -------------------------------------------------------------------------
# Trainable parameters of the full VGG16 FCN-8s with 21 classes, from fcn-rs itself:
#     fcn bench allreduce            (the case "fcn8s /1 grads": 537,451,004 bytes)
# i.e. every parameter but the frozen bilinear upsampling layers (`fcn bench model` counts those
# too: 134.5 M). The gradients are f32, as in training (PyTorch DDP with AMP also reduces f32).
FCN8S_GRAD_VALUES = 134_362_751
# The main job's network (width / 8, 21 classes), same command, case "fcn8s /8 grads".
FCN8S_W8_GRAD_VALUES = 2_112_199
BYTES_PER_VALUE = 4

# --- Compute per step --------------------------------------------------------------------
# Measured on this project's machine (docs/benchmarks.md, "Whole network"): one training step
# of the full FCN-8s, batch 1, 3x512x512, 2 threads of a 2-vCPU AMD EPYC (Zen 4): 9.13 s.
CPU_STEP_MEASURED_S = 9.13
# Fraction of one step spent in the backward pass (backward computes two products per
# convolution, forward one: about 2/3).
BACKWARD_FRACTION = 2.0 / 3.0

# --- Links -------------------------------------------------------------------------------
# (name, alpha seconds, B bytes/s per direction). Bandwidths are line rates (the transport gets
# 85-95% of them for large messages); latencies are typical MPI/NCCL small-message figures for
# each fabric, assumptions, not measurements.
LINKS = [
    ("10 GbE (TCP)", 25e-6, 10e9 / 8),
    ("25 GbE (TCP)", 15e-6, 25e9 / 8),
    ("100 Gb InfiniBand EDR", 2e-6, 100e9 / 8),
    ("200 Gb InfiniBand HDR", 2e-6, 200e9 / 8),
]
# H100 SXM: NVLink 4 through NVSwitch, 900 GB/s both directions = 450 GB/s each way per GPU.
NVLINK = ("NVLink 4 / NVSwitch (H100 SXM)", 5e-6, 450e9)
# Between H100 nodes: one 400 Gb NDR NIC per GPU (DGX H100 layout), or one 200 Gb HDR NIC per
# node shared by its 8 GPUs.
GPUS_PER_NODE = 8
NDR_PER_GPU = ("8 x 400 Gb NDR per node (one per GPU)", 2e-6, 400e9 / 8, True)
HDR_PER_NODE = ("1 x 200 Gb HDR per node", 2e-6, 200e9 / 8, False)

RANKS = [1, 2, 8, 64, 512]
MIB = 1 << 20


def ring_time(p, size, alpha, bandwidth, buckets=1):
    """Seconds of a ring all-reduce of `size` bytes over p ranks, in `buckets` messages."""
    if p <= 1:
        return 0.0
    return buckets * 2 * (p - 1) * alpha + 2 * (p - 1) / p * size / bandwidth


def fcn8s_gradient_sizes(classes=21):
    """Values of each gradient tensor fcn-rs all-reduces, in its order (`state_dict` order of
    the trainable parameters: VGG16's convolutions, fc6, fc7, score_fr, score_pool3,
    score_pool4; each weight, then its bias)."""
    convs = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
             (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    layers = [(i * o * 9, o) for i, o in convs]
    layers += [(512 * 4096 * 49, 4096), (4096 * 4096, 4096), (4096 * classes, classes),
               (256 * classes, classes), (512 * classes, classes)]
    return [n for w, b in layers for n in (w, b)]


def bucket_count(sizes, bucket_mib):
    """Collectives of one bucketed all-reduce, grouped as fcn-rs does
    (`fcn_train::distributed::host_all_reduce`): consecutive tensors while they fit in the
    bucket; a tensor larger than a bucket goes alone."""
    limit = bucket_mib * MIB // BYTES_PER_VALUE
    count, filled = 0, None
    for n in sizes:
        if filled is None or filled + n > limit:
            count, filled = count + 1, n
        else:
            filled += n
    return count


def buckets_of(size, bucket_mib):
    """Buckets of the full FCN-8s gradients, or of a message of `size` bytes split evenly."""
    if size == FCN8S_GRAD_VALUES * BYTES_PER_VALUE:
        return bucket_count(fcn8s_gradient_sizes(), bucket_mib)
    return max(1, math.ceil(size / (bucket_mib * MIB)))


def hierarchical_time(p, size, intra, inter, bucket_mib):
    """Seconds of an all-reduce over p GPUs in nodes of GPUS_PER_NODE: reduce-scatter and
    all-gather inside the node over NVLink (together: an all-reduce's cost), and an all-reduce
    of each GPU's 1/g share between the nodes. With a NIC per GPU the g shares travel side by
    side on their own rails; with one NIC per node they share it."""
    g = min(p, GPUS_PER_NODE)
    k = buckets_of(size, bucket_mib)
    t = ring_time(g, size, intra[1], intra[2], k)
    nodes = p // g
    if nodes > 1:
        _, alpha, bandwidth, per_gpu = inter
        share = size / g if per_gpu else size
        t += ring_time(nodes, share, alpha, bandwidth, k)
    return t


def fcn8s_train_flops(side=512, classes=21):
    """Floating-point operations of one FCN-8s training step at batch 1 on a side x side image
    (multiply-add = 2), from the reference geometry (FCN_REFERENCE.md sections 1-2): forward,
    plus the input gradient and the weight gradient of every layer (no input gradient for
    conv1_1, no weight gradient for the frozen upsampling)."""
    macs = []  # (forward MACs, trainable, needs input gradient)
    s = side + 200 - 2  # conv1_1: 3x3, padding 100
    convs = [(3, 64), (64, 64), None, (64, 128), (128, 128), None, (128, 256), (256, 256),
             (256, 256), None, (256, 512), (512, 512), (512, 512), None, (512, 512),
             (512, 512), (512, 512), None]
    pools = []
    first = True
    for c in convs:
        if c is None:
            s = (s + 1) // 2  # 2x2 max pooling, ceil mode
            pools.append(s)
            continue
        macs.append((s * s * c[0] * c[1] * 9, True, not first))
        first = False
    s = s - 6  # fc6: 7x7, no padding
    macs.append((s * s * 512 * 4096 * 49, True, True))
    macs.append((s * s * 4096 * 4096, True, True))  # fc7
    macs.append((s * s * 4096 * classes, True, True))  # score_fr
    up2 = (s - 1) * 2 + 4
    macs.append((s * s * classes * classes * 16, False, True))  # upscore2
    macs.append((pools[3] ** 2 * 512 * classes, True, True))  # score_pool4
    up4 = (up2 - 1) * 2 + 4
    macs.append((up2 * up2 * classes * classes * 16, False, True))  # upscore_pool4
    macs.append((pools[2] ** 2 * 256 * classes, True, True))  # score_pool3
    macs.append((up4 * up4 * classes * classes * 256, False, True))  # upscore8
    total = 0
    for m, trainable, input_grad in macs:
        total += m * (1 + int(trainable) + int(input_grad))
    return 2 * total


def efficiency(t_compute, t_comm, overlap):
    """E = t_compute / step time, when `overlap` of the backward pass can hide communication."""
    exposed = max(0.0, t_comm - overlap * BACKWARD_FRACTION * t_compute)
    return t_compute / (t_compute + exposed)


def fmt_s(t):
    if t == 0:
        return "0"
    if t < 1e-3:
        return f"{t * 1e6:.0f} us"
    if t < 1:
        return f"{t * 1e3:.1f} ms"
    return f"{t:.2f} s"


def variant_rows(name, t_compute, comm, overlap, local_h):
    """Table rows of one link: synchronous (as configured, and fully overlapped) and local SGD
    for each H. comm(p) = seconds of one all-reduce of the gradients over p ranks."""
    ps = RANKS
    rows = [(f"{name}: sync", [f"{fmt_s(comm(p))}, {efficiency(t_compute, comm(p), overlap):.0%}"
                               for p in ps])]
    if overlap < 1:
        rows.append((f"{name}: sync, overlapped with backward",
                     [f"{efficiency(t_compute, comm(p), 1.0):.0%}" for p in ps]))
    for h in local_h:
        rows.append((f"{name}: local SGD, H = {h}",
                     [f"{efficiency(t_compute, comm(p) / h, 0.0):.0%}" for p in ps]))
    return rows


def print_rows(rows):
    print("| link, mode | " + " | ".join(f"p = {p}" for p in RANKS) + " |")
    print("|---" * (len(RANKS) + 1) + "|")
    for name, cells in rows:
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()


def print_link_table(title, t_compute, links, size, bucket_mib, overlap, local_h):
    k = buckets_of(size, bucket_mib)
    print(f"### {title}\n")
    print(f"t_compute = {fmt_s(t_compute)} per step (batch 1); S = {size / 1e6:.1f} MB in {k} "
          f"buckets of {bucket_mib} MiB; sync cells: all-reduce time, E with overlap "
          f"{overlap:g}\n")
    rows = []
    for name, alpha, bandwidth in links:
        comm = lambda p, a=alpha, b=bandwidth: ring_time(p, size, a, b, k)
        rows += variant_rows(name, t_compute, comm, overlap, local_h)
    print_rows(rows)


def print_gpu_table(t_compute, batches, size, bucket_mib, overlap, local_h):
    for batch in batches:
        t_c = t_compute * batch
        print(f"### (b) H100 GPUs, batch {batch} per GPU: NVLink inside a node of "
              f"{GPUS_PER_NODE}, InfiniBand between nodes\n")
        print(f"t_compute = {fmt_s(t_c)} per step (assumed, see the inputs); S = "
              f"{size / 1e6:.1f} MB; p <= {GPUS_PER_NODE} stays inside one node; sync cells: "
              f"all-reduce time, E with overlap {overlap:g}\n")
        rows = []
        for inter in (NDR_PER_GPU, HDR_PER_NODE):
            comm = lambda p, inter=inter: hierarchical_time(p, size, NVLINK, inter, bucket_mib)
            rows += variant_rows(inter[0], t_c, comm, overlap, local_h)
        print_rows(rows)


def calibrate(path):
    """The ring model's alpha and B from the size sweep of `fcn bench allreduce --json`:
    alpha from the smallest message (its time is all latency), B from a least-squares line
    through the messages of 64 MiB and more (past the last-level cache, where gradients of
    hundreds of MB live; smaller ones run from cache and faster)."""
    with open(path) as f:
        bench = json.load(f)
    p = bench["ranks"]
    if p < 2:
        sys.exit(f"{path}: one rank, nothing was timed")
    sweep = [c for c in bench["cases"] if "grads" not in c["name"]]
    grads = [c for c in bench["cases"] if "grads" in c["name"]]
    print(f"### Calibration from {path}: {p} ranks, backend {bench['backend']}, "
          f"cpu {bench['cpu']}\n")
    print("| path | alpha | B (per direction) | FCN-8s gradients: measured | model |")
    print("|---|---|---|---|---|")
    fits = {}
    for key, label in (("flat_median_s", "one MPI all-reduce"),
                       ("median_s", "bucketed, as in training")):
        timed = [c for c in sweep if c.get(key)]
        alpha = timed[0][key] / (2 * (p - 1))
        large = [c for c in timed if c["bytes"] >= 64 * MIB] or timed
        if len(large) >= 2:
            xs = [c["bytes"] for c in large]
            ys = [c[key] for c in large]
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            slope = (sum((x - mx) * (y - my) for x, y in zip(xs, ys))
                     / sum((x - mx) ** 2 for x in xs))
        else:
            slope = large[0][key] / large[0]["bytes"]
        bandwidth = 2 * (p - 1) / p / slope
        fits[key] = (alpha, bandwidth)
        full = grads[0] if grads else None
        if full and full.get(key):
            k = buckets_of(full["bytes"], bench["bucket_mib"]) if key == "median_s" else 1
            predicted = ring_time(p, full["bytes"], alpha, bandwidth, k)
            cells = f"{fmt_s(full[key])} | {fmt_s(predicted)}"
        else:
            cells = "- | -"
        print(f"| {label} | {alpha * 1e6:.2f} us | {bandwidth / 1e9:.2f} GB/s | {cells} |")
    print()
    return fits


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calibrate", metavar="JSON",
                    help="`fcn bench allreduce --json` output: fit alpha and B, and compare "
                         "the model with the measured gradient all-reduce")
    ap.add_argument("--bucket-mib", type=int, default=25)
    ap.add_argument("--overlap", type=float, default=0.0,
                    help="fraction of the backward pass communication can hide behind "
                         "(0 = fcn-rs today, 1 = ideal DDP)")
    ap.add_argument("--cpu-step", type=float, default=None,
                    help="seconds per step of a cluster CPU node (default: derived below)")
    ap.add_argument("--cpu-node-cores", type=int, default=64)
    ap.add_argument("--cpu-parallel-efficiency", type=float, default=0.5)
    ap.add_argument("--gpu-tflops", type=float, default=300.0,
                    help="achieved TFLOP/s of one H100 on FCN-8s training (assumption)")
    ap.add_argument("--gpu-batch", type=int, nargs="*", default=[1, 8],
                    help="per-GPU batches to tabulate (t_compute scales linearly)")
    ap.add_argument("--local-sgd", type=int, nargs="*", default=[4, 16],
                    help="averaging periods H of local SGD to tabulate")
    args = ap.parse_args()

    size = FCN8S_GRAD_VALUES * BYTES_PER_VALUE
    # The layer list above must add up to what the Rust model reports.
    assert sum(fcn8s_gradient_sizes()) == FCN8S_GRAD_VALUES, sum(fcn8s_gradient_sizes())
    flops = fcn8s_train_flops()
    links = LINKS
    if args.calibrate:
        calibrate(args.calibrate)

    print("## Inputs\n")
    print(f"- S = {FCN8S_GRAD_VALUES:,} f32 gradients = {size / 1e6:.1f} MB per step "
          f"(full FCN-8s, 21 classes); the main job (width / 8) sends "
          f"{FCN8S_W8_GRAD_VALUES * BYTES_PER_VALUE / 1e6:.1f} MB.")
    print(f"- One training step of FCN-8s at batch 1, 512x512: {flops / 1e12:.2f} TFLOP "
          f"(counted from the layer shapes).")
    measured_rate = flops / CPU_STEP_MEASURED_S
    print(f"- This machine (2 vCPU Zen 4): {CPU_STEP_MEASURED_S} s per step, measured "
          f"= {measured_rate / 1e9:.0f} GFLOP/s.")
    if args.cpu_step is None:
        speedup = args.cpu_node_cores / 2 * args.cpu_parallel_efficiency
        cpu_step = CPU_STEP_MEASURED_S / speedup
        print(f"- Assumed cluster CPU node: {args.cpu_node_cores} cores of the same speed at "
              f"{args.cpu_parallel_efficiency:.0%} parallel efficiency = {speedup:g}x this "
              f"machine = {cpu_step:.2f} s per step (`--cpu-step` to change).")
    else:
        cpu_step = args.cpu_step
        print(f"- Cluster CPU node: {cpu_step} s per step (given).")
    gpu_step = flops / (args.gpu_tflops * 1e12)
    print(f"- Assumed H100: {args.gpu_tflops:g} TFLOP/s achieved (about 30% of the SXM's 989 "
          f"TFLOP/s dense BF16) = {gpu_step * 1e3:.1f} ms per step (`--gpu-tflops`).")
    print(f"- Links (alpha, B per direction): "
          + "; ".join(f"{n} {a * 1e6:g} us, {b / 1e9:g} GB/s" for n, a, b in links + [NVLINK])
          + ".")
    print(f"- Overlap: {args.overlap:g} of the backward pass "
          f"({BACKWARD_FRACTION:.2f} of a step); local SGD rows never overlap.\n")
    print("Cells: communication time per step (ring all-reduce of S), efficiency "
          "E = t_compute / (t_compute + exposed communication).\n")

    print_link_table("(a1) CPU nodes like this machine (2 cores, one rank per node)",
                     CPU_STEP_MEASURED_S, links, size, args.bucket_mib, args.overlap,
                     args.local_sgd)
    print_link_table(f"(a2) CPU cluster nodes ({args.cpu_node_cores} cores, one rank per node)",
                     cpu_step, links, size, args.bucket_mib, args.overlap, args.local_sgd)
    print_gpu_table(gpu_step, args.gpu_batch, size, args.bucket_mib, args.overlap,
                    args.local_sgd)

    # Where synchronous training of CPU nodes stops scaling: the largest p with E >= 50%.
    print("### Largest p (powers of 2 up to 4096) with E >= 50%, synchronous, CPU nodes\n")
    print(f"| link | nodes like this machine ({CPU_STEP_MEASURED_S} s) | "
          f"cluster nodes ({cpu_step:.2f} s) | cluster nodes, overlapped |")
    print("|---|---|---|---|")
    k = buckets_of(size, args.bucket_mib)
    for name, alpha, bandwidth in links:
        cells = []
        for t_c, overlap in ((CPU_STEP_MEASURED_S, args.overlap), (cpu_step, args.overlap),
                             (cpu_step, 1.0)):
            best, p = 1, 2
            while p <= 4096:
                if efficiency(t_c, ring_time(p, size, alpha, bandwidth, k), overlap) >= 0.5:
                    best = p
                p *= 2
            cells.append("none" if best == 1 else (f">= {best}" if best == 4096 else str(best)))
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()


if __name__ == "__main__":
    main()
