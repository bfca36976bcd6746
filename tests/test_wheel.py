"""The installed wheel is the product: build it, install it in a fresh venv, use it elsewhere.

The venv reuses this interpreter's installed packages (torch, gradio, ...) but gets its own
copy of genrestore from the wheel, and every command runs from a folder outside the
checkout, so nothing can be found through the source tree.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "README.md", "genrestore", "checkpoints")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A venv with the wheel built from this checkout installed -> its bin folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:  # build from a copy: the checkout gets no build/ or egg-info
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    dist = tmp / "dist"
    env_dir = tmp / "venv"
    bin_dir = env_dir / "bin"
    steps = [
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(src)],
        [sys.executable, "-m", "venv", "--system-site-packages", str(env_dir)],
        [str(bin_dir / "python"), "-m", "pip", "install", "--no-deps", "-q", "WHEEL"],
    ]  # fmt: skip
    for cmd in steps:
        if cmd[-1] == "WHEEL":
            (wheel,) = dist.glob("genrestore-*.whl")
            cmd[-1] = str(wheel)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        assert r.returncode == 0, f"{cmd}: {r.stderr[-2000:]}"
    return bin_dir


def _run(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GENRESTORE_CHECKPOINTS"}
    env["PATH"] = f"{venv}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_installed_wheel_lists_loads_and_generates(venv, tmp_path):
    r = _run(venv, tmp_path, "genrestore", "models")
    assert r.returncode == 0, r.stderr
    for name in ("faces-gan-64", "faces-vae-64", "faces-inpaint-64", "faces-colorize-64"):
        assert name in r.stdout
    assert str(ROOT) not in r.stdout  # the wheel's own copies, not the checkout's
    # every module of the checkout is in the wheel and imports there (a folder without
    # __init__.py is easily left out of a wheel)
    ours = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "genrestore").rglob("*.py")
        if p.name != "__main__.py"  # importing it runs the CLI
    )
    code = (
        "import importlib, sys; "
        f"[importlib.import_module(m) for m in {ours!r}]; "
        "print(len(sys.modules))"
    )
    r = _run(venv, tmp_path, str(venv / "python"), "-c", code)
    assert r.returncode == 0, r.stderr[-2000:]
    code = (
        "import genrestore, pathlib; "
        "print(pathlib.Path(genrestore.__file__).resolve()); "
        "gen = genrestore.load('faces-gan-64'); faces = gen.generate(2); "
        "print(len(faces), faces[0].size, gen.encoder is not None)"
    )
    r = _run(venv, tmp_path, str(venv / "python"), "-c", code)
    assert r.returncode == 0, r.stderr
    where, result = r.stdout.strip().splitlines()[-2:]
    assert not where.startswith(str(ROOT)), where
    # 256 px: the upscaler travels with the GAN; the completion encoder too
    assert result == "2 (256, 256) True"


def test_installed_wheel_serves_the_demo(venv, tmp_path):
    pytest.importorskip("gradio")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "GENRESTORE_CHECKPOINTS"}
    env["PATH"] = f"{venv}{os.pathsep}{env['PATH']}"
    proc = subprocess.Popen(
        ["genrestore", "demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        page = ""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    page = resp.read().decode("utf-8", "replace")
                    break
            except OSError:
                time.sleep(0.5)
        assert proc.poll() is None, proc.stdout.read()
        assert "gradio" in page.lower()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
