#!/bin/bash
# The prepared device run for the 64-px face GAN: train on one GPU for a fixed time, keep a
# snapshot at every save, measure each snapshot's SWD at 64 px on held-out faces, export the
# best one (fp16, with its card) where the caller collects it, and train its completion
# encoder (faces-gan-64-encoder) against it.
#
#   MINUTES=6 OUT=/some/dir bash benchmarks/gpu_gan.sh [extra 'genrestore train gan' flags]
#
# Environment: MINUTES (training time, default 6), OUT (where the exported model, the SWD of
# every snapshot and the training log go; default runs/gpu-gan-out), DEVICE (default cuda;
# cpu for a dry rehearsal), SAVE_EVERY (steps between snapshots, default 2000), EVAL_N
# (held-out faces per SWD, default 512), ENC_STEPS (the completion encoder's training steps
# for the new generator, default 2500; 0 skips it). Wheels of packages the machine lacks
# (python-avatars, resvg-py, kornia, kornia_rs) may be carried in .whl/ and are installed first.
#
# The device tool's machine (an H200) has torch but none of genrestore's own dependencies and
# no network, so their wheels travel in .whl/ (ignored by git), fetched here once with
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux2014_x86_64 -d .whl \
#     python-avatars==1.4.1 resvg-py==0.5.0 kornia==0.9.0 kornia_rs==0.2.0
# and the run, from the repo root, is one call that leaves time to collect the result:
#   run(command="MINUTES=6 OUT=$OUT bash benchmarks/gpu_gan.sh", carry=[".whl"], timeout_s=600)
# The faces are rendered there first (16 processes), not counted in MINUTES.
# Rehearsed on a CPU: DEVICE=cpu MINUTES=0.75 SAVE_EVERY=10 EVAL_N=64 ENC_STEPS=10 bash
# benchmarks/gpu_gan.sh --batch 16 --count 256
set -euo pipefail
MINUTES=${MINUTES:-6}
OUT=${OUT:-runs/gpu-gan-out}
DEVICE=${DEVICE:-cuda}
SAVE_EVERY=${SAVE_EVERY:-2000}
EVAL_N=${EVAL_N:-512}
ENC_STEPS=${ENC_STEPS:-2500}
RUN=runs/gpu-gan
SNAPS=runs/gpu-gan-snaps
PY=${PYTHON:-python3}

if compgen -G ".whl/*.whl" >/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$SNAPS"
rm -rf "$RUN"

# Render the faces first (not counted in the training time).
$PY -m genrestore train gan --device "$DEVICE" --steps 1 --out "$RUN-warm" --no-progress "$@" \
    >"$OUT/render.log" 2>&1
rm -rf "$RUN-warm"

# Train until the time is up; a snapshot of every saved checkpoint is kept.
timeout "${MINUTES}m" $PY -m genrestore train gan --device "$DEVICE" --precision fp32 \
    --steps 1000000 --save-every "$SAVE_EVERY" --sample-every "$((SAVE_EVERY * 5))" \
    --out "$RUN" --no-progress "$@" >"$OUT/train.log" 2>&1 &
train=$!
last=""
snapshot() {
    [ -f "$RUN/checkpoint.safetensors" ] || return 0
    local m
    m=$(stat -c %Y "$RUN/checkpoint.safetensors")
    [ "$m" != "$last" ] || return 0
    sleep 2 # let the save finish
    local step
    step=$($PY -c "from safetensors import safe_open
with safe_open('$RUN/checkpoint.safetensors', 'pt') as f: print(f.metadata()['step'])")
    mkdir -p "$SNAPS/step-$step"
    cp "$RUN/checkpoint.safetensors" "$RUN/config.json" "$SNAPS/step-$step/"
    last=$m
}
while kill -0 $train 2>/dev/null; do
    snapshot
    sleep 5
done
wait $train || true # timeout's 124 is the normal end
snapshot
cp "$RUN/log.txt" "$OUT/log.txt"

# SWD of every snapshot at 64 px on validation faces (held-out faces from index 1,005,000,
# never the test faces the card's eval uses); the best is exported.
$PY - "$SNAPS" "$EVAL_N" "$OUT" <<'EOF'
import json, sys
from pathlib import Path

import genrestore
from genrestore.evaluate import held_out_images
from genrestore.images import uint8_to_tensor
from genrestore.metrics import swd
from genrestore.tasks import latents

snaps, n, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
real = uint8_to_tensor(held_out_images(n, 64, "avatars", 5000).copy())
rows = []
for snap in sorted(snaps.glob("step-*"), key=lambda p: int(p.name.split("-")[1])):
    gen = genrestore.load(snap)  # the run's EMA weights
    fake = gen.sample(latents(n, gen.nz, 0, 1.0)).cpu()
    rows.append({"snapshot": snap.name, "swd": swd(fake, real, seed=0)["mean"]})
    print(json.dumps(rows[-1]), flush=True)
best = min(rows, key=lambda r: r["swd"])
(out / "swd.json").write_text(json.dumps({"best": best, "all": rows}, indent=1))
(out / "best.txt").write_text(best["snapshot"])
EOF
best=$(cat "$OUT/best.txt")
$PY benchmarks/ship_model.py "$SNAPS/$best" faces-gan-64 --out-dir "$OUT" \
    --note "gan-64 preset trained on one GPU by benchmarks/gpu_gan.sh for $MINUTES min; \
$best of the snapshots every $SAVE_EVERY steps, chosen by SWD at 64 px on $EVAL_N validation faces" \
    >"$OUT/ship.log" 2>&1
echo "exported $OUT/faces-gan-64.safetensors ($best)"

# The completion encoder fits one generator's weights (its card's generator_digest; beside
# other weights a completer ignores it and searches): train it again for the new generator,
# found first in $OUT, for ENC_STEPS (the last one's step, chosen on validation faces).
if [ "$ENC_STEPS" -gt 0 ]; then
    rm -rf "$RUN-encoder"
    GENRESTORE_CHECKPOINTS="$OUT" $PY -m genrestore train encoder --device "$DEVICE" \
        --steps "$ENC_STEPS" --save-every "$ENC_STEPS" --out "$RUN-encoder" --no-progress \
        >"$OUT/encoder.log" 2>&1
    GENRESTORE_CHECKPOINTS="$OUT" $PY benchmarks/ship_model.py "$RUN-encoder" \
        faces-gan-64-encoder --out-dir "$OUT" -n "$EVAL_N" \
        --note "encoder-64 preset, $ENC_STEPS steps against the faces-gan-64 beside it, on one GPU" \
        >"$OUT/ship-encoder.log" 2>&1
    echo "exported $OUT/faces-gan-64-encoder.safetensors"
fi
