#!/usr/bin/env bash
# Checks NCCL data-parallel training and CUDA training on a machine with NVIDIA GPUs, and
# prints their images/s. Well under 8 minutes on one H100 (each step is capped with `timeout`: 60 + 180 + 150 s).
#
#   scripts/gpu-nccl-check.sh [OUT_DIR]    # on the GPU machine
#   scripts/gpu-nccl-check.sh bundle       # on a build machine, for a GPU machine without cargo
#                                          # or Open MPI (writes .gpu/, git-ignored, ~40 MiB)
#
# On the GPU machine it
#   1. takes `fcn` and the NCCL test binary from a build (`cargo build --release --features
#      nccl`) when cargo is there, else from the bundle in .gpu/;
#   2. takes `mpirun` from PATH, else installs the bundled Open MPI packages (Debian's, unpacked
#      into / without replacing any file that exists, then ldconfig);
#   3. finds libnccl.so.2, cuBLAS and NVRTC (ldconfig, /usr/local/cuda, pip's nvidia-* wheels)
#      and puts them on LD_LIBRARY_PATH, with the `libnccl.so` link that cudarc looks for (it
#      does not try NCCL's own file name, libnccl.so.2);
#   4. runs the NCCL communicator's test on one rank (crates/fcn-train/tests/nccl.rs: NCCL
#      all-reduce and broadcast of GPU tensors, mixed with CPU tensors);
#   5. trains one small configuration (FCN-8s at width / 2, 128x128 synthetic scenes, batch 8
#      per rank, 60 SGD steps) twice: `mpirun -np <GPUs> fcn train --distributed nccl`, and
#      `fcn train` on cuda:0 alone; prints the median images/s of steps 11..60 of each (with N
#      ranks the figure is the global throughput: N x 8 images per step).
# With one GPU the NCCL run has one rank, which trains like the single-GPU run (a one-rank
# job skips the gradient all-reduce); step 4 is what runs NCCL collectives on the device then.
#
# Logs and run directories go to OUT_DIR (default: $OUT when set, else a temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bundle_dir=$root/.gpu
ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)

# Open MPI 4.1 and the libraries its components load, less those every Linux has (libc,
# libstdc++, zlib, libudev, libuuid).
ompi_packages=(
    libopenmpi3 openmpi-bin openmpi-common libpmix2 libhwloc15 libevent-core-2.1-7
    libevent-pthreads-2.1-7 libfabric1 libibverbs1 librdmacm1 libucx0 libpsm2-2
    libpsm-infinipath1 libnl-3-200 libnl-route-3-200 libnuma1 libmunge2 libatomic1
)

test_binary() {
    # The path of the fcn-train `nccl` test executable, built if needed.
    cargo test -p fcn-train --features nccl --test nccl --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "nccl" and m.get("executable"):
        print(m["executable"])'
}

if [[ ${1:-} == bundle ]]; then
    command -v cargo >/dev/null || { echo "bundle: needs cargo" >&2; exit 2; }
    rm -rf "$bundle_dir"
    mkdir -p "$bundle_dir/debs"
    echo "== building fcn and the NCCL test (release, --features nccl)"
    cargo build --release --features nccl
    target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    objcopy --strip-debug "$target/release/fcn" "$bundle_dir/fcn"
    objcopy --strip-debug "$(test_binary | tail -n 1)" "$bundle_dir/nccl-test"
    echo "== downloading Open MPI's packages"
    (cd "$bundle_dir/debs" && apt-get download "${ompi_packages[@]}")
    du -sh "$bundle_dir"
    echo "bundle ready: carry .gpu to the GPU machine and run scripts/gpu-nccl-check.sh there"
    exit 0
fi

out=${1:-${OUT:-$(mktemp -d)}}
mkdir -p "$out"
started=$SECONDS
step() { echo; echo "== [$((SECONDS - started)) s] $*"; }

command -v nvidia-smi >/dev/null || { echo "no nvidia-smi: not a GPU machine" >&2; exit 2; }
gpus=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)
step "$gpus GPU(s)"
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader

step "fcn and the NCCL test"
if command -v cargo >/dev/null; then
    cargo build --release --features nccl
    target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    fcn=$target/release/fcn
    nccl_test=$(test_binary | tail -n 1)
elif [[ -x $bundle_dir/fcn && -x $bundle_dir/nccl-test ]]; then
    fcn=$bundle_dir/fcn
    nccl_test=$bundle_dir/nccl-test
else
    echo "no cargo here and no bundle: run 'scripts/gpu-nccl-check.sh bundle' on a build machine and bring .gpu/" >&2
    exit 2
fi
echo "fcn: $fcn"

step "MPI"
if ! command -v mpirun >/dev/null && ! command -v orterun >/dev/null; then
    [[ -d $bundle_dir/debs ]] || { echo "no mpirun and no bundled Open MPI (.gpu/debs)" >&2; exit 2; }
    unpacked=$(mktemp -d)
    for deb in "$bundle_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$unpacked"; done
    # Adds files only: nothing that exists is replaced, and /lib -> usr/lib links stay links.
    tar -C "$unpacked" -cf - . | tar -C / -xf - --skip-old-files --keep-directory-symlink
    "$ldconfig"
    rm -rf "$unpacked"
fi
mpirun=$(command -v mpirun || command -v orterun)
"$mpirun" --version | head -n 1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# One node: shared memory between ranks, no network transports to probe.
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_mtl=^ofi
export OMPI_MCA_mca_base_component_show_load_errors=0

step "CUDA and NCCL libraries"
find_lib() {
    # The folder of the first file matching $1 that ldconfig, CUDA or a Python wheel has.
    local found
    found=$("$ldconfig" -p | awk -v pat="$1" '$1 ~ pat {print $NF; exit}')
    if [[ -z $found ]]; then
        found=$(find /usr/local/cuda/lib64 /usr/local/cuda*/lib64 /usr/lib /usr/local/lib /opt \
            -name "$2" 2>/dev/null | head -n 1 || true)
    fi
    [[ -n $found ]] && dirname "$(readlink -f "$found")"
}
links=$out/lib
mkdir -p "$links"
nccl_dir=$(find_lib '^libnccl[.]so' 'libnccl.so*') || { echo "libnccl not found" >&2; exit 2; }
nccl_file=$(find "$nccl_dir" -maxdepth 1 -name "libnccl.so*" | sort | head -n 1)
ln -sf "$nccl_file" "$links/libnccl.so"
lib_path=$links:$nccl_dir
for lib in cublas nvrtc; do
    dir=$(find_lib "^lib${lib}[.]so[.]13" "lib$lib.so.13*") || dir=$(find_lib "^lib${lib}[.]so" "lib$lib.so*") || true
    [[ -n ${dir:-} ]] && lib_path=$lib_path:$dir
done
export LD_LIBRARY_PATH=$lib_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
echo "NCCL: $nccl_file"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

failed=()
step "NCCL communicator test, one rank (NCCL collectives on the GPU)"
timeout 60 "$mpirun" -np 1 "$nccl_test" --nocapture 2>&1 | tee "$out/nccl-test.log" ||
    failed+=("NCCL test (status $?)")

cat >"$out/gpu.toml" <<'EOF'
[model]
arch = "fcn8s"
width_divisor = 2

[data]
synthetic_train = 1024
synthetic_val = 8
synthetic_height = 128
synthetic_width = 128

[optim]
optimizer = "sgd"
lr = 1e-4
momentum = 0.9
schedule = "fixed"

[train]
iterations = 60
batch_size = 8
eval_every = 0
checkpoint_every = 1000
workers = 6
device = "cuda:0"
predictions = 0
EOF

images_per_s() {
    # The median images/s of steps 11.. of a run's log.
    python3 - "$1/log.jsonl" <<'PY'
import json, statistics, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if '"kind":"step"' in l]
rates = [s["images_per_s"] for s in steps if s["step"] > 10]
print(f"{statistics.median(rates):.1f} images/s (median of steps 11..{steps[-1]['step']}), "
      f"loss {steps[0]['loss']:.3f} -> {steps[-1]['loss']:.3f}")
PY
}

# train NAME LIMIT COMMAND...: one training run, its last lines and its images/s.
train() {
    local name=$1 limit=$2 status=0
    shift 2
    timeout "$limit" "$@" --config "$out/gpu.toml" --out "$out/$name-run" >"$out/$name-train.log" 2>&1 ||
        status=$?
    if ((status == 0)); then
        tail -n 4 "$out/$name-train.log"
        images_per_s "$out/$name-run" | tee "$out/$name-rate.txt"
    else
        tail -n 20 "$out/$name-train.log"
        failed+=("$name training (status $status)")
        echo "FAILED (status $status)" >"$out/$name-rate.txt"
    fi
}

step "training with NCCL: mpirun -np $gpus fcn train --distributed nccl"
train nccl 180 "$mpirun" -np "$gpus" "$fcn" train --distributed nccl

step "training on cuda:0 alone: fcn train"
train cuda 150 "$fcn" train

step "results"
echo "NCCL, $gpus rank(s), batch 8 per rank: $(cat "$out/nccl-rate.txt")"
echo "CUDA, 1 GPU, batch 8:                  $(cat "$out/cuda-rate.txt")"
echo "logs and runs: $out"
if ((${#failed[@]})); then
    printf 'failed: %s\n' "${failed[@]}"
    exit 1
fi
