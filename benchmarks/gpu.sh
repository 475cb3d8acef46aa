#!/usr/bin/env bash
# Benchmark ntkfix on a GPU machine as it is: jax (with CUDA) and numpy are enough
# (scipy for benchmarks.solve).
# Nothing is installed; neural-tangents, matplotlib and pandas are used when present and
# skipped (with the reason in the output) when not. Carry or copy this repository (only
# ntkfix/, analysis/ and benchmarks/ are needed), then from its root:
#
#   bash benchmarks/gpu.sh                                   # the full grid
#   bash benchmarks/gpu.sh --n 4096 --width 4096 --depth 3   # one cell
#   bash benchmarks/gpu.sh --precision highest               # exact fp32 matmuls, no TF32
#
# Each cell prints the achieved TFLOP/s (ntkfix._kernels.structured.ntk_flops / median time)
# and its share of the card's measured float32 matmul throughput (an 8192^3 jnp matmul timed
# in the same run); results/bench-gpu/ gets results.csv and summary.md. Peak memory on the
# GPU comes from the allocator's statistics (peak_bytes_in_use).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$PYTHON" -c 'import jax, numpy; print("jax", jax.__version__, "numpy", numpy.__version__, jax.devices())'
"$PYTHON" -m benchmarks.run --full --units tflops --matmul-n 8192 --quiet-wait 0 \
    --out "${OUT:-results/bench-gpu}" "$@"
# the infinite-width kernel (closed form vs neural-tangents), the large-n solve and the
# 60,000 on-disk infinite NTK (14.4 GB under ${BENCH_TMP:-/tmp}, deleted afterwards)
"$PYTHON" -m benchmarks.infinite --ns 8000,16000,32000 --out "${OUT:-results/bench-gpu}/infinite"
"$PYTHON" -m benchmarks.solve --n 16000
"$PYTHON" -m benchmarks.large --kernel infinite --n 60000 --depth 3 \
    --path "${BENCH_TMP:-/tmp}/ntkfix_inf60k.npy"
