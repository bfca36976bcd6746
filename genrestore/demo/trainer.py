"""The Train tab's one training run at a time: its worker thread and its live status."""

from __future__ import annotations

import atexit
import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from genrestore import UserError
from genrestore.config import TrainConfig
from genrestore.tasks import CHECKPOINT, export, is_run_dir

from .runs import PHOTOS, RunsFolder, remember_caches, remove
from .uploads import listing, unpack_uploads
from .widgets import error_text

log = logging.getLogger("genrestore")

RUN_LABEL = "run: "  # a run's name in the model dropdowns: "run: gan-32-003"
BUSY = ("preparing", "training", "stopping")  # the states in which a run holds the trainer


@dataclass
class Status:
    """What the Train tab shows: a copy taken under the trainer's lock."""

    state: str = "idle"  # idle, preparing, training, stopping, stopped, finished or failed
    name: str = ""  # the run's folder name
    step: int = 0
    steps: int = 0
    batch: int = 0
    img_s: float = 0.0  # over the last logging window
    losses: dict[str, float] = field(default_factory=dict)
    samples: str = ""  # the latest sample grid (PNG path)
    samples_step: int = 0
    message: str = ""  # what is being prepared, or what went wrong
    notes: str = ""  # files left out of the data
    models_version: int = 0  # bumped whenever a run is added to or removed from the models

    @property
    def busy(self) -> bool:
        return self.state in BUSY

    def seconds_left(self) -> float | None:
        if self.state != "training" or self.img_s <= 0 or not self.batch:
            return None
        return (self.steps - self.step) * self.batch / self.img_s


class Trainer:
    """Runs ``genrestore.train`` in a background thread, one run at a time.

    Runs live in ``folder`` (see runs.py); a finished or stopped run is loaded into
    ``models`` (the dict every tab reads) as "run: NAME", and leaves it when its folder is
    deleted.
    """

    def __init__(self, folder: RunsFolder, models: dict):
        self.folder, self.models = folder, models
        self._lock = threading.Lock()
        self._status = Status()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cfg: TrainConfig | None = None  # the current run's config
        self._left_out: list[tuple[str, str]] = []  # upload members left out of the run
        self._exit_hook = False

    # --- what the handlers call -----------------------------------------------------------

    def status(self) -> Status:
        with self._lock:
            return dataclasses.replace(self._status, losses=dict(self._status.losses))

    def add_saved_runs(self) -> None:
        """Load the runs a previous demo left in the runs folder into the models."""
        for run_dir in self.folder.runs():
            if is_run_dir(run_dir):
                try:
                    self._publish(run_dir)
                except Exception as exc:  # noqa: BLE001 (one bad run must not stop the demo)
                    log.warning("demo: run %s cannot be loaded: %s", run_dir, error_text(exc))

    def start(self, cfg: TrainConfig, uploads: list[str] | None = None) -> str:
        """Start a new run of ``cfg`` (its data: built-in faces, or ``uploads``) -> its name."""
        with self._lock:
            self._refuse_if_busy()
            run_dir, before = self.folder.new(cfg.family, cfg.model.size), self._status
            self._status = Status(
                state="preparing",
                name=run_dir.name,
                steps=cfg.steps,
                batch=cfg.batch,
                models_version=self._status.models_version,
                message="Preparing the data …",
            )
        try:
            self._left_out = [] if uploads is None else unpack_uploads(uploads, run_dir / PHOTOS)
        except BaseException:
            remove(run_dir)
            with self._lock:
                self._status = dataclasses.replace(
                    before, models_version=self._status.models_version
                )
            raise
        if uploads is not None:
            cfg = dataclasses.replace(
                cfg, data=dataclasses.replace(cfg.data, source=str(run_dir / PHOTOS))
            )
        self._launch(dataclasses.replace(cfg, out=str(run_dir)), resume=False)
        self._prune(keep=run_dir)
        return run_dir.name

    def resume(self, steps: int) -> str:
        """Continue the current run to ``steps`` (at least its own length) -> its name."""
        with self._lock:
            self._refuse_if_busy()
            cfg, status = self._cfg, self._status
            if cfg is None or not Path(cfg.out).is_dir():
                raise UserError("Nothing to resume: start a run first.")
            total = max(steps, cfg.steps)
            if total <= status.step:
                raise UserError(
                    f"The run has done its {status.step} steps; set Steps higher to train "
                    "it further."
                )
            self._status = dataclasses.replace(
                status, state="preparing", steps=total, message="Preparing the data …"
            )
        resume = (Path(cfg.out) / CHECKPOINT).exists()  # stopped before its first step: anew
        self._launch(dataclasses.replace(cfg, steps=total), resume=resume)
        return Path(cfg.out).name

    def stop(self) -> None:
        """Ask the run to stop: it saves a checkpoint at its current step (resumable)."""
        with self._lock:
            if not self._status.busy:
                raise UserError("No run is going.")
            self._stop.set()
            self._status.state = "stopping"
            self._status.message = "Stopping: saving a checkpoint …"

    def export(self, out_dir: Path) -> list[str]:
        """The current run as NAME.safetensors (fp16) + NAME.json in ``out_dir`` -> paths."""
        with self._lock:
            cfg = self._cfg
        if cfg is None or not is_run_dir(cfg.out):
            raise UserError("No run to download yet: start one and let it save (or stop it).")
        name = Path(cfg.out).name
        out_dir.mkdir(parents=True, exist_ok=True)
        weights = out_dir / f"{name}.safetensors"
        export(cfg.out, weights, card={"name": name, "made_with": "genrestore demo, Train tab"})
        return [str(weights), str(weights.with_suffix(".json"))]

    def close(self, timeout: float = 60.0) -> None:
        """Stop a running run and wait for its checkpoint (at exit)."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._stop.set()
            thread.join(timeout)

    # --- the worker -------------------------------------------------------------------------

    def _launch(self, cfg: TrainConfig, resume: bool) -> None:
        with self._lock:
            self._cfg = cfg
        self._stop.clear()
        if not self._exit_hook:
            atexit.register(self.close)
            self._exit_hook = True
        self._thread = threading.Thread(
            target=self._work, args=(cfg, resume), name="genrestore-demo-train", daemon=True
        )
        self._thread.start()

    def _work(self, cfg: TrainConfig, resume: bool) -> None:
        """The thread: data, then ``train``, then the run joins the models."""
        from genrestore.training import train

        run_dir = Path(cfg.out)
        try:
            images = self._images(cfg)
            with self._lock:
                if self._status.state == "preparing":  # not "stopping" meanwhile
                    self._status.state, self._status.message = "training", ""
            if not self._stop.is_set():
                train(
                    cfg,
                    resume=resume,
                    progress=False,
                    images=images,
                    events=self._on_event,
                    stop=self._stop.is_set,
                )
            if is_run_dir(run_dir):
                self._publish(run_dir)
            with self._lock:
                done = self._status.step >= cfg.steps
                self._status.state = "finished" if done else "stopped"
                self._status.message = ""
        except Exception as exc:
            if not isinstance(exc, UserError):
                log.exception("demo: training run %s failed", run_dir.name)
            text = str(exc) if isinstance(exc, UserError) else error_text(exc)
            self._update(state="failed", message=f"The run failed: {text}")

    def _images(self, cfg: TrainConfig):
        """The run's training images, uint8 (N, size, size, 3); progress in the status."""
        size = cfg.model.size
        if cfg.data.source == "avatars":
            from genrestore.data.avatars import load_faces

            self._update(
                message=f"Rendering {cfg.data.count:,} built-in faces at {size} px "
                "(once; cached after) …"
            )
            return load_faces(cfg.data.count, size, progress=False)
        from genrestore.data.folder import load_folder

        decoded = [0]

        def on_decoded(rel: str, reason: str | None) -> None:
            decoded[0] += 1
            self._update(message=f"Decoding the photos: {decoded[0]:,} so far …")

        self._update(message="Decoding the photos …")
        data = load_folder(cfg.data.source, size, progress=False, on_decoded=on_decoded)
        cache = Path(getattr(data.images, "filename", "") or "")
        if cache.name:  # the decoded photos: deleted with the run
            remember_caches(Path(cfg.out), [cache, cache.with_suffix(".json")])
        left_out = self._left_out + data.skipped
        notes = f"Training on {len(data.images):,} photos."
        if left_out:
            notes += f" Left out {len(left_out)}: {listing(left_out)}."
        self._update(notes=notes)
        return data.images

    def _on_event(self, event: dict) -> None:
        """``train``'s events -> the status (runs in the worker thread)."""
        with self._lock:
            s = self._status
            s.step = max(s.step, int(event.get("step", s.step)))
            if event["kind"] == "log":
                s.img_s = float(event["img_s"])
                s.losses = {
                    k: float(v)
                    for k, v in event.items()
                    if k not in ("kind", "step", "steps", "img_s")
                }
            elif event["kind"] == "samples":
                s.samples, s.samples_step = event["path"], int(event["step"])

    def _update(self, **changes) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self._status, k, v)

    def _refuse_if_busy(self) -> None:
        if self._status.busy:
            raise UserError(
                f"A training run is going ({self._status.name}); stop it or wait for it "
                "to finish before starting another."
            )

    # --- the runs folder --------------------------------------------------------------------

    def _publish(self, run_dir: Path) -> None:
        """Load the run (its EMA weights) into the models as "run: NAME"."""
        from genrestore import load

        task = load(run_dir)
        with self._lock:
            self.models[RUN_LABEL + run_dir.name] = task
            self._status.models_version += 1

    def _prune(self, keep: Path) -> None:
        """Delete the oldest runs beyond the folder's limit (never ``keep``, the new one)."""
        for name in self.folder.prune(keep):
            with self._lock:
                if self.models.pop(RUN_LABEL + name, None) is not None:
                    self._status.models_version += 1
