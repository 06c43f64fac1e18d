"""Why a model lost: per pair of models, the questions one of them lost in both answer orders, and
for a fine-tuned loser the training records nearest each of those questions (:func:`losses`).

A question is lost when the judge preferred the other model's answer with the answers shown in
both orders, so the battle the leaderboard counts is a loss (:func:`harness.stats.battles.combine`:
a flip or a tie in either order is a tie, not a loss). The questions come from the read model's
judged pairs (:func:`harness.analysis.pairs.judged_pairs`), so the answers and the judge's replies
are the ones the pair browser shows. For a model whose spec is an adapter ``harness finetune``
trained (``BASE+lora:DIR``, with ``DIR/manifest.json``), the training file the manifest names is
read and indexed by ROUGE-L (:class:`harness.stats.dedup.NearDuplicateIndex`), and each shown lost
question gets its :data:`NEAREST` most similar training prompts: a low score says the data had
nothing like the question, a high one points at the records that may have taught the lost answer.

Not handled: a comparison judged once (imported verdicts: no second order to agree), a training
set named as a Hugging Face dataset (the report reads local files only and never downloads one),
and a relative training path written from another directory (it is read from the current one, as
``harness finetune`` was given it). A training file that is missing, unreadable or malformed is one
line in :attr:`Training.note`, never an error. Formatting is :mod:`harness.reports`'.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.analysis.files import Finetune
from harness.analysis.pairs import JudgedPair, verdict
from harness.core import rundir
from harness.core.errors import HarnessError
from harness.finetune.data import Example, load_examples
from harness.finetune.train import data_hash
from harness.stats.dedup import NearDuplicateIndex, rouge_tokens

LIMIT = 10
"""Lost questions shown per pair (the first in the run's judgment order); the count says how many
there are in all, so a big run's report stays readable."""
NEAREST = 3
"""Training records shown per lost question."""


@dataclass(frozen=True)
class Neighbour:
    """A training record near a lost question."""

    where: str
    """``FILE:LINE`` (or ``FILE: item N``) of the record."""
    prompt: str
    """What the user said in it (every user message), compared with the question."""
    reply: str
    """The reply it taught (its last assistant message)."""
    score: float
    """ROUGE-L F-measure of its prompt against the question (:func:`harness.stats.dedup.rouge_l`)."""


@dataclass(frozen=True)
class Lost:
    """One question a model lost in both orders."""

    pair: JudgedPair
    """The judged pair: the question, both answers and the judge's reply in each order."""
    loser: str
    winner: str
    nearest: tuple[Neighbour, ...] = ()
    """The loser's training records nearest the question, best first (empty unless the loser is a
    fine-tune whose training data was read; fewer than :data:`NEAREST` when fewer share a word)."""

    @property
    def lost_answer(self) -> str:
        return self.pair.answer_a if self.loser == self.pair.model_a else self.pair.answer_b

    @property
    def winning_answer(self) -> str:
        return self.pair.answer_b if self.loser == self.pair.model_a else self.pair.answer_a

    @property
    def asked(self) -> str:
        """Every user message up to the judged turn (the question alone for a single-turn one): what
        the training prompts are compared with."""
        return "\n".join(user for user, _, _ in self.pair.conversation) or self.pair.question


@dataclass(frozen=True)
class Training:
    """A fine-tuned model's training data, as its adapter's manifest names it."""

    model: str
    source: str
    """The manifest's ``data`` (empty when it names none)."""
    records: int
    """Records read (0 when the file was not read)."""
    note: str = ""
    """One line when the nearest records are missing or may mislead (no such file, unreadable,
    changed since the fine-tune); empty when the file was read as trained on."""


@dataclass(frozen=True)
class PairLosses:
    """The questions ``loser`` lost to ``winner`` in both orders."""

    loser: str
    winner: str
    lost: int
    """Questions lost in both orders (every judge's)."""
    judged: int
    """Comparisons of the two judged in both orders with a valid verdict in each (every judge's)."""
    shown: tuple[Lost, ...]
    """The first :data:`LIMIT` of the lost questions."""
    training: Training | None = None
    """The loser's training data; None unless the loser is a fine-tune."""


def _both_orders(p: JudgedPair) -> bool:
    return {"ab", "ba"} <= {o.order for o in p.orders}


def _winner(p: JudgedPair) -> str | None:
    """The model both orders favoured, or None (a tie, a flip, a missing verdict).

    >>> from harness.analysis.pairs import JudgedOrder
    >>> p = JudgedPair("j", "t", "q1", "Q?", "x", "y", "A", "B", (), verdict("model_b", "x", "y"))
    >>> _winner(p), _winner(JudgedPair("j", "t", "q1", "Q?", "x", "y", "A", "B", (), "tie"))
    ('y', None)
    """
    for side, model in (("model_a", p.model_a), ("model_b", p.model_b)):
        if p.outcome == verdict(side, p.model_a, p.model_b):
            return model
    return None


def _decided(p: JudgedPair) -> bool:
    """Both orders judged with a valid verdict, so the comparison is a battle."""
    return _both_orders(p) and any(p.outcome == verdict(w, p.model_a, p.model_b)
                                   for w in ("model_a", "model_b", "tie", "tie (bothbad)"))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _data_path(source: str) -> Path:
    """Where the manifest's ``data`` is read from: as written (relative to the current directory)."""
    return Path(source).expanduser()


def training_files(adapters: Sequence[Path]) -> list[Path]:
    """The training file each adapter's manifest names (for a report's fingerprint: the nearest
    records change with it); an adapter whose manifest is missing, unreadable or names none has
    none. Never an error."""
    out = []
    for folder in adapters:
        try:
            manifest = json.loads((folder / rundir.MANIFEST).read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            continue
        source = manifest.get("data") if isinstance(manifest, dict) else None
        path = _data_path(source) if isinstance(source, str) and source.strip() else None
        if path is not None and (not path.is_file() or os.access(path, os.R_OK)):  # hashing may read it
            out.append(path)
    return out


def read_training(finetune: Finetune) -> tuple[Training, list[Example]]:
    """The training records the manifest of ``finetune``'s adapter names, and what to say of them;
    a missing or unreadable file gives no records and a note, never an error."""
    model, manifest = finetune.model, finetune.adapter / rundir.MANIFEST
    source = finetune.manifest.get("data")
    if not isinstance(source, str) or not source.strip():
        return Training(model, "", 0, f"{model}: {manifest} names no training data (field 'data'), so "
                                      "no nearest training records are shown."), []
    path = _data_path(source)
    if not path.is_file():
        return Training(model, source, 0, f"{model}: its training data {source} (from {manifest}) is not "
                                          "a file here, so no nearest training records are shown."), []
    try:
        examples = load_examples(str(path))
    except (HarnessError, OSError, UnicodeDecodeError) as exc:
        return Training(model, source, 0, f"{model}: its training data {source} (from {manifest}) could not "
                                          f"be read ({_one_line(str(exc))}), so no nearest training records "
                                          "are shown."), []
    if not examples:
        return Training(model, source, 0, f"{model}: its training data {source} (from {manifest}) holds no "
                                          "records, so no nearest training records are shown."), []
    trained_on = finetune.manifest.get("data_sha256")
    changed = isinstance(trained_on, str) and trained_on != data_hash(examples)
    note = (f"{model}: its training data {source} has changed since the fine-tune (its SHA-256 differs from "
            f"{manifest}'s); the nearest records are from the file as it is now.") if changed else ""
    return Training(model, source, len(examples), note), examples


def _nearest(index: NearDuplicateIndex, examples: Sequence[Example], text: str, k: int
             ) -> tuple[Neighbour, ...]:
    return tuple(Neighbour(examples[m.index].where, examples[m.index].prompt_text,
                           examples[m.index].messages[-1]["content"], m.score)
                 for m in index.nearest(rouge_tokens(text), k))


def losses(*, pairs: Sequence[JudgedPair], models: Sequence[str], finetunes: Sequence[Finetune],
           adapters: Sequence[tuple[str, Path]] = (), limit: int = LIMIT, k: int = NEAREST
           ) -> list[PairLosses]:
    """Every (loser, winner) with a question lost in both orders: fine-tuned losers first, then
    in ``models`` order (the leaderboard's; models it lacks after, by name), winners likewise.
    ``finetunes``: the fine-tuned models whose adapter has its manifest; ``adapters``: every
    fine-tuned model with its adapter folder (one without a manifest gets a note)."""
    decided = [p for p in pairs if _decided(p)]
    lost: dict[tuple[str, str], list[Lost]] = {}
    judged: dict[frozenset[str], int] = {}
    for p in decided:
        judged[frozenset((p.model_a, p.model_b))] = judged.get(frozenset((p.model_a, p.model_b)), 0) + 1
        winner = _winner(p)
        if winner is not None:
            loser = p.model_b if winner == p.model_a else p.model_a
            lost.setdefault((loser, winner), []).append(Lost(p, loser, winner))
    tuned: dict[str, Finetune | Path] = {model: folder for model, folder in adapters}
    tuned.update({f.model: f for f in finetunes})
    rank = {m: i for i, m in enumerate(models)}

    def order(model: str) -> tuple[int, str]:
        return rank.get(model, len(rank)), model

    out = []
    read: dict[str, tuple[Training, NearDuplicateIndex, list[Example]]] = {}
    for loser, winner in sorted(lost, key=lambda lw: (lw[0] not in tuned, order(lw[0]), order(lw[1]))):
        shown = lost[(loser, winner)][:limit]
        training = None
        if loser in tuned:
            if loser not in read:  # read and indexed once, whoever it lost to
                adapter = tuned[loser]
                found, examples = read_training(adapter) if isinstance(adapter, Finetune) else (
                    Training(loser, "", 0, f"{loser}: its adapter folder {adapter} has no {rundir.MANIFEST}, "
                                           "so its training data and the nearest records are unknown."), [])
                index = NearDuplicateIndex()
                for e in examples:
                    index.add(rouge_tokens(e.prompt_text))
                read[loser] = (found, index, examples)
            training, index, examples = read[loser]
            if examples:
                shown = [Lost(x.pair, x.loser, x.winner, _nearest(index, examples, x.asked, k))
                         for x in shown]
        out.append(PairLosses(loser, winner, len(lost[(loser, winner)]), judged[frozenset((loser, winner))],
                              tuple(shown), training))
    return out
