"""``harness synth``: self-instruct (and distillation) training data, filtered as it is generated.

Each round asks the teacher a few times (:data:`SynthSettings.calls_per_round`, sent together),
each time with the self-instruct prompt showing a seeded sample of examples (the seed records,
plus a few already kept), and reads the numbered blocks of every reply in request order. A block
is kept only if it passes every filter, in this order, and each rejection is counted by its
reason (:class:`Reject`): malformed; a control character (C0 but tab and line feed, DEL, C1: NUL,
ESC, a terminal escape sequence) in any field; instruction too short or too long; a word a text model
cannot serve (image, file, draw...); output empty or too long; overlapping a test question (the
fine-tune's n-gram guard, :class:`harness.finetune.contamination.Guard`); a near-duplicate of
anything kept so far or of a seed record (ROUGE-L F >= 0.7, Self-Instruct's rule, exact and
indexed: :class:`harness.stats.dedup.NearDuplicateIndex`). Rounds go on until ``n`` records are
kept or ``max_calls`` teacher calls were made. Windows line ends (CRLF) in a reply are read as line
feeds first, so only a stray control character rejects a block.

Distillation (``answers_from``): the instructions (generated, or given) are answered by another
model, whose reply replaces the output before the output filters; an instruction whose answer
fails them stays in the near-duplicate index, so its near-copies are not asked again.

Every call goes through the cache (:mod:`harness.models.calls`): the sampling depends only on the
seed and on what was kept, and replies are read in request order, so a run killed at any point
and started again repeats no finished call and ends with the same records as one that was never
interrupted. Not handled here: files and options (``harness.app.synth_command``).
"""

from __future__ import annotations

import enum
import random
import re
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.core.errors import HarnessError
from harness.core.types import DecodingParams
from harness.finetune.contamination import Guard
from harness.finetune.selfinstruct import CONTROL, Record, SynthPrompt, line_feeds, parse_blocks
from harness.models import calls
from harness.models.backends import load_backend
from harness.models.cache import CallCache
from harness.models.generate import user_text
from harness.stats.dedup import NearDuplicateIndex, rouge_tokens

TEACHER_KIND = "synth"
ANSWER_KIND = "synth-answer"
GENERATED_SHOWN = 2
"""At most this many of the examples in a prompt are records kept earlier (Self-Instruct mixes
machine-written tasks in; more would let the teacher drift from the seeds)."""


class Reject(enum.Enum):
    """Why a block was not kept (the summary counts each)."""

    MALFORMED = "malformed block"
    CONTROL_CHARACTER = "control character"
    INSTRUCTION_SHORT = "instruction too short"
    INSTRUCTION_LONG = "instruction too long"
    BLOCKED_WORD = "asks for what a text model cannot serve"
    OUTPUT_EMPTY = "output empty"
    OUTPUT_LONG = "output too long"
    CONTAMINATED = "overlaps a test question"
    NEAR_DUPLICATE = "near-duplicate"


@dataclass(frozen=True)
class Limits:
    """Lengths in :func:`harness.stats.dedup.rouge_tokens` (words; each Chinese character one)."""

    instruction_min: int
    instruction_max: int
    output_max: int


LIMITS = {"en": Limits(3, 150, 400), "zh": Limits(4, 300, 800)}
BLOCKED = {
    # Asks a text model cannot serve: pictures and drawings, files, sound and video.
    "en": ("image", "images", "picture", "pictures", "photo", "photos", "graph", "graphs", "chart",
           "charts", "diagram", "diagrams", "flowchart", "draw", "drawing", "sketch", "file", "files",
           "attachment", "attached", "upload", "download", "video", "videos", "audio", "music", "song"),
    # Not 文件: in law and finance it is the ordinary word for a document.
    "zh": ("图片", "图像", "照片", "图表", "示意图", "流程图", "画出", "画一", "绘制", "绘图", "附件",
           "上传", "下载", "视频", "音频", "音乐", "歌曲", "地图"),
}
DOMAIN_PHRASES = re.compile(
    # The legal and financial senses of blocked words: drawing up a contract, filing a claim.
    r"\bdraw(?:s|n|ing)? up\b|\bfil(?:e|es|ed|ing) (?:a|an|for|suit|tax|taxes|their|your|his|her|"
    r"jointly|separately|it|them)\b")
_EN_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class SynthSettings:
    """What to generate and how hard to try."""

    teacher: str | None
    """The model that writes tasks (a backend spec); None when the instructions are given."""
    n: int = 500
    """Records to keep."""
    per_call: int = 20
    """Tasks each prompt asks for."""
    language: str = "en"
    """Picks the built-in prompt, the length limits and the blocked words."""
    seed: int = 0
    max_calls: int = 0
    """Most teacher calls; 0: ten times the calls ``n`` would need if every task were kept."""
    calls_per_round: int = 4
    """Teacher calls sent together; the examples of a round's prompts are drawn before any reply."""
    examples: int = 3
    """Examples each prompt shows (up to :data:`GENERATED_SHOWN` of them kept records)."""
    answers_from: str | None = None
    """Distillation: the model whose answers replace the outputs."""
    decoding: DecodingParams = field(default_factory=lambda: DecodingParams(
        max_new_tokens=3072, temperature=1.0))
    """The teacher's decoding (Self-Instruct samples at temperature 1)."""
    answer_decoding: DecodingParams = field(default_factory=lambda: DecodingParams(
        max_new_tokens=512, temperature=0.0))
    threshold: float = 0.7
    """ROUGE-L F at which an instruction is a near-duplicate."""
    blocked_extra: tuple[str, ...] = ()
    """Words and phrases blocked besides the language's built-in ones (``--blocked-words``)."""

    @property
    def call_limit(self) -> int:
        return self.max_calls or 10 * -(-self.n // self.per_call)


@dataclass(frozen=True)
class Rejected:
    """A block that was not kept, and why (``harness synth`` writes them all beside the output)."""

    reason: Reject
    text: str
    """The block as the teacher wrote it (with distillation, the instruction and the answer)."""
    record: Record | None
    """What was read from it; None for a malformed block."""

    def to_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"reason": self.reason.value, "text": self.text}
        if self.record is not None:
            row |= self.record.to_row()
        return row


@dataclass(frozen=True)
class SynthResult:
    records: tuple[Record, ...]
    target: int
    rejections: tuple[Rejected, ...]
    teacher_calls: int
    """Teacher calls the loop used (cached ones included)."""
    answer_calls: int
    rounds: int

    @property
    def reached(self) -> bool:
        return len(self.records) >= self.target

    @property
    def rejected(self) -> Counter[Reject]:
        return Counter(r.reason for r in self.rejections)


def teacher_request(settings: SynthSettings, prompt: SynthPrompt, text: str, round_: int, call: int
                    ) -> dict[str, Any]:
    """One teacher call; the round and call number are in the key, so two calls that happen to
    show the same examples still get their own sampled replies."""
    return {"synth": "self-instruct", "teacher": settings.teacher, "prompt": prompt.name,
            "prompt_hash": prompt.hash, "seed": settings.seed, "round": round_, "call": call,
            "decoding": settings.decoding.to_row(), "messages": [{"role": "user", "content": text}]}


def answer_request(settings: SynthSettings, record: Record) -> dict[str, Any]:
    return {"synth": "answer", "teacher": settings.answers_from,
            "decoding": settings.answer_decoding.to_row(),
            "messages": [{"role": "user", "content": user_text(record.instruction, record.input)}]}


class _Filters:
    def __init__(self, settings: SynthSettings, guard: Guard, seeds: Sequence[Record]) -> None:
        self.limits = LIMITS[settings.language]
        blocked = [*BLOCKED[settings.language], *(w.lower() for w in settings.blocked_extra)]
        # ASCII words and phrases match whole words ("file" is not "profile"); others (Chinese) as
        # written, since they have no spaces to mark word edges.
        ascii_words = sorted((w for w in blocked if w.isascii()), key=len, reverse=True)
        self.ascii = re.compile(r"\b(?:" + "|".join(map(re.escape, ascii_words)) + r")\b") if ascii_words \
            else None
        self.other = tuple(w for w in blocked if not w.isascii())
        self.guard = guard
        self.index = NearDuplicateIndex(settings.threshold)
        for s in seeds:
            self.index.add(rouge_tokens(s.instruction))

    def instruction(self, r: Record) -> Reject | None:
        if CONTROL.search(r.instruction) or CONTROL.search(r.input):
            return Reject.CONTROL_CHARACTER
        size = len(rouge_tokens(r.instruction))
        if size < self.limits.instruction_min:
            return Reject.INSTRUCTION_SHORT
        if size > self.limits.instruction_max:
            return Reject.INSTRUCTION_LONG
        lowered = DOMAIN_PHRASES.sub(" ", r.instruction.lower())
        if (self.ascii is not None and self.ascii.search(lowered)) or any(w in lowered for w in self.other):
            return Reject.BLOCKED_WORD
        return None

    def output(self, r: Record) -> Reject | None:
        if CONTROL.search(r.output):
            return Reject.CONTROL_CHARACTER
        size = len(rouge_tokens(r.output))
        if not r.output.strip() or size == 0:
            return Reject.OUTPUT_EMPTY
        return Reject.OUTPUT_LONG if size > self.limits.output_max else None

    def novel(self, r: Record) -> Reject | None:
        """Contamination, then near-duplicates; a record that passes joins the index."""
        if self.guard.overlaps(user_text(r.instruction, r.input), "synth"):
            return Reject.CONTAMINATED
        tokens = rouge_tokens(r.instruction)
        if self.index.find(tokens) is not None:
            return Reject.NEAR_DUPLICATE
        self.index.add(tokens)
        return None


def synthesize(*, settings: SynthSettings, prompt: SynthPrompt, seeds: Sequence[Record], guard: Guard,
               cache: CallCache, instructions: Sequence[Record] | None = None,
               progress: Callable[[int], None] = lambda n: None) -> SynthResult:
    """Generate (or, given ``instructions``, answer) until ``settings.n`` records are kept.

    Args:
        settings: the teacher, the target and the limits.
        prompt: the self-instruct prompt (unused with ``instructions``).
        seeds: example records shown to the teacher; they also seed the near-duplicate index.
        guard: the test questions no record may copy.
        cache: where every call is looked up and committed.
        instructions: distillation from given instructions (their outputs are ignored).
        progress: called with the number of records just kept.
    """
    if instructions is None and not seeds:
        raise HarnessError("synth needs at least one seed record to show the teacher")
    filters = _Filters(settings, guard, seeds)
    rejected: list[Rejected] = []
    kept: list[Record] = []
    distil = settings.answers_from is not None
    answers = load_backend(settings.answers_from) if settings.answers_from else None
    teacher_calls = answer_calls = rounds = 0

    def screen(text: str, block: Record | None) -> Record | None:
        if block is None:
            reason: Reject | None = Reject.MALFORMED
        else:  # the output is checked here unless another model is yet to write it
            reason = (filters.instruction(block) or (None if distil else filters.output(block))
                      or filters.novel(block))
        if reason is not None:
            rejected.append(Rejected(reason, text, block))
            return None
        return block

    def keep(pending: list[Record]) -> None:
        nonlocal answer_calls
        if answers is not None and pending:
            requests = [answer_request(settings, r) for r in pending]
            got = [""] * len(pending)
            for j, reply in calls.generate(answers, requests, settings.answer_decoding, cache=cache,
                                           kind=ANSWER_KIND, batch_size=len(requests)):
                got[j] = line_feeds(reply.text)  # the answer without any reasoning before it
            answer_calls += len(requests)
            pending = [Record(r.instruction, r.input, text.strip()) for r, text in zip(pending, got)]
            for r in pending:
                reason = filters.output(r)
                if reason is not None:
                    rejected.append(Rejected(reason, f"{user_text(r.instruction, r.input)}\n\n{r.output}", r))
                    continue
                kept.append(r)
                progress(1)
        else:
            kept.extend(pending)
            progress(len(pending))

    if instructions is not None:
        queue = deque(instructions)
        while len(kept) < settings.n and queue:
            rounds += 1
            pending: list[Record] = []
            while queue and len(kept) + len(pending) < settings.n:
                given = queue.popleft()
                block = screen(user_text(given.instruction, given.input), given)
                if block is not None:
                    pending.append(block)
                if len(pending) >= settings.calls_per_round * settings.per_call:
                    break
            keep(pending)
        return SynthResult(tuple(kept), settings.n, tuple(rejected), 0, answer_calls, rounds)

    assert settings.teacher is not None
    teacher = load_backend(settings.teacher)
    rng = random.Random(settings.seed)
    while len(kept) < settings.n and teacher_calls < settings.call_limit:
        k = min(settings.calls_per_round, settings.call_limit - teacher_calls)
        requests = []
        for call in range(k):
            shown = _sample(rng, seeds, kept, settings.examples)
            text = prompt.render(count=settings.per_call + len(shown), examples=shown, start=len(shown) + 1)
            requests.append(teacher_request(settings, prompt, text, rounds, call))
        replies = [""] * k
        for j, got in calls.generate(teacher, requests, settings.decoding, cache=cache, kind=TEACHER_KIND,
                                     batch_size=k):
            replies[j] = line_feeds(got.text)
        teacher_calls += k
        rounds += 1
        pending = []
        for reply in replies:  # request order, whatever order they arrived in
            blocks = parse_blocks(reply) or [(reply, None)]  # no block at all: malformed
            for text, block in blocks:
                if len(kept) + len(pending) >= settings.n:
                    break
                found = screen(text, block)
                if found is not None:
                    pending.append(found)
        keep(pending)
    return SynthResult(tuple(kept), settings.n, tuple(rejected), teacher_calls, answer_calls, rounds)


def _sample(rng: random.Random, seeds: Sequence[Record], kept: Sequence[Record], count: int) -> list[Record]:
    """``count`` examples: up to :data:`GENERATED_SHOWN` kept records, the rest seeds, shuffled."""
    mine = rng.sample(list(kept), min(GENERATED_SHOWN, len(kept), max(count - 1, 0)))
    shown = rng.sample(list(seeds), min(count - len(mine), len(seeds))) + mine
    rng.shuffle(shown)
    return shown


def first_words(records: Sequence[Record], language: str, top: int = 10) -> list[tuple[str, int]]:
    """The most common openings of the instructions (first word; first two characters in
    Chinese): a quick look at diversity, as Self-Instruct's verb-noun analysis.

    >>> first_words([Record("Explain a bond.", "", "x"), Record("explain equity", "", "y"),
    ...              Record("List two risks.", "", "z")], "en")
    [('explain', 2), ('list', 1)]
    """
    counts: Counter[str] = Counter()
    for r in records:
        text = r.instruction.strip()
        if language == "zh":
            head = "".join(rouge_tokens(text)[:2])
        else:
            words = _EN_WORD.findall(text.lower())
            head = words[0] if words else ""
        if head:
            counts[head] += 1
    return counts.most_common(top)
