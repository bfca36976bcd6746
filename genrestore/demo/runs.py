"""The Train tab's runs folder: run folders named family-size-N, the oldest deleted first."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from genrestore import UserError

log = logging.getLogger("genrestore")

MAX_KEPT_RUNS = 8  # runs kept in the runs folder; starting another deletes the oldest
PHOTOS = "photos"  # a run's uploaded photos, in its folder (its data source)
FOLDER_CACHES = "photos-cache.txt"  # the decoded-photo cache files of a run, removed with it
_RUN_NAME = re.compile(r"^[a-z]+-\d+-(\d+)$")  # family-size-number: the folders made here


def default_runs_dir() -> Path:
    """Where the demo keeps its runs unless told otherwise: the cache folder's demo-runs."""
    from genrestore.data.cache import cache_dir

    return cache_dir() / "demo-runs"


class RunsFolder:
    """The run folders the demo made in ``root`` (other folders there are left alone)."""

    def __init__(self, root: Path, max_runs: int = MAX_KEPT_RUNS):
        if max_runs < 1:
            raise UserError(f"the demo must keep at least 1 run, got {max_runs}")
        self.root, self.max_runs = Path(root), max_runs

    def runs(self) -> list[Path]:
        """The run folders, oldest first (by their number)."""
        if not self.root.is_dir():
            return []
        found = [
            (int(m.group(1)), p)
            for p in self.root.iterdir()
            if p.is_dir() and (m := _RUN_NAME.match(p.name))
        ]
        return [p for _, p in sorted(found)]

    def new(self, family: str, size: int) -> Path:
        """A new, empty run folder: ``family-size-N`` with N one more than the newest."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the runs folder {self.root}: {exc}") from None
        existing = self.runs()
        number = int(_RUN_NAME.match(existing[-1].name).group(1)) + 1 if existing else 1
        run_dir = self.root / f"{family}-{size}-{number:03d}"
        run_dir.mkdir()
        return run_dir

    def prune(self, keep: Path) -> list[str]:
        """Delete the oldest runs beyond ``max_runs``, never ``keep`` -> their names."""
        runs = [p for p in self.runs() if p != keep]
        old = runs[: max(0, len(runs) + 1 - self.max_runs)]
        for run_dir in old:
            remove(run_dir)
            log.info("demo: deleted the old run %s (more than %d runs)", run_dir, self.max_runs)
        return [p.name for p in old]


def remember_caches(run_dir: Path, files: list[Path]) -> None:
    """Note cache files made for ``run_dir`` (decoded photos): ``remove`` deletes them too."""
    (run_dir / FOLDER_CACHES).write_text("".join(f"{p}\n" for p in files))


def remove(run_dir: Path) -> None:
    """Delete a run folder and the cache files noted for it."""
    caches = run_dir / FOLDER_CACHES
    if caches.is_file():
        for line in caches.read_text().splitlines():
            Path(line).unlink(missing_ok=True)
    shutil.rmtree(run_dir, ignore_errors=True)
