"""Skip rebuilding a report whose inputs have not changed, so a cached re-run stays fast.

The fingerprint covers every file a report reads (the run's files and each fine-tuned adapter's
manifest, log and training data), the options, and the report code and templates themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from harness.analysis.figures import CODE
from harness.analysis.files import adapter_dirs
from harness.analysis.losses import training_files
from harness.core import rundir
from harness.core.files import atomic_write

INPUTS = (rundir.FORMAT, rundir.LEADERBOARD_CSV, rundir.BATTLES, rundir.JUDGMENTS, rundir.ANSWERS,
          rundir.QUESTIONS, rundir.USAGE_CSV, rundir.BIAS_CSV, rundir.HUMAN, rundir.JUDGE_BATTLES,
          rundir.GRADES)
STAMP = ".inputs.sha256"


def _adapter_files(run_dir: Path) -> list[Path]:
    answers = rundir.read_answers(run_dir)
    folders = [folder for _, folder in adapter_dirs(answers)]
    return [*(folder / name for folder in folders for name in (rundir.MANIFEST, rundir.TRAIN_LOG)),
            *training_files(folders)]  # the nearest training records of a lost question come from it


def fingerprint(run_dir: Path, options: str) -> str | None:
    """None when the report also depends on something outside these files (task files)."""
    if not (run_dir / rundir.QUESTIONS).is_file() or not (run_dir / rundir.ANSWERS).is_file():
        return None
    here = Path(__file__).parent
    sources = [*CODE, here]
    code = [p for folder in sources for p in sorted(folder.glob("*.py"))]
    code += sorted((here / "templates").iterdir())
    h = hashlib.sha256(f"{run_dir.resolve()}\n{options}\n".encode())
    for path in [*(run_dir / n for n in INPUTS), *_adapter_files(run_dir), *code]:
        h.update(f"{path}\n".encode())
        h.update(path.read_bytes() if path.is_file() else b"(missing)")
    return h.hexdigest()


def unchanged(out: Path, stamp: str | None, outputs: Sequence[Path]) -> bool:
    return (stamp is not None and (out / STAMP).is_file() and all(p.is_file() for p in outputs)
            and (out / STAMP).read_text(encoding="utf-8") == stamp)


def record(out: Path, stamp: str | None) -> None:
    if stamp is not None:
        atomic_write(out / STAMP, stamp)
