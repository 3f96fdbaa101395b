#!/usr/bin/env bash
# Rebuilds checkpoints/default.safetensors from nothing but `skimage.data` (about 1.5 hours on 2 CPU cores),
# then the held-out comparison table in README.md. Run from an empty work folder: bash path/to/reproduce.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
SPEC="gaussian:sigma=5-50 | gaussian:sigma=5-50+jpeg:quality=60-95 | poisson-gaussian:peak=10-200,sigma=1-10 | poisson-gaussian:peak=10-200,sigma=1-10+jpeg:quality=60-95"

# 1. the training pool (13 skimage images; the 5 held-out ones are never written here)
denoise-gan samples --set train -o train_pool
# 2. unpaired CycleGAN: `--noise` splits the pool into two disjoint halves, clean and noisy domains
denoise-gan train --clean train_pool --noise "$SPEC" -o cyclegan --steps 1000 --batch-size 8 --patch-size 64 \
    --spectral-norm --save-every 100 --device cpu
# 3. pseudo-pair refinement of G on F(clean) -> the shipped model
denoise-gan refine cyclegan -o refined --steps 4000 --batch-size 16 --patch-size 64 --device cpu
cp refined/G.safetensors "$here/default.safetensors"
# 4. for comparison only: the same architecture trained supervised on the true noise family
denoise-gan refine cyclegan -o supervised --noise "$SPEC" --steps 5000 --batch-size 16 \
    --patch-size 64 --device cpu
# 5. the held-out table (README "Results")
denoise-gan samples --set held-out -o heldout
denoise-gan benchmark --clean heldout -o bench --methods model,bm3d,nlm \
    -c refined/G.safetensors -c cyclegan/G.safetensors -c supervised/G.safetensors \
    --noise gaussian:sigma=15 --noise gaussian:sigma=25 --noise gaussian:sigma=50 --noise poisson:peak=30 \
    --noise "gaussian:sigma=15+jpeg:quality=80"
