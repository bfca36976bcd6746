"""A training process killed with SIGKILL between saves resumes to bit-identical weights."""

import os
import signal
import subprocess
import sys
import time

import torch

from genrestore.checkpoint import load_checkpoint
from genrestore.training import CHECKPOINT


def _args(out, steps):
    return [sys.executable, "-m", "genrestore.cli", "train", "gan", "--size", "16", "--count", "16",
            "--batch", "4", "--steps", str(steps), "--save-every", "2", "--sample-every", "100",
            "--precision", "fp32", "--out", str(out), "--no-progress"]  # fmt: skip


def _step(path):
    try:
        return load_checkpoint(path).step
    except Exception:  # noqa: BLE001 - not written yet
        return 0


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    env = dict(os.environ)
    full = tmp_path / "full"
    subprocess.run(_args(full, 12), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_args(killed, 12), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while _step(killed / CHECKPOINT) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stopped_at = _step(killed / CHECKPOINT)
    assert 0 < stopped_at <= 12
    leftovers = [p.name for p in killed.iterdir() if p.name.endswith(".tmp")]
    # A half-written checkpoint may be left under a temporary name, never under the real one.
    assert all(name.startswith(f".{CHECKPOINT}.") for name in leftovers)

    resumed = subprocess.run(
        _args(killed, 12) + ["--resume"], env=env, capture_output=True, text=True, check=False
    )
    assert resumed.returncode == 0, resumed.stderr
    a = load_checkpoint(full / CHECKPOINT).tensors
    b = load_checkpoint(killed / CHECKPOINT).tensors
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
