#!/usr/bin/env bash
# Installs what `--features mpi` (and `--features nccl`, which bootstraps over MPI) needs on
# Debian/Ubuntu: Open MPI (library, headers, mpirun) and libclang for the mpi crate's bindgen.
# Safe to run again; does nothing when everything is present.
set -euo pipefail

packages=(libopenmpi-dev openmpi-bin libclang-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-mpi: already installed: ${packages[*]}"
else
    if ! command -v apt-get >/dev/null; then
        echo "install-mpi: no apt-get; install Open MPI (mpicc, mpirun) and libclang by hand" >&2
        exit 1
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "install-mpi: installing ${missing[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" ||
        { $sudo apt-get update -q && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; }
fi
mpirun --version | head -n 1
