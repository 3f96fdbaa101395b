#!/usr/bin/env bash
# Rebuilds checkpoints/default.safetensors from the photo pool (Debian wallpaper photos + skimage.data training
# images) and its companions (default-F and the discriminators), then the held-out comparison tables in README.md.
# The shipped weights are, tensor for tensor, what this recipe built at commit 3ad34b1 at its default seed (0) on
# the 2-core AVX-512 machine of the model card: stages 1-5 ran end to end, stage 6 and the calibration from their
# outputs (model card, "reproduce"); the companions are its stage 1's, placed by the `ship` line below (added
# since), and default.onnx is the weights' export by the current code. Today's code draws JPEG qualities slightly
# differently and another machine times fp32, bf16 and torch.compile for itself, so either builds the same
# recipe, not the same bits.
# Run the script of a clone of the repository (it calls benchmarks/ beside checkpoints/, which an installed
# package lacks) from an empty work folder on a Debian/Ubuntu machine (the pool is fetched with apt-get; elsewhere
# download the four wallpaper packages' .deb files, which checkpoints/TRAINING_DATA.md names, and set DEBS=DIR):
#   bash path/to/clone/checkpoints/reproduce.sh
# Wall time on 2 CPU cores, on the 2-core AVX-512 machine of the model card, nothing else running: about 2 h 28 min.
# The last end-to-end run, before stage 6 was added, took 2 h 15 min (135.2 min; times from the stages' output
# files): the pool 0.4 min, stage 1 15.9 min, the gate 0.3 min, stage 2 (the width-48 G) 36.0 min, stages 3-5
# 6.7, 14.0 and 15.7 min, the calibration and export 25.6 min, the tables 20.7 min, and it rebuilt the weights of
# its time tensor for tensor. Stage 6 took 12.5 min on its own (its calibration 15.2 min).
set -euo pipefail
# a Ctrl-C (or a SIGTERM) stops the rebuild, whatever the command it reached did with it: bash alone goes on to
# the next line after a command that took it and ended normally, or one whose failure is allowed (`|| true`)
trap 'exit 130' INT
trap 'exit 143' TERM
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -f "$here/../benchmarks/noise_model_fit.py" ]; then  # said now, not after stage 1's quarter of an hour
    echo "error: run the reproduce.sh of a clone of the repository: it needs benchmarks/ beside $here" >&2
    exit 2
fi
DEBS="${DEBS:-}"  # a folder of the wallpaper packages' .deb files, where apt-get is not there to fetch them
SPEC="gaussian:sigma=5-50 | gaussian:sigma=5-50+jpeg:quality=60-95 | poisson-gaussian:peak=10-200,sigma=1-10 | poisson-gaussian:peak=10-200,sigma=1-10+jpeg:quality=60-95"
REFINE_STEPS="${REFINE_STEPS:-8800}"  # the shipped run; more steps train longer (decay starts halfway)
WIDTH="${WIDTH:-48}"  # the denoiser G's base width, set in stage 2 and kept by the later stages (shipped: 48)
DEVICE="${DEVICE:-cpu}"  # the shipped run: cpu. With a GPU, a longer run of a wider G, for example:
#   DEVICE=cuda WIDTH=64 REFINE_STEPS=17600 bash path/to/checkpoints/reproduce.sh
# (its training stages: 20-25 min on an H200 by the step rates measured there; see README "Speed and memory")
# Run again in the same folder (at the same path: the runs record their folders' absolute paths) after a stop
# (Ctrl-C, a crash, a GPU lent for a while), it goes on where it stopped: the pool is kept once stage 1 has
# trained on it, a training stage that saved a checkpoint continues with --resume on $DEVICE (so a rebuild begun
# with DEVICE=cuda goes on with DEVICE=cpu), the calibration and the tables from the rows they stored, and a
# finished stage is only read back; a rerun with another WIDTH or REFINE_STEPS is refused (recipe.txt).

# the settings a rebuild began with, kept in its folder: a rerun with others would mix two recipes (a stage it
# resumes goes on with the new ones, a finished one is kept as it was made)
RECIPE="WIDTH=$WIDTH REFINE_STEPS=$REFINE_STEPS"
if [ -f recipe.txt ] && [ "$(cat recipe.txt)" != "$RECIPE" ]; then
    echo "error: this folder's rebuild began with $(cat recipe.txt); rerun it with those, or in a new folder" >&2
    exit 2
fi
[ -f recipe.txt ] || echo "$RECIPE" > recipe.txt

has_checkpoint() { compgen -G "$1/checkpoints/step_*.pt" >/dev/null; }
train_stage() {  # train_stage OUT STEPS ARGS...: a new CycleGAN run in OUT, or the --resume of the one there
    local out=$1 steps=$2
    shift 2
    if has_checkpoint "$out"; then
        denoise-gan train --resume "$out" --steps "$steps" --device "$DEVICE"
    else
        denoise-gan train "$@" -o "$out" --steps "$steps" --device "$DEVICE"
    fi
}
refine_stage() {  # refine_stage OUT STEPS ARGS...: a refinement of stage 1's run into OUT, new or resumed
    local out=$1 steps=$2
    shift 2
    if has_checkpoint "$out"; then
        denoise-gan refine cyclegan -o "$out" --resume --steps "$steps" --device "$DEVICE"
    else
        denoise-gan refine cyclegan -o "$out" "$@" --steps "$steps" --device "$DEVICE"
    fi
}
benchmark_into() {  # benchmark_into OUT ARGS...: a benchmark, or the --resume of the one whose rows OUT holds
    local out=$1
    shift
    if [ -f "$out/results.json" ]; then
        denoise-gan benchmark -o "$out" "$@" --resume
    else
        denoise-gan benchmark -o "$out" "$@"
    fi
}

# 1. the clean training pool: 38 wallpaper photos (area-downscaled 2-4x) + 13 skimage.data images
has_checkpoint cyclegan || denoise-gan samples --set pool -o pool ${DEBS:+--debs "$DEBS"}  # (a rebuild fetches
#    the packages again)
# 2. stage 1, unpaired CycleGAN: `--noise` splits the pool into two disjoint halves, clean and noisy domains;
#    F learns the noise adversarially and by matching its statistics (level distribution, correlation)
train_stage cyclegan 2500 --clean pool --noise "$SPEC" --batch-size 8 --patch-size 64 --spectral-norm \
    --save-every 250
python "$here/../benchmarks/noise_model_fit.py" cyclegan --json noise_fit.json || [ $? -eq 1 ]  # the gate, in the
# card: a failed gate (exit 1) goes on; a run it cannot measure (2) stops the rebuild
# 3. stage 2: a level-aware G (and its level estimator) trained on F's pseudo-pairs and F's level maps
refine_stage refined "$REFINE_STEPS" --generator level --width "$WIDTH" --depth 2 --blocks 2 --batch-size 16 \
    --patch-size 64
# 4. stage 3: the same G continued with a share of faint draws of F, so faint noise is read and removed
refine_stage faint 1500 --init refined/G.safetensors --faint-fraction 0.3 --lr 1e-4 --batch-size 16 \
    --patch-size 64
# 5. stage 4: continued once more with more clean samples, a share of them JPEG-compressed (quality 70-95), so
#    clean photos and their block edges are read as level 0 and left as they are
refine_stage clean 3000 --init faint/G.safetensors --faint-fraction 0.3 --clean-fraction 0.25 \
    --clean-jpeg-fraction 0.6 --lr 1e-4 --batch-size 16 --patch-size 64
# 6. stage 5: the same training on 128x128 crops: G and its estimator see as far as their views reach (~150 px);
#    three tenths of F's draws blurred and mixed across channels, as demosaicing and JPEG leave a camera's noise;
#    half the crops the most detailed of four, so dense texture is seen clean and under noise as often as flat
#    areas; three tenths of F's draws made spatially white (a random sign per pixel, each pixel's size kept)
refine_stage wide 2000 --init clean/G.safetensors --faint-fraction 0.3 --clean-fraction 0.25 \
    --clean-jpeg-fraction 0.6 --correlated-fraction 0.3 --detail-fraction 0.5 --white-fraction 0.3 --lr 1e-4 \
    --batch-size 8 --patch-size 128
# 7. stage 6: the level estimator alone (the denoiser frozen) continued with three tenths of its samples drawn
#    from the `camera` pipeline, high to base ISO, with and without the camera's JPEG, each read at the level
#    measured from its pair: F never draws demosaiced noise, and the estimator read it at a half of its size or
#    less; three tenths of the crops given a strong colour cast, so a saturated colour under any noise is read at
#    that noise's level (without them the estimator learnt that a saturated colour means strong noise, as a
#    camera's often is)
CAMERA="camera:peak=15-60,read=0.5-4 | camera:peak=60-300,read=0.5-4 | camera:peak=300-3000,read=0.5-4"
CAMERA="$CAMERA | ${CAMERA// |/+jpeg:quality=70-95 |}+jpeg:quality=70-95"
refine_stage camera 3000 --init wide/G.safetensors --estimator-only --estimator-noise "$CAMERA" \
    --estimator-noise-fraction 0.3 --colour-cast-fraction 0.3 --faint-fraction 0.3 --clean-fraction 0.25 \
    --clean-jpeg-fraction 0.6 --correlated-fraction 0.3 --detail-fraction 0.5 --white-fraction 0.3 --lr 1e-4 \
    --batch-size 16 --patch-size 128
# 8. calibration (after stage 6): the factor on the estimated level map that denoises every third pool photo best
#    (training photos; the held-out and independent photos below are never used to choose it)
mkdir -p poolcal && ls pool/*.png | awk 'NR % 3 == 1' | xargs cp -t poolcal
if [ ! -f calibrated/G.safetensors ] || [ ! -f calibrated/G.onnx ]; then  # both there: it has finished (a stop
    # between the two is finished by --resume, which writes the graph owed; the tables run it on ONNX Runtime)
    if [ -d calibrated/fit ]; then
        denoise-gan calibrate -c camera/G.safetensors --clean poolcal -o calibrated --resume
    else
        denoise-gan calibrate -c camera/G.safetensors --clean poolcal -o calibrated
    fi
fi
cp calibrated/G.safetensors "$here/default.safetensors"
# its ONNX graph, which the light engine runs on the CPU (it records the sha256 of the weights above)
denoise-gan export "$here/default.safetensors" -o "$here/default.onnx" --overwrite
# its companions, which `adapt` starts from: stage 1's F and the discriminators of its last checkpoint
python -m denoise_gan.nets.ship cyclegan --dest "$here"
# 9. the held-out tables (README "Results"): bundled held-out photos and the independent photos of other packages
denoise-gan samples --set held-out -o heldout
python "$here/../benchmarks/independent_photos.py" -o indep
for set in heldout indep; do
    benchmark_into "bench-$set" --clean "$set" --methods model,bm3d,ffdnet,nlm -c calibrated/G.safetensors \
        --noise gaussian:sigma=5 --noise gaussian:sigma=15 --noise gaussian:sigma=25 --noise gaussian:sigma=50 --noise poisson:peak=30 \
        --noise "gaussian:sigma=15+jpeg:quality=80"
    # clean photos in: what the model does to a photo without noise (BM3D and FFDNet get the estimated σ)
    benchmark_into "bench-$set-clean" --clean "$set" --methods model,bm3d,ffdnet \
        -c calibrated/G.safetensors --noise gaussian:sigma=0
    # camera noise, high ISO and base ISO (blind; then FFDNet given the true residual's std)
    benchmark_into "bench-$set-camera" --clean "$set" --methods model,bm3d,ffdnet -c calibrated/G.safetensors \
        --noise "camera:peak=40,read=2+jpeg:quality=90" --noise "camera:peak=1000,read=2+jpeg:quality=90"
    benchmark_into "bench-$set-camera-oracle" --clean "$set" --methods ffdnet --oracle-sigma \
        --noise "camera:peak=40,read=2+jpeg:quality=90" --noise "camera:peak=1000,read=2+jpeg:quality=90"
    # Poisson and JPEG'd noise with BM3D and FFDNet given the true residual's std
    benchmark_into "bench-$set-oracle" --clean "$set" --methods bm3d,ffdnet --oracle-sigma \
        --noise poisson:peak=30 --noise "gaussian:sigma=15+jpeg:quality=80"
done
