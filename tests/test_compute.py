"""Compute settings per machine: the auto choice with the probe mocked, and every override.

The probe's timings and the CPU's features are replaced by fixed values, so these tests
behave the same on an AVX2 laptop and on an AMX server.
"""

import json

import pytest
import torch
from cli_helpers import assert_one_line_error, run_cli, write_tiny_checkpoints

import genrestore
from genrestore import compute
from genrestore.config import GANConfig

AVX2 = {"model": "Test AVX2 CPU", "isa": "AVX2", "avx512_bf16": False, "amx": False}
AMX = {"model": "Test AMX CPU", "isa": "AVX512", "avx512_bf16": True, "amx": True}


@pytest.fixture
def machine(monkeypatch, tmp_path):
    """Pretend to be a CPU with given features and probe timings (ms per setting).

    Returns a function ``set(features, timings)``; ``calls`` lists the settings timed.
    """
    calls: list[tuple[str, str, bool]] = []
    state: dict = {}
    monkeypatch.setenv(compute.PROBE_CACHE_ENV, str(tmp_path / "probe.json"))
    monkeypatch.setattr(compute, "cpu_features", lambda: state["features"])

    def fake_time(workload, precision, channels_last, repeat=3):
        calls.append((workload, precision, channels_last))
        return state["timings"][f"{precision}/{'cl' if channels_last else 'contig'}"] / 1e3

    monkeypatch.setattr(compute, "_time_once", fake_time)

    def set_(features, timings):
        state["features"], state["timings"] = features, timings
        calls.clear()

    set_.calls = calls
    return set_


# What the three kinds of CPU met so far measure (ms): bf16 emulated, native, native + AMX.
EMULATED = {"fp32/cl": 10.0, "fp32/contig": 12.0, "bf16/cl": 600.0, "bf16/contig": 100.0}
NATIVE_FASTER = {"fp32/cl": 10.0, "fp32/contig": 12.0, "bf16/cl": 4.5, "bf16/contig": 6.0}
NATIVE_SLOWER = {"fp32/cl": 10.0, "fp32/contig": 12.0, "bf16/cl": 9.5, "bf16/contig": 20.0}


@pytest.mark.parametrize("workload", compute.WORKLOADS)
def test_auto_never_picks_bf16_without_native_bf16(machine, workload):
    # Even if the timings claimed bf16 were faster, a CPU without AVX512_BF16/AMX is not
    # asked to run it at all: emulated bf16 is never a candidate.
    machine(AVX2, {**EMULATED, "bf16/cl": 1.0})
    c = compute.choose("cpu", "auto", workload)
    assert c.precision == "fp32" and c.dtype is None
    assert c.channels_last  # fp32/cl measured fastest
    assert all(p == "fp32" for _, p, _ in machine.calls)
    assert "no native bf16" in c.reason


def test_auto_picks_bf16_where_native_and_faster(machine):
    machine(AMX, NATIVE_FASTER)
    c = compute.choose("cpu", "auto", "training")
    assert c.precision == "bf16" and c.dtype == torch.bfloat16 and c.channels_last


def test_auto_keeps_fp32_where_native_bf16_is_not_clearly_faster(machine):
    machine(AMX, NATIVE_SLOWER)  # 0.95x the fp32 time: inside the margin
    assert compute.choose("cpu", "auto", "inference").precision == "fp32"


def test_auto_picks_the_faster_layout(machine):
    machine(AVX2, {"fp32/cl": 20.0, "fp32/contig": 11.0})
    c = compute.choose("cpu", "auto", "inference")
    assert c.precision == "fp32" and not c.channels_last
    assert c.memory_format == torch.contiguous_format


def test_probe_runs_once_per_machine_and_workload(machine):
    machine(AMX, NATIVE_FASTER)
    compute.choose("cpu", "auto", "inference")
    n = len(machine.calls)
    assert n == 4  # fp32 and bf16, each in both layouts
    assert compute.choose("cpu", "auto", "inference").reason.startswith("measured (cached)")
    assert len(machine.calls) == n  # the cached answer, not a new probe
    compute.choose("cpu", "auto", "training")
    assert len(machine.calls) == 2 * n
    # another CPU model is another machine: measured again
    machine({**AMX, "model": "Another CPU"}, NATIVE_SLOWER)
    assert compute.choose("cpu", "auto", "inference").precision == "fp32"
    assert len(machine.calls) == 4


def test_measuring_this_machine_leaves_the_callers_random_state_alone(monkeypatch, tmp_path):
    monkeypatch.setenv(compute.PROBE_CACHE_ENV, str(tmp_path / "probe.json"))  # not measured yet
    torch.manual_seed(5)
    before = torch.get_rng_state()
    assert "cached" not in compute.choose("cpu", "auto", "inference").reason
    assert torch.equal(torch.get_rng_state(), before)


def test_an_unreadable_probe_cache_is_measured_again(machine, tmp_path):
    (tmp_path / "probe.json").write_text("{not json")
    machine(AVX2, EMULATED)
    assert compute.choose("cpu", "auto", "inference").precision == "fp32"
    assert json.loads((tmp_path / "probe.json").read_text())  # rewritten whole


def test_every_override_wins(machine, monkeypatch):
    machine(AMX, NATIVE_FASTER)  # auto would be bf16
    assert compute.choose("cpu", "fp32", "training").precision == "fp32"
    monkeypatch.setenv(compute.PRECISION_ENV, "fp32")
    assert compute.choose("cpu", "auto", "training").precision == "fp32"
    assert compute.choose("cpu", "bf16", "training").precision == "bf16"  # argument beats env
    machine(AVX2, EMULATED)  # auto would be fp32
    monkeypatch.setenv(compute.PRECISION_ENV, "bf16")
    assert compute.choose("cpu", "auto", "inference").precision == "bf16"
    monkeypatch.delenv(compute.PRECISION_ENV)
    monkeypatch.setenv(compute.LAYOUT_ENV, "contiguous")
    assert not compute.choose("cpu", "auto", "inference").channels_last
    assert not machine.calls or all(p == "fp32" for _, p, _ in machine.calls)


def test_bad_overrides_are_one_clear_error(machine, monkeypatch):
    machine(AVX2, EMULATED)
    with pytest.raises(genrestore.UserError, match="fp16 runs only on CUDA"):
        compute.choose("cpu", "fp16")
    monkeypatch.setenv(compute.PRECISION_ENV, "half")
    with pytest.raises(genrestore.UserError, match=compute.PRECISION_ENV):
        compute.choose("cpu")
    monkeypatch.delenv(compute.PRECISION_ENV)
    monkeypatch.setenv(compute.THREADS_ENV, "zero")
    with pytest.raises(genrestore.UserError, match=compute.THREADS_ENV):
        compute.choose("cpu")


def test_decide_takes_bf16_only_past_the_margin():
    fp32 = {"fp32/cl": 10.0, "fp32/contig": 30.0}
    assert compute.decide({**fp32, "bf16/cl": 9.5})["precision"] == "fp32"
    assert compute.decide({**fp32, "bf16/cl": 8.9}) == {"precision": "bf16", "channels_last": True}
    assert compute.decide({**fp32, "bf16/contig": 2.0}) == {
        "precision": "bf16",
        "channels_last": False,
    }


def test_tasks_and_training_run_with_the_choice(machine, tmp_path, tiny_images):
    machine(AMX, NATIVE_FASTER)
    tiny = GANConfig(size=16, nz=8, ngf=8, ndf=8)
    path = write_tiny_checkpoints(tmp_path, {"gan": tiny})["gan"]
    gen = genrestore.load(path)
    assert gen.compute.precision == "bf16"
    assert genrestore.load(path, precision="fp32").compute.precision == "fp32"
    a = genrestore.load(path, precision="fp32").generate(2, seed=0)
    assert len(gen.generate(2, seed=0)) == len(a) == 2

    machine(AVX2, EMULATED)
    cfg = genrestore.presets["dcgan-64"]
    run = genrestore.train(
        cfg.__class__(family="gan", model=tiny, steps=1, batch=8, save_every=1, sample_every=1),
        images=tiny_images,
        out=str(tmp_path / "run"),
        progress=False,
    )
    assert "cpu fp32 channels_last" in (run / "log.txt").read_text()


def test_env_command_names_the_choice(capsys):
    rc, out, err = run_cli(capsys, "env", "--json")
    assert rc == 0, err
    report = json.loads(out)
    for key in ("genrestore", "torch", "python", "cpu", "isa", "native bf16", "threads"):
        assert key in report
    for workload in compute.WORKLOADS:
        assert report[workload].split()[0] in ("fp32", "bf16")
    assert "faces/s" in report["generate 64 faces"]
    rc, out, err = run_cli(capsys, "env", "--device", "tpu")
    assert rc == 2
    assert_one_line_error(err, "tpu")
