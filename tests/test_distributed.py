"""Data-parallel training: torchrun with 2 gloo processes on CPU, exact distributed resume."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from genrestore.checkpoint import load_checkpoint
from genrestore.distributed import Dist

TRAIN = ["gan", "--preset", "gan-32", "--batch", "8", "--save-every", "2", "--no-progress"]


@pytest.fixture
def photos(tmp_path) -> Path:
    """A folder of 24 small photos (the ranks share its cache: one builds, one waits)."""
    root = tmp_path / "photos"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(24):
        base = rng.integers(0, 256, (1, 1, 3))
        img = np.clip(base + rng.integers(0, 50, (40, 48, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / f"{i:02d}.png")
    return root


def torchrun(*args: str, nproc: int = 2, cwd: Path) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node N -m genrestore train ARGS`` (as users run it)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += [f"--nproc_per_node={nproc}", "-m", "genrestore", "train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_two_processes_write_one_run_that_loads(tmp_path, photos):
    proc = torchrun(*TRAIN, "--data", str(photos), "--steps", "4", "--out", "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("run saved in run") == 1  # rank 0 only
    run = tmp_path / "run"
    names = sorted(p.name for p in run.iterdir())
    assert names == ["checkpoint.safetensors", "config.json", "log.txt", "samples-0000004.png"]
    log = (run / "log.txt").read_text().splitlines()
    assert "x 2 processes, global batch 8 (4 per process)" in log[0]
    rows = [json.loads(line) for line in log[1:]]
    assert [r["step"] for r in rows] == [4] and np.isfinite(rows[0]["loss_d"])
    ck = load_checkpoint(run / "checkpoint.safetensors")
    assert ck.step == 4 and ck.meta["world_size"] == "2"
    assert {"rng.z", "rng.rank1.z", "rng.rank1.aug", "rng.rank1.torch"} <= set(ck.tensors)
    json.loads(ck.meta["rng_host.rank1"])  # plain JSON metadata, nothing pickled
    # the ranks drew different noise: their z generators have moved on from different seeds
    assert not torch.equal(ck.tensors["rng.z"], ck.tensors["rng.rank1.z"])
    # one cache for both ranks (built once, under the lock)
    assert len(list((tmp_path / "cache").glob("folder-*.npy"))) == 1

    import genrestore

    faces = genrestore.load(str(run)).generate(4, seed=0)
    assert len(faces) == 4 and faces[0].size == (32, 32)


@pytest.mark.parametrize(
    "family",
    [["vae", "--preset", "vae-32"], ["inpaint", "--size", "32"], ["colorize", "--size", "32"]],
)
def test_every_family_trains_under_torchrun(tmp_path, photos, family):
    args = [*family, "--data", str(photos), "--batch", "4", "--steps", "2", "--no-progress"]
    proc = torchrun(*args, "--out", "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ck = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert ck.family == family[0] and ck.step == 2 and ck.meta["world_size"] == "2"
    import genrestore

    assert type(genrestore.load(str(tmp_path / "run"))).__name__ in {
        "Generator",
        "Inpainter",
        "Colorizer",
    }


def test_distributed_resume_is_bit_identical(tmp_path, photos):
    data = ["--data", str(photos)]
    full = torchrun(*TRAIN, *data, "--steps", "6", "--out", "full", cwd=tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]
    first = torchrun(*TRAIN, *data, "--steps", "4", "--out", "cut", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    rest = torchrun(*TRAIN, *data, "--steps", "6", "--out", "cut", "--resume", cwd=tmp_path)
    assert rest.returncode == 0, rest.stderr[-3000:]
    a = load_file(tmp_path / "full" / "checkpoint.safetensors")
    b = load_file(tmp_path / "cut" / "checkpoint.safetensors")
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    log = (tmp_path / "cut" / "log.txt").read_text()
    assert "# resume at step 4 on cpu" in log


def test_batch_must_split_over_processes(tmp_path, photos):
    proc = torchrun(
        "gan", "--preset", "gan-32", "--data", str(photos), "--batch", "7", "--steps", "2",
        "--out", "run", "--no-progress", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode != 0
    ours = [line for line in proc.stderr.splitlines() if line.startswith("genrestore: error:")]
    assert ours and all("--batch 7 does not split evenly over 2 processes" in x for x in ours)
    assert "[rank 0]" in "".join(ours)
    assert not (tmp_path / "run" / "checkpoint.safetensors").exists()


def test_torchrun_needs_an_out_dir(tmp_path, photos):
    proc = torchrun("gan", "--data", str(photos), "--steps", "2", cwd=tmp_path)
    assert proc.returncode != 0
    assert "give the run directory: --out DIR" in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_a_two_process_run_resumes_in_one_process(tmp_path, photos, caplog):
    proc = torchrun(*TRAIN, "--data", str(photos), "--steps", "2", "--out", "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from genrestore.config import preset
    from genrestore.training import train

    with caplog.at_level(logging.WARNING, logger="genrestore"):
        train(preset("gan-32"), resume=True, progress=False, out=str(tmp_path / "run"), steps=4)
    assert "saved by 2 process(es) and resumes with 1" in caplog.text
    ck = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert ck.step == 4 and ck.meta["world_size"] == "1"


def test_a_one_process_run_resumes_under_torchrun(tmp_path, photos):
    from genrestore.config import preset
    from genrestore.training import train

    run = tmp_path / "run"
    train(preset("gan-32"), progress=False, out=str(run), steps=2, batch=8, data=str(photos))
    proc = torchrun(
        "gan", "--out", "run", "--steps", "4", "--resume", "--no-progress", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "saved by 1 process(es) and resumes with 2" in proc.stderr
    ck = load_checkpoint(run / "checkpoint.safetensors")
    assert ck.step == 4 and ck.meta["world_size"] == "2"
    # rank 1 had no saved streams: it got fresh ones, not a copy of rank 0's
    assert not torch.equal(ck.tensors["rng.z"], ck.tensors["rng.rank1.z"])


# --- Dist on its own, in 2 spawned gloo processes ---------------------------------------------


def _grad_worker(rank: int, world: int, init: str, out: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        dist = Dist(rank, world)
        torch.manual_seed(rank)  # different weights per rank ...
        net = torch.nn.Linear(3, 2)
        dist.broadcast_modules([net])  # ... until rank 0's are broadcast
        x = torch.full((4, 3), float(rank + 1))
        net(x).sum().backward()
        own = net.weight.grad.clone()
        dist.sync_grads(net.parameters())
        stats = dist.mean({"loss": torch.tensor(float(rank))})
        saved = [net.weight.detach(), own, net.weight.grad, stats["loss"]]
        torch.save([t.clone() for t in saved], Path(out) / f"{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def test_dist_averages_gradients_and_broadcasts_weights(tmp_path):
    import torch.multiprocessing as mp

    init = f"file://{tmp_path / 'rendezvous'}"
    mp.spawn(_grad_worker, args=(2, init, str(tmp_path)), nprocs=2, join=True)
    (w0, own0, g0, m0), (w1, own1, g1, m1) = (torch.load(tmp_path / f"{r}.pt") for r in (0, 1))
    assert torch.equal(w0, w1)  # broadcast
    assert not torch.equal(own0, own1)  # different data, different local grads
    assert torch.allclose(g0, (own0 + own1) / 2) and torch.equal(g0, g1)
    assert float(m0) == float(m1) == 0.5


def test_single_process_dist_is_a_no_op():
    dist = Dist()
    net = torch.nn.Linear(2, 1)
    net(torch.ones(1, 2)).sum().backward()
    before = net.weight.grad.clone()
    dist.sync_grads(net.parameters())
    assert torch.equal(net.weight.grad, before)
    assert dist.seed(5) == 5 and Dist(rank=1, world=2).seed(5) != 5
    assert dist.seed(5, 3) != 5 and dist.seed(5, 3) != Dist(rank=1, world=2).seed(5, 3)
    assert dist.gather("x") == ["x"] and dist.is_main and not dist.enabled
