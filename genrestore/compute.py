"""Compute settings per machine: device, precision, memory layout and threads, in one place.

``choose(device, precision, workload)`` answers what training, every task, eval and the demo
run with. ``auto`` precision on a CPU is decided by a short measured probe, never by flags
alone: bf16 is tried only where the CPU runs it natively (AVX512_BF16 or AMX; elsewhere it
is emulated and 20-500x slower), and kept only where it measured faster than fp32. The
probe's result is cached per machine (CPU model, ISA, threads, torch version) in the cache
directory (or ``$GENRESTORE_PROBE_CACHE``), so it runs once (about a second) per machine.

Overrides, strongest first: an explicit ``precision`` argument (``--precision``, the Python
API), then ``$GENRESTORE_PRECISION``; ``$GENRESTORE_LAYOUT`` (channels_last|contiguous)
and ``$GENRESTORE_THREADS`` likewise override the layout and thread count.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import platform
import time
from pathlib import Path

import torch
from torch import nn

from .errors import UserError

PRECISION_ENV = "GENRESTORE_PRECISION"
LAYOUT_ENV = "GENRESTORE_LAYOUT"
THREADS_ENV = "GENRESTORE_THREADS"
PROBE_CACHE_ENV = "GENRESTORE_PROBE_CACHE"  # the probe's JSON file (default: in the cache dir)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LAYOUTS = ("channels_last", "contiguous")
WORKLOADS = ("inference", "training")
PROBE_VERSION = 1  # bump when the probe changes, so cached answers are measured again
BF16_MARGIN = 0.9  # bf16 is chosen only if it takes at most 0.9x the fp32 time

log = logging.getLogger("genrestore")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclasses.dataclass(frozen=True)
class Compute:
    """How to run on one device: autocast dtype (None = fp32), layout, threads, and why."""

    device: torch.device
    precision: str  # "fp32", "bf16" or "fp16"
    channels_last: bool
    threads: int
    reason: str = ""  # how the choice was made, for `genrestore env` and logs

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype, or None for plain fp32."""
        return _DTYPES[self.precision]

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self):
        """A context that runs ops in ``dtype`` (a no-op for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def layout(self, x):
        """A module or a 4-D tensor in this setting's memory format (others unchanged)."""
        if isinstance(x, nn.Module):
            return x.to(memory_format=self.memory_format)
        return x.contiguous(memory_format=self.memory_format) if x.dim() == 4 else x

    def describe(self) -> str:
        layout = "channels_last" if self.channels_last else "contiguous"
        return f"{self.device} {self.precision} {layout}, {self.threads} threads"


# --- the machine ----------------------------------------------------------------------------


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; a clear error for unknown or absent devices."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} was asked for, but PyTorch sees no CUDA GPU here")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda") from None


def cpu_model() -> str:
    """The CPU's marketing name (from /proc/cpuinfo on Linux), or platform's best guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _flag(name: str) -> bool:
    """A torch.cpu feature check (private API: False if this torch lacks it)."""
    fn = getattr(torch.cpu, name, None)
    try:
        return bool(fn()) if fn is not None else False
    except Exception:  # noqa: BLE001 - a private helper may fail in odd builds
        return False


def cpu_features() -> dict:
    """What the CPU offers torch: ISA level and the bf16 hardware (AVX512_BF16, AMX)."""
    return {
        "model": cpu_model(),
        "isa": torch.backends.cpu.get_cpu_capability(),
        "avx512_bf16": _flag("_is_avx512_bf16_supported"),
        "amx": _flag("_is_amx_tile_supported"),
    }


def native_bf16(features: dict | None = None) -> bool:
    """Whether bf16 math runs in hardware here (AVX512_BF16 or AMX tiles), not emulated."""
    f = features or cpu_features()
    return bool(f["avx512_bf16"] or f["amx"])


# --- the probe ------------------------------------------------------------------------------


def _probe_nets() -> tuple[nn.Module, nn.Module]:
    """A small DCGAN-shaped generator and discriminator: the layer types the models use."""
    g = nn.Sequential(
        nn.ConvTranspose2d(64, 256, 4, 1, 0), nn.ReLU(),
        nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(32, 3, 4, 2, 1), nn.Tanh(),
    )  # fmt: skip
    d = nn.Sequential(
        nn.Conv2d(3, 32, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(128, 256, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(256, 1, 4, 1, 0),
    )  # fmt: skip
    return g, d


def _time_once(workload: str, precision: str, channels_last: bool, repeat: int = 3) -> float:
    """Seconds for the probe workload in one setting: the best of ``repeat`` after a warm-up.
    The caller's global random state is left as it was (the probe is often the first thing
    a load measures, in the middle of a seeded run)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        g, d = _probe_nets()
        z = torch.randn(16, 64, 1, 1)
    setting = Compute(torch.device("cpu"), precision, channels_last, torch.get_num_threads())
    g, d = setting.layout(g), setting.layout(d)

    def run() -> None:
        if workload == "inference":
            with torch.inference_mode(), setting.autocast():
                g(z)
            return
        with setting.autocast():
            loss = d(g(z)).float().mean()
        loss.backward()

    times = []
    for i in range(repeat + 1):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
        if i == 0 and precision != "fp32" and times[0] > 2.0:
            break  # emulated: no need to wait for more evidence
    return min(times[1:] or times)


def probe(workload: str, features: dict | None = None) -> dict:
    """Measure the workload on this CPU -> {"times": {setting: s}, "precision", "channels_last"}.

    Tries fp32 in both layouts, and bf16 (channels_last and contiguous) only where
    ``native_bf16``; picks the fastest, taking bf16 only if it beats fp32 by ``BF16_MARGIN``.
    """
    settings = [("fp32", True), ("fp32", False)]
    if native_bf16(features):
        settings += [("bf16", True), ("bf16", False)]
    times = {f"{p}/{'cl' if cl else 'contig'}": _time_once(workload, p, cl) for p, cl in settings}
    return {"times": times, **decide(times)}


def decide(times: dict[str, float]) -> dict:
    """The fastest setting of measured ``times`` ({"fp32/cl": s, ...}); bf16 needs a margin."""
    best_fp32 = min((t, k) for k, t in times.items() if k.startswith("fp32"))
    choice = best_fp32[1]
    bf16 = [(t, k) for k, t in times.items() if k.startswith("bf16")]
    if bf16 and min(bf16)[0] <= BF16_MARGIN * best_fp32[0]:
        choice = min(bf16)[1]
    precision, layout = choice.split("/")
    return {"precision": precision, "channels_last": layout == "cl"}


def _machine_key() -> str:
    f = cpu_features()
    return (
        f"{f['model']}|{f['isa']}|bf16={f['avx512_bf16']}|amx={f['amx']}|"
        f"threads={torch.get_num_threads()}|torch={torch.__version__}|probe={PROBE_VERSION}"
    )


def _cache_file() -> Path | None:
    if os.environ.get(PROBE_CACHE_ENV):
        return Path(os.environ[PROBE_CACHE_ENV])
    try:
        from .data.cache import cache_dir

        return cache_dir() / "compute-probe.json"
    except OSError:
        return None


def measured(workload: str) -> dict:
    """This machine's probe result for ``workload``, from the cache or measured now."""
    key = _machine_key()
    path = _cache_file()
    cached: dict = {}
    if path is not None:
        try:
            cached = json.loads(path.read_text())
        except (OSError, ValueError):
            cached = {}
    entry = cached.get(key, {}).get(workload)
    if isinstance(entry, dict) and "precision" in entry:
        return {**entry, "cached": True}
    entry = probe(workload)
    if path is not None:
        cached.setdefault(key, {})[workload] = entry
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(cached, indent=1, sort_keys=True))
            os.replace(tmp, path)
    return {**entry, "cached": False}


# --- the choice -----------------------------------------------------------------------------


def _threads() -> int:
    text = os.environ.get(THREADS_ENV, "").strip()
    if text:
        try:
            n = int(text)
        except ValueError:
            n = 0
        if n < 1:
            raise UserError(f"${THREADS_ENV} must be a whole number of at least 1, got {text!r}")
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
    return torch.get_num_threads()


def _asked_precision(precision: str | None) -> str:
    """The precision the user asked for: the argument unless auto, then the environment."""
    for value, where in ((precision, "precision"), (os.environ.get(PRECISION_ENV), PRECISION_ENV)):
        value = (value or "").strip().lower()
        if value and value != "auto":
            if value not in PRECISIONS:
                raise UserError(f"{where} must be one of {', '.join(PRECISIONS)}, got {value!r}")
            return value
    return "auto"


def _asked_layout() -> bool | None:
    value = os.environ.get(LAYOUT_ENV, "").strip().lower()
    if not value or value == "auto":
        return None
    if value not in LAYOUTS:
        raise UserError(f"${LAYOUT_ENV} must be auto, {' or '.join(LAYOUTS)}, got {value!r}")
    return value == "channels_last"


def choose(
    device: str | torch.device = "auto", precision: str | None = "auto", workload: str = "inference"
) -> Compute:
    """The compute settings for ``workload`` ("inference" or "training") on ``device``.

    ``precision``: "auto" (measured per machine; ``$GENRESTORE_PRECISION`` overrides it),
    or "fp32", "bf16", "fp16" to force one. On CUDA, auto is bf16 where the GPU supports it,
    else fp16. fp16 on a CPU is refused: no CPU here runs it faster than fp32.
    """
    if workload not in WORKLOADS:
        raise ValueError(f"workload must be one of {WORKLOADS}, got {workload!r}")
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    asked = _asked_precision(precision)
    layout = _asked_layout()
    threads = _threads()
    if dev.type == "cuda":
        if asked == "auto":
            asked = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
            why = "CUDA autocast"
        else:
            why = "asked for"
        return Compute(dev, asked, True if layout is None else layout, threads, why)
    if asked == "fp16":
        raise UserError("fp16 runs only on CUDA here; on a CPU use auto, fp32 or bf16")
    if asked != "auto":
        cl = True if layout is None else layout
        why = f"{asked} asked for"
        if asked == "bf16" and not native_bf16():
            why += "; this CPU has no native bf16 (AVX512_BF16 or AMX), so it is emulated and slow"
            log.warning(
                "bf16 is emulated on this CPU (no AVX512_BF16 or AMX): expect it to "
                "run many times slower than fp32; --precision auto picks the fastest"
            )
        return Compute(dev, asked, cl, threads, why)
    m = measured(workload)
    times = ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in m["times"].items())
    why = f"measured{' (cached)' if m['cached'] else ''}: {times}"
    if not any(k.startswith("bf16") for k in m["times"]):
        why += "; no native bf16 on this CPU"
    cl = m["channels_last"] if layout is None else layout
    return Compute(dev, m["precision"], cl, threads, why)


# --- what `genrestore env` prints ---------------------------------------------------------------


def environment_report(device: str = "auto", precision: str = "auto") -> dict:
    """Versions, CPU, threads, the settings chosen per workload, and 64 faces timed (warm)."""
    import sys

    from . import __version__

    f = cpu_features()
    dev = resolve_device(device)
    report = {
        "genrestore": __version__,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": f["model"],
        "isa": f["isa"],
        "native bf16": f"{'yes' if native_bf16(f) else 'no'} "
        f"(avx512_bf16 {'yes' if f['avx512_bf16'] else 'no'}, amx {'yes' if f['amx'] else 'no'})",
        "threads": torch.get_num_threads(),
        "device": str(dev)
        + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""),
    }
    for workload in WORKLOADS:
        c = choose(dev, precision, workload)
        layout = "channels_last" if c.channels_last else "contiguous"
        report[workload] = f"{c.precision} {layout} ({c.reason})"
    report["generate 64 faces"] = _generation_speed(dev, precision)
    return report


def _generation_speed(device: torch.device, precision: str) -> str:
    """'0.16 s = 400 faces/s (faces-gan-64, warm, best of 3)', or why it could not run."""
    from .tasks import load

    try:
        gen = load("faces-gan-64", device=str(device), precision=precision)
    except UserError as exc:
        return f"not measured ({exc})"
    gen.generate(64, seed=0, size=gen.size)  # warm-up (at 64 px: the upscaler not timed)
    best = float("inf")
    for seed in (1, 2, 3):
        t = time.perf_counter()
        gen.generate(64, seed=seed, size=gen.size)
        best = min(best, time.perf_counter() - t)
    return f"{best:.3f} s = {64 / best:.0f} faces/s (faces-gan-64, warm, best of 3)"
