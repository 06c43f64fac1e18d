"""The report's tables: the figures of :class:`~harness.analysis.figures.Figures` as cells, built
once and rendered by every format.

Building the cells in one place is what keeps the LaTeX, HTML and Markdown tables identical. Only
formatting happens here: every number comes computed from the read model, and is printed by the
formatter of its kind (:mod:`harness.reports.numbers`). Longer than most modules (one builder for
each of the report's twenty-odd tables, with its caption): split by section, the builders would
each need the same few helpers and the captions' shared sentences from several places.
Win rates are printed as percentages with two decimals: exactly the four-decimal share that
``leaderboard.csv`` holds, with the decimal point moved.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Union

from harness.analysis.figures import (
    FEATURES,
    LOSS_LIMIT,
    MAJORITY_RULE,
    NEAREST,
    STYLE_ROUNDS,
    AgreementReport,
    BiasResult,
    Figures,
    LeaderRow,
    Lost,
    RatingResult,
    Training,
)
from harness.core.methods import method_note
from harness.core.types import PairRecord, UsageLine
from harness.reports.bias import bias_interval, bias_share, bias_value
from harness.reports.numbers import (
    coefficient,
    interval,
    p_value,
    percent,
    rating,
    share_of,
    signed,
    with_interval,
)


@dataclass(frozen=True)
class Bold:
    """A cell printed in bold (the best value of a column)."""

    text: str


Cell = Union[str, Bold]  # noqa: UP007 (a runtime alias: X | Y needs Python 3.10 objects here)


NOTES_HEADER = "What it means"


@dataclass(frozen=True)
class Table:
    key: str
    """File name stem (``leaderboard`` -> ``leaderboard.tex``) and LaTeX label suffix."""
    title: str
    caption: str
    header: tuple[str, ...]
    align: str
    """One of ``l``/``r``/``c`` per column, or ``p``: long text, wrapped (LaTeX: a paragraph column,
    and the table a ``longtable`` that breaks across pages)."""
    rows: tuple[tuple[Cell, ...], ...]
    notes: tuple[str, ...] = ()
    """What each row's figure means, in words: Markdown, HTML and JSON show it beside the row;
    LaTeX (a paper's table) leaves it out."""
    turn: int | None = None
    """The judged turn a per-turn leaderboard rates alone (:func:`turn_tables`); None for the
    others. Every format shows these tables together, under :data:`TURNS_TITLE`."""
    cut_rows: tuple[tuple[Cell, ...], ...] | None = None
    """What Markdown and LaTeX print instead of :attr:`rows`: the same cells with their long texts
    cut (a table of answers, whose full text HTML and JSON print); None: every format prints
    :attr:`rows`."""

    @property
    def short(self) -> Table:
        """The table as Markdown and LaTeX print it (:attr:`cut_rows` as its rows)."""
        return self if self.cut_rows is None else dataclasses.replace(self, rows=self.cut_rows, cut_rows=None)

    @property
    def with_notes(self) -> tuple[tuple[str, ...], tuple[tuple[Cell, ...], ...]]:
        """Header and rows with the notes as a last column (none when the table has no notes)."""
        if not self.notes:
            return self.header, self.rows
        return (*self.header, NOTES_HEADER), tuple((*row, note) for row, note in zip(self.rows, self.notes))


def share(r: PairRecord) -> str:
    """The win rate as ``leaderboard.csv`` writes it (four decimals); empty when there were no battles."""
    return f"{r.win_rate:.4f}" if r.n else ""


LEADER_HEADER = ("Rank", "Model", "BT", "BT 95% CI", "Elo", "Elo 95% CI", "Win", "Tie", "Lose",
                 "Win rate (%)")


def _leader_rows(board: Sequence[LeaderRow]) -> tuple[tuple[Cell, ...], ...]:
    return tuple((r["rank"], r.model, r["bt"], f"[{r['bt_lower']}, {r['bt_upper']}]", r["elo"],
                  f"[{r['elo_lower']}, {r['elo_upper']}]", r["wins"], r["ties"], r["losses"],
                  percent(r["win_rate"])) for r in board)


def leaderboard_table(data: Figures) -> Table:
    rows = _leader_rows(data.leaderboard)
    return Table("leaderboard", "Leaderboard",
                 "Bradley-Terry (BT) and Elo ratings with 95% bootstrap confidence intervals; "
                 "win rate counts a tie as half a win. Elo intervals are wider than BT's by design: "
                 "the Elo rating averages online Elo over many shuffled battle orders, but each "
                 "bootstrap round is one online pass in one random order, so its interval also "
                 "carries online Elo's dependence on the order of the battles.",
                 LEADER_HEADER, "clrcrcrrrr", rows)


def turn_tables(data: Figures) -> list[Table]:
    """One leaderboard per judged turn of the multi-turn questions (none for a single-turn run)."""
    return [Table(f"turn{turn}", f"Leaderboard, turn {turn}",
                  f"Turn {turn} of the multi-turn questions alone: Bradley-Terry (BT) and Elo ratings with "
                  "95% bootstrap confidence intervals; win rate counts a tie as half a win.",
                  LEADER_HEADER, "clrcrcrrrr", _leader_rows(board), turn=turn)
            for turn, board in data.turns.items()]


def baseline_table(data: Figures) -> list[Table]:
    """Each model against the run's baseline, as AlpacaEval reports it (none unless every battle
    has the same model: :attr:`~harness.analysis.figures.Figures.baseline`)."""
    figures = data.against_baseline
    if figures is None:
        return []
    h2h, lc = figures
    rows = []
    for h in sorted(h2h, key=lambda h: -h.win_rate):
        got = lc.rates.get(h.model)
        # AlpacaEval's figures are percentages already (0-100), printed as it prints them
        se = "n/a" if math.isnan(h.standard_error) else f"{h.standard_error:.1f}"
        rows.append((h.model, f"{h.win_rate:.1f}", se, f"{h.discrete_win_rate:.1f}",
                     "n/a" if got is None else f"{got.win_rate:.1f}",
                     f"{h.n_wins} / {h.n_draws} / {h.n_wins_base}", str(h.n_total)))
    caption = (f"Every battle of this run has {data.baseline}: each model's figures against it, as "
               "AlpacaEval computes them. Win rate: the mean preference for the model (its expected outcome "
               "where the verdict has one, a tie a half), with its standard error; discrete: each verdict "
               "rounded to a win, a tie or a loss, and counted so in the wins / ties / losses. LC: the "
               f"length-controlled win rate, {lc.variant.describe()}{lc.skipped_note()}.")
    return [Table("baseline", f"Against {data.baseline}", caption,
                  ("Model", "Win rate (%)", "SE", "Discrete (%)", "LC win rate (%)", "Wins / ties / losses",
                   "n"), "lrrrrrr", tuple(rows))]


def soft_table(data: Figures) -> list[Table]:
    """The probability-weighted leaderboard beside the text verdicts' (none without a ``logprobs``
    judge), with how often the two readings of a verdict disagree."""
    board = data.soft
    if board is None:
        return []
    fit = board.ratings
    plain = {r.model: (r["rank"], r["bt"]) for r in data.leaderboard}
    ranks = fit.rank()
    order = sorted(range(len(fit.models)), key=lambda i: -fit.ratings[i])
    hard = board.battles - board.weighted
    caption = (
        "Bradley-Terry on the judge's expected outcomes: each battle counts as P(a wins) of a win, "
        "P(tie) of a tie and P(b wins) of a loss, the probabilities read from the judge's "
        "log-probabilities at the verdict position and averaged over both orders; 95% intervals from "
        f"{fit.rounds} resamples of the {board.battles} battles"
        + (f" ({hard} without probabilities count by their winner)" if hard else "")
        + ". The text columns are the leaderboard's. The most likely outcome differs from the text "
        f"verdict in {share_of(board.verdict_disagreement)} of {board.verdicts} "
        f"verdicts, and from the battle's winner in {share_of(board.battle_disagreement)} "
        f"of {board.weighted} battles (a swap that flips the text verdict is a tie by text, a lean by "
        "probability).")
    rows = tuple((fit.models[i], *plain.get(fit.models[i], ("n/a", "n/a")), str(ranks[i]),
                  rating(fit.ratings[i]), interval(rating(fit.lower[i]), rating(fit.upper[i])))
                 for i in order)
    return [Table("soft", "Probability-weighted ratings", caption,
                  ("Model", "Rank (text)", "BT (text)", "Rank (weighted)", "BT (weighted)", "95% CI"),
                  "lrrrrc", rows)]


STYLE_FEATURE_NOTES = {
    "length": "longer answer (characters)",
    "headers": "more Markdown headers",
    "list items": "more list items",
    "bold": "more bold spans",
}


def style_tables(data: Figures) -> list[Table]:
    """The style-controlled ratings beside the plain ones, and the judge's weight on each style
    feature (none when the run has too few battles for the fit)."""
    fit = data.style
    if fit is None:
        return []
    plain = {r.model: r["bt"] for r in data.leaderboard}
    order = sorted(range(len(fit.models)), key=lambda i: -fit.ratings[i])
    ratings = Table("style", "Style-controlled ratings",
                    "Bradley-Terry with the answers' style differences (length, Markdown headers, list "
                    "items, bold) as covariates, so a judge's taste for style is taken out (as Chatbot "
                    f"Arena's style control); 95% intervals from {STYLE_ROUNDS} resamples of the {fit.n} "
                    "battles"
                    + (f" ({fit.left_out} battles without answer text left out)" if fit.left_out else "")
                    + ". The plain BT rating is the leaderboard's.",
                    ("Model", "Plain BT", "Style-controlled", "95% CI"), "lrrc",
                    tuple((fit.models[i], plain.get(fit.models[i], "n/a"), rating(fit.ratings[i]),
                           interval(rating(fit.lower[i]), rating(fit.upper[i]))) for i in order))
    weights = Table("style_weights", "Style weights",
                    "The judge's taste for each style feature: the change in log-odds of winning per "
                    "standard deviation of the normalised difference (a - b) / (a + b) between the two "
                    "answers; an interval above 0 means the judge rewards it, one covering 0 that the data "
                    "show no such taste.",
                    ("Feature", "Weight", "95% CI"), "lrc",
                    tuple((f, signed(w), interval(signed(lo), signed(hi))) for f, w, lo, hi
                          in zip(FEATURES, fit.weights, fit.weight_lower, fit.weight_upper)),
                    notes=tuple(STYLE_FEATURE_NOTES[f] for f in FEATURES))
    return [ratings, weights]


def _wtl(r: PairRecord | None) -> str:
    """A pair's win / tie / lose in one cell; n/a when the pair never met.

    >>> _wtl(PairRecord("x", "y", 3, 1, 0)), _wtl(None)
    ('3 / 1 / 0', 'n/a')
    """
    return "n/a" if r is None else f"{r.wins} / {r.ties} / {r.losses}"


def pairs_table(data: Figures) -> Table:
    """Seed 001's 'Phoenix vs. ChatGPT' table: each pair once, the better-ranked model first."""
    c, models = data.records(), data.models
    # a multi-turn run: each judged turn's win / tie / lose too, one column per turn
    turns = data.records_by_turn
    rows = []
    for i, m in enumerate(models):
        for o in models[i + 1:]:
            if (m, o) in c:
                r = c[(m, o)]
                rows.append((f"{m} vs. {o}", str(r.wins), str(r.ties), str(r.losses), percent(share(r)),
                             *(_wtl(t.get((m, o))) for t in turns.values())))
    by_turn_note = (" A turn's column counts the battles of that turn of the multi-turn questions alone "
                    "(win / tie / lose; n/a where the pair has none).") if turns else ""
    return Table("pairs", "Win / tie / lose per model pair",
                 "Pairwise battles (both answer orders judged; a verdict that flips with the order is "
                 "a tie). "
                 "Win rate is the first model's, a tie counting half." + by_turn_note,
                 ("Comparison", "Win", "Tie", "Lose", "Win rate (%)",
                  *(f"Turn {t} (W / T / L)" for t in turns)),
                 "lrrrr" + "c" * len(turns), tuple(rows))


def _bold_best(column: Sequence[str]) -> list[Cell]:
    values = [Decimal(v) for v in column if v]
    best = max(values) if values else None
    return [Bold(percent(v)) if v and Decimal(v) == best else percent(v) if v else "n/a" for v in column]


def tasks_table(data: Figures) -> Table:
    shares = data.task_records
    columns = [[share(shares[t][m]) for m in data.models] for t in shares]
    columns.append([r["win_rate"] for r in data.leaderboard])
    cells = [_bold_best(col) for col in columns]
    rows = tuple((m, *(col[i] for col in cells)) for i, m in enumerate(data.models))
    return Table("tasks", "Win rate per task",
                 "Win rate (%) of each model against all others, per task; a tie counts half. "
                 "The best model of each column is in bold.",
                 ("Model", *shares, "Overall"), "l" + "r" * (len(shares) + 1), rows)


def bias_table(bias: BiasResult) -> Table:
    rows = tuple((c.judge, c.check, bias_value(c), bias_interval(c), str(c.n)) for c in bias.checks)
    return Table("bias", "Judge bias checks",
                 "Position, length, self-preference and perturbation-probe checks of each judge "
                 "(95% intervals; n is the number of items behind each figure).",
                 ("Judge", "Check", "Value", "95% CI", "n"), "llrcr", rows,
                 notes=tuple(c.note for c in bias.checks))


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)


def finetune_table(data: Figures) -> Table:
    rows = []
    for f in data.finetunes:
        cfg: Mapping[str, Any] = f.manifest.get("config", {})
        m = f.manifest
        rows.append((f.model, _fmt(m.get("base")), _fmt(cfg.get("four_bit")),
                     " / ".join(_fmt(cfg.get(k)) for k in ("lora_r", "lora_alpha", "lora_dropout")),
                     _fmt(cfg.get("learning_rate")), _fmt(cfg.get("epochs")), _fmt(m.get("steps")),
                     f"{_fmt(cfg.get('batch_size'))} x {_fmt(cfg.get('grad_accum'))}",
                     f"{_fmt(m.get('train_records'))} / {_fmt(m.get('eval_records'))}",
                     f"{_fmt(m.get('eval_loss_before'))} / {_fmt(m.get('eval_loss_after'))}"))
    return Table("finetune", "Fine-tune settings",
                 "QLoRA settings of each fine-tuned candidate, from its adapter's manifest.json.",
                 ("Model", "Base", "4-bit", "LoRA r / alpha / dropout", "LR", "Epochs", "Steps",
                  "Batch x accum", "Train / eval records", "Eval loss before / after"),
                 "llccrrrccc", tuple(rows))


def reliability_table(data: Figures) -> Table:
    """Judge errors (replies with no valid label: counted, never turned into ties) and swap consistency."""
    stats, methods = data.judge_stats, data.judge_methods
    rows = tuple((s.judge, str(s.judgments), str(s.errors), str(s.pairs),
                  "n/a (one order)" if s.one_order else f"{bias_share(s.consistency)} ({s.consistent})",
                  f"{bias_share(s.first_slot_rate)} of {s.decisive}") for s in stats)
    return Table("judges", "Judge reliability",
                 "Judgments with no valid label after all attempts are kept as errors and left out of the "
                 "battles (never counted as ties).",
                 ("Judge", "Judgments", "Errors (no valid label)", "Both orders valid", "Swap-consistent",
                  "Prefers first slot"), "lrrrrr", rows,
                 tuple(method_note(methods[s.judge]) for s in stats))


def grades_table(data: Figures) -> Table:
    rows = tuple((m.model, f"{m.mean:.2f}", f"[{m.lower:.2f}, {m.upper:.2f}]", str(m.n), str(m.errors))
                 for m in data.mean_grades)
    return Table("grades", "Single-answer grades",
                 "Mean grade per model with a t-based 95% interval; the battles compare grades question by "
                 "question.", ("Model", "Mean grade", "95% CI", "Graded", "Errors (no valid grade)"),
                 "lrcrr", rows)


def _tokens(u: UsageLine) -> tuple[str, str]:
    if u.unreported == u.calls:
        return "not reported", "not reported"
    more = f" (+{u.unreported} calls not reported)" if u.unreported else ""
    return f"{u.prompt_tokens:,}{more}", f"{u.completion_tokens:,}{more}"


def usage_table(data: Figures) -> Table:
    """Calls, tokens and cost per model and judge. Reasoning and cached prompt tokens get columns
    when any call had some; a model that decided its own sampling settings (its endpoint refuses
    them), or whose replies were asked again with a larger budget, says so beside its row."""
    thinking = any(u.reasoning_tokens or u.cached_tokens for u in data.usage)
    rows = tuple((u.stage, u.name, str(u.calls), *_tokens(u),
                  *((f"{u.reasoning_tokens:,}", f"{u.cached_tokens:,}") if thinking else ()),
                  "unknown price" if u.cost is None else f"${u.cost:.4f}") for u in data.usage)
    known = [u.cost for u in data.usage if u.cost is not None]
    total = f"Total cost: ${sum(known):.4f}" + (
        " (plus models without a known price)" if len(known) < len(data.usage) else "") + "."
    caption = ("Model calls made for this run directory (all runs on it; answers from the cache cost "
               "nothing), tokens as the backends reported them, and cost from the prices file. ")
    if thinking:
        caption += ("Reasoning tokens are part of the reply tokens and cost as output; cached prompt "
                    "tokens are part of the prompt tokens and cost the prices file's cached_input. ")
    notes = tuple(_usage_note(u) for u in data.usage)
    header = ("Stage", "Model / judge", "Calls", "Prompt tokens", "Reply tokens",
              *(("Reasoning tokens", "Cached prompt tokens") if thinking else ()), "Cost (USD)")
    return Table("usage", "Usage", caption + total, header, "ll" + "r" * (len(header) - 2), rows,
                 notes if any(notes) else ())


def _usage_note(u: UsageLine) -> str:
    said = []
    if u.not_sent:
        said.append(f"The model decided its own {', '.join(u.not_sent)} (the endpoint refuses them, so "
                    "they were not sent).")
    if u.budget_retries:
        said.append(f"{u.budget_retries} calls were cut off while reasoning and asked again with a "
                    "larger budget (both billed).")
    return " ".join(said)


def significance_table(data: Figures) -> Table:
    """Every ordered pair with its win rate interval and an exact sign test."""
    rows = tuple((t.model, t.opponent, str(t.wins), str(t.ties), str(t.losses),
                  with_interval(percent(t.win_rate), percent(t.ci_low), percent(t.ci_high)),
                  p_value(t.p_value),
                  "yes" if t.separable else "no: the data cannot separate them")
                 for t in data.sign_tests)
    return Table("significance", "Sign tests per model pair",
                 "Win rate (%) counts a tie as half a win, with a Wilson 95% interval; p is an exact "
                 "two-sided sign test on wins vs losses, ties excluded.",
                 ("Model", "Opponent", "Win", "Tie", "Lose", "Win rate (%) [95% CI]", "Sign test p",
                  "Separable?"), "llrrrcrl", rows)


def stopping_tables(data: Figures) -> list[Table]:
    """``--stop-when-decided``: where each pair's judging stopped, and why (none when every pair
    was judged on every question)."""
    stops = data.stopping
    if not stops:
        return []
    alphas = ", ".join(dict.fromkeys(f"{s.alpha:g}" for s in stops))
    rows = tuple((s.model_a, s.model_b, s.leader or "undecided", f"{s.questions} / {s.total}",
                  f"{s.judgments} / {s.judgments_total}", f"{s.wins} / {s.ties} / {s.losses}",
                  f"{s.statistic:.1f}", f"{s.threshold:g}") for s in stops)
    caption = ("Judged with --stop-when-decided: each pair's questions in one seeded random order, the pair "
               "stopped at the first battle where a sequential mixture test (Robbins' mixture of likelihood "
               "ratios over the first model's win probability, uniform on each side of 1/2; Ville's "
               "inequality; Howard et al. 2021) named its leader: the leading side's mixture statistic "
               f"reached 2/alpha (alpha {alphas}). The test stays valid however often it is looked at: "
               "two equal models are told apart with probability at most alpha. Ties are uninformative (it "
               "counts the decisive battles only); win / tie / lose is the first model's record in the "
               "battles the test saw. An undecided pair was judged on every question; the other figures of "
               "this report count the questions judged.")
    return [Table("stopping", "Early stopping", caption,
                  ("Model", "Opponent", "Better", "Questions judged", "Judgments", "Win / tie / lose",
                   "Mixture statistic", "2/alpha"), "lllrrcrr", rows, notes=tuple(s.line() for s in stops))]


def panel_tables(data: Figures) -> list[Table]:
    """With several judges: each judge's own leaderboard, and how far the judges agree."""
    if not data.panel:
        return []
    rows = tuple((judge, r.model, rating(r.bt), interval(rating(r.bt_lower), rating(r.bt_upper)), str(r.wins),
                  str(r.ties), str(r.losses), percent(r.win_rate))
                 for judge, ratings in data.panel.items() for r in ratings)
    unbounded = data.panel_unbounded
    each = Table("panel", "Judge panel",
                 "The leaderboard uses the panel's majority verdict; here is each judge alone."
                 + "".join(f" {u}." for u in unbounded),
                 ("Judge", "Model", "BT", "BT 95% CI", "Win", "Tie", "Lose", "Win rate (%)"), "llrcrrrr",
                 rows)
    agree = tuple((a.judge_1, a.judge_2, str(a.n),
                   with_interval(percent(a.rate), percent(a.rate_interval[0]), percent(a.rate_interval[1])),
                   kappa_cell(a.kappa, a.kappa_lower, a.kappa_upper)) for a in data.panel_agreements)
    return [each, Table("agreement", "Agreement between judges",
                        "How often two judges' battle outcomes match on the comparisons both decided. "
                        + INTERVALS_NOTE,
                        ("Judge", "Judge", "Battles", "Agreement (%)", "Cohen's kappa"), "llrrr", agree)]


def length_bins_table(length_bins: Mapping[str, Sequence[tuple[str, int, float]]]) -> Table | None:
    """Share won by the pair's first model by how much longer its answer was, per judge."""
    bins = {j: rows for j, rows in length_bins.items() if any(n for _, n, _ in rows)}
    if not bins:
        return None
    labels = [label for label, _, _ in next(iter(bins.values()))]
    rows = tuple((j, *(f"{bias_share(s)} ({n})" for _, n, s in rs)) for j, rs in bins.items())
    return Table("length_bins", "Win rate by length difference",
                 "Share of verdicts won by the pair's first model, by how many characters longer its "
                 "answer was (n in brackets); a length-blind judge's row does not climb left to right.",
                 ("Judge", *labels), "l" + "r" * len(labels), rows)


def rate_cell(x: float, bounds: tuple[float, float]) -> str:
    """An agreement rate with its interval: percentages with one decimal."""
    return with_interval(*(share_of(v) for v in (x, *bounds)))


def kappa_cell(kappa: float, lower: float, upper: float) -> str:
    """A kappa with its interval."""
    return with_interval(coefficient(kappa), coefficient(lower), coefficient(upper))


INTERVALS_NOTE = ("Brackets: 95% intervals, Wilson's for agreement and a bootstrap of the comparisons "
                  "(1,000 resamples) for Cohen's kappa.")


_ERRORS_RULE = {
    "exclude": "Unparseable verdicts are left out (harness's default) and counted under Errors",
    "wrong": "Unparseable verdicts (counted under Errors) stay in n and count as wrong in each order "
             "where they stand, two of them as the same verdict (--errors wrong, LLMBar's convention)",
    "tie": "Unparseable verdicts (counted under Errors) count as ties (--errors tie, PandaLM's convention)",
}


def human_caption(rule: str = "exclude") -> str:
    """The agreement table's caption, saying how unparseable verdicts counted."""
    return (f"Each judge against each annotator and against the annotators' majority label: {MAJORITY_RULE}. "
            "Agreement, Cohen's kappa and macro-F1 (over model_a / model_b / tie) use the verdict the answer "
            f"orders combine to. {_ERRORS_RULE[rule]}; Errors as wrong counts them as wrong, as "
            "judge-evaluation papers do. With both orders judged: the accuracy in each order (AB, BA), their "
            "average, both orders correct, and positional agreement (both orders gave the same verdict); n/a "
            "for a judge that saw each pair once. Net accuracy is JudgeBench's: each order's verdict adds "
            "one when right and takes one away when wrong, a comparison is right when the sum is positive, "
            "over every comparison with a verdict. " + INTERVALS_NOTE)


def human_tables(human: AgreementReport | None) -> list[Table]:
    """Agreement with the human labels, and between annotators (those that have rows)."""
    if human is None:
        return []
    rows = tuple((r.judge, "majority vote" if r.majority else r.annotator or "(unsigned)", str(r.n),
                  rate_cell(r.agreement, r.agreement_interval),
                  f"{share_of(r.agreement_without_ties)} (n={r.n_without_ties})",
                  kappa_cell(r.kappa, r.kappa_lower, r.kappa_upper), coefficient(r.macro_f1),
                  share_of(r.accuracy_ab), share_of(r.accuracy_ba),
                  share_of(r.accuracy_average), share_of(r.both_correct_rate),
                  share_of(r.positional_agreement),
                  str(r.errors), share_of(r.agreement_errors_as_wrong), share_of(r.accuracy_net))
                 for r in human.judges)
    tables = [Table("human", "Agreement with the human labels", human_caption(human.rule.value),
                    ("Judge", "Annotator", "n", "Agreement", "Without ties", "Cohen's kappa", "Macro-F1",
                     "Accuracy AB", "Accuracy BA", "Average", "Both correct", "Positional agreement",
                     "Errors", "Errors as wrong", "Net accuracy"), "ll" + "r" * 13, rows)] if rows else []
    if human.annotators:
        fleiss = (f"Fleiss' kappa over the {human.fleiss_items} comparisons all {human.raters} annotators "
                  f"labelled: {coefficient(human.fleiss_kappa)}.")
        pairs = tuple((p.a, p.b, str(p.n), rate_cell(p.agreement, p.agreement_interval),
                       kappa_cell(p.kappa, p.kappa_lower, p.kappa_upper)) for p in human.annotators)
        tables.append(Table("human_annotators", "Agreement between annotators",
                            "Agreement and Cohen's kappa of each pair of annotators on the comparisons "
                            f"both labelled. {fleiss} {INTERVALS_NOTE}",
                            ("Annotator", "Annotator", "n", "Agreement", "Cohen's kappa"), "llrrr", pairs))
    return tables


def human_leaderboard_table(board: RatingResult) -> Table:
    """The people's leaderboard: Bradley-Terry on the human labels, best first."""
    ranks = board.rank()
    order = sorted(range(len(board.models)), key=lambda k: -board.ratings[k])
    rows = tuple((str(ranks[k]), board.models[k], rating(board.ratings[k]),
                  interval(rating(board.lower[k]), rating(board.upper[k]))) for k in order)
    return Table("human_leaderboard", "Human leaderboard",
                 "Bradley-Terry ratings on the human labels (each label one battle, both bad a tie), on the "
                 f"judges' scale, with 95% intervals from {board.rounds} bootstrap rounds; compare the order "
                 "with the judges' leaderboard. " + board.note(),
                 ("Rank", "Model", "BT", "BT 95% CI"), "clrc", rows)


CALIBRATED_CAPTION = (
    "Each pair's win rate (the first model's; a tie counts half) as the judge gives it over all N judged "
    "comparisons, and calibrated with the human labels by prediction-powered inference (Angelopoulos et al., "
    "Science 2023): the judge's win rate plus the mean of (human - judge) over the n labelled comparisons, "
    "with the 95% normal interval (alpha 0.05) estimate +/- 1.96 sqrt(var(judge)/N + var(human - judge)/n), "
    "sample variances, and no interval below two labelled comparisons. The human score is the annotators' "
    f"majority label: {MAJORITY_RULE}. A multi-turn question counts once, by its last judged turn. "
    "The interval assumes the labelled comparisons are a random sample of the judged ones. To halve it: "
    "how many more labelled comparisons would, at the variances measured now; when the judge's own term, "
    "1.96 sqrt(var(judge)/N), is already half the interval's half-width or more, labels alone cannot "
    "(judge more questions). "
    "harness human serve --order disagreement (its default) sends people where the judge is least sure: "
    "the right labels for checking the judge, but no random sample; for this estimate collect them with "
    "--order random.")


def _halve_cell(n_judged: int, n_labelled: int, more: int | None, bounds: tuple[float | None, float | None]
                ) -> str:
    """How many more labels would halve the calibrated interval, in words."""
    lower, upper = bounds
    if lower is None or upper is None:
        return "no interval yet: label 2 or more comparisons"
    if upper - lower == 0:
        return "n/a (the interval has no width)"
    if more is None:
        return "labels alone cannot (judge more questions)"
    unlabelled = n_judged - n_labelled
    if more > unlabelled:
        return (f"{more} more labels: more than the {unlabelled} comparisons not yet labelled "
                "(judge more questions too)")
    return f"{more} more labels"


def calibrated_tables(data: Figures) -> list[Table]:
    """The human-calibrated win rate of each pair with labels, beside the judge's own (none
    without labels)."""
    rows = tuple((r.model_a, r.model_b, str(r.n_judged), str(r.n_labelled), percent(r.judge_win_rate),
                  with_interval(percent(r.win_rate), percent(r.lower), percent(r.upper)),
                  _halve_cell(r.n_judged, r.n_labelled, r.more_labels_to_halve, (r.lower, r.upper)))
                 for r in data.calibrated)
    if not rows:
        return []
    return [Table("calibrated", "Human-calibrated win rates", CALIBRATED_CAPTION,
                  ("Model", "Opponent", "Judged (N)", "Labelled (n)", "Judge win rate (%)",
                   "Calibrated win rate (%) [95% CI]", "To halve the interval"), "llrrrcl", rows)]


def bias_section(bias: BiasResult) -> list[Table]:
    """The bias checks, win rate by length difference, and agreement with people (those that exist)."""
    tables = [bias_table(bias) if bias.checks else None, length_bins_table(bias.length_bins),
              *human_tables(bias.human)]
    return [t for t in tables if t is not None]


def summary_tables(data: Figures) -> list[Table]:
    """``leaderboard.md``'s tables, in order (its bias section is :func:`bias_section`)."""
    tables = [leaderboard_table(data), *turn_tables(data)]
    if data.grades:
        tables.append(grades_table(data))
    tables += panel_tables(data)
    if data.usage:
        tables.append(usage_table(data))
    tables.append(significance_table(data))
    tables += stopping_tables(data)
    if data.judgments:
        tables.append(reliability_table(data))
    return tables


LOSS_CUTS = {"answer": 300, "reply": 200, "record": 120}
"""The characters of each text Markdown and LaTeX print in the lost-question table: an answer, a
judge's reply, a training record's prompt and its reply (``[...]`` marks a cut)."""


def _cut(text: str, limit: int) -> str:
    """``text`` as its first ``limit`` characters and ``[...]``; whole when it fits.

    >>> _cut("abcdef", 3), _cut("abc", 3)
    ('abc [...]', 'abc')
    """
    return text if len(text) <= limit else text[:limit].rstrip() + " [...]"


def _nearest_cell(lost: Lost, training: Training | None, cut: Callable[[str, str], str]) -> str:
    """A lost question's nearest training records, best first, in one cell."""
    if training is None:
        return "n/a (not a fine-tune)"
    if not training.records:
        return "n/a (training data not read: see the caption)"
    if not lost.nearest:
        return "none: no training prompt shares a word with the question"
    return " ".join(f"[{i}] ROUGE-L {coefficient(n.score)}, {Path(n.where).name}. Prompt: "
                    f"{cut(n.prompt, 'record')} Reply: {cut(n.reply, 'record')}"
                    for i, n in enumerate(lost.nearest, 1))


def _lost_row(lost: Lost, training: Training | None, judges: bool, cut: Callable[[str, str], str]
              ) -> tuple[Cell, ...]:
    """One lost question: who lost to whom, the question, both answers, the judge's replies in
    each order and the loser's nearest training records (each text through ``cut``)."""
    p = lost.pair
    turn = "" if p.turn is None else f", turn {p.turn}"
    who = f"{lost.loser} lost to {lost.winner}" + (f" (judge {p.judge})" if judges else "")
    replies = " ".join(f"[{p.model_a if o.order == 'ab' else p.model_b} shown first] {cut(o.raw, 'reply')}"
                       for o in p.orders if o.order in ("ab", "ba"))
    asked = " ".join(f"Turn {k}: {user}" for k, (user, _, _) in enumerate(p.conversation, 1)) or p.question
    return (who, f"{p.task} / {p.question_id}{turn}: {cut(asked, 'answer')}", cut(lost.lost_answer, "answer"),
            cut(lost.winning_answer, "answer"), replies, _nearest_cell(lost, training, cut))


LOSSES_CAPTION = (
    "Questions a model lost in both answer orders: the judge preferred the other model's answer whichever "
    "was shown first (the battles the leaderboard counts as losses; a verdict that flips with the order "
    "is a tie, not a loss), out of the comparisons of the two judged in both orders with a valid verdict "
    "in each (every judge's). Fine-tuned models come first. For a fine-tuned model (an adapter "
    "harness finetune trained), the ROUGE-L F-measure of the training prompt nearest each lost question "
    "shown, as the median over them: near 0, the training data held nothing like the questions it lost; "
    "near 1, it held them, and what those records taught may have misled it. A count, not a test: it "
    "claims no difference between the models.")


def losses_tables(data: Figures) -> list[Table]:
    """Per pair, the questions one model lost in both orders, and each shown one with its answers,
    the judge's replies and a fine-tuned loser's nearest training records (none without losses)."""
    found = data.losses
    if not found:
        return []
    trainings = list({p.training.model: p.training for p in found if p.training is not None}.values())
    said = " ".join(f"{t.model}'s training data: {t.source} ({t.records} records)." for t in trainings
                    if t.records)
    notes = " ".join(t.note for t in trainings if t.note)
    rows = []
    for p in found:
        # a question no training prompt shares a word with is as far as can be: 0
        best = [lost.nearest[0].score if lost.nearest else 0.0 for lost in p.shown]
        nearest = ("n/a (not a fine-tune)" if p.training is None else
                   "n/a (training data not read)" if not p.training.records else
                   coefficient(statistics.median(best)))
        rows.append((p.loser, p.winner, f"{p.lost} of {p.judged}", str(len(p.shown)), nearest))
    summary = Table("losses", "Questions lost in both orders",
                    " ".join(s for s in (LOSSES_CAPTION, said, notes) if s),
                    ("Lost by", "Won by", "Lost in both orders", "Shown below",
                     "Nearest training prompt, ROUGE-L (median)"), "llrrr", tuple(rows))
    judges = len({lost.pair.judge for p in found for lost in p.shown}) > 1

    def whole(text: str, kind: str) -> str:
        return text.strip()  # a cell's edges are not the answer's (LaTeX and Markdown drop them)

    def cut(text: str, kind: str) -> str:
        return _cut(text.strip(), LOSS_CUTS[kind])

    full = tuple(_lost_row(lost, p.training, judges, whole) for p in found for lost in p.shown)
    short = tuple(_lost_row(lost, p.training, judges, cut) for p in found for lost in p.shown)
    detail = Table("lost_questions", "The lost questions",
                   f"At most {LOSS_LIMIT} lost questions per pair, in the run's order: the question, the "
                   "loser's and the winner's answers side by side, the judge's reply with each answer shown "
                   f"first, and for a fine-tuned loser the {NEAREST} training records whose prompts are "
                   "nearest the question by ROUGE-L F-measure (best first; fewer where fewer share a word). "
                   f"Markdown and LaTeX cut each answer at {LOSS_CUTS['answer']} characters, each reply at "
                   f"{LOSS_CUTS['reply']} and each training text at {LOSS_CUTS['record']} ([...] marks a "
                   "cut); report.html and report.json hold them whole.",
                   ("Pair", "Question", "Lost answer", "Winning answer", "Judge's replies",
                    "Nearest training records"), "pppppp", full, cut_rows=short)
    return [summary, detail]


def every_table(data: Figures) -> list[Table]:
    """Every table of the report, each once, those with something to show (``report.json`` and
    every format; their order is :data:`harness.reports.sections.SECTIONS`')."""
    tables = [leaderboard_table(data), *turn_tables(data), *baseline_table(data), *soft_table(data),
              *style_tables(data), pairs_table(data), significance_table(data), *stopping_tables(data),
              tasks_table(data),
              *([grades_table(data)] if data.grades else []), *panel_tables(data),
              *([reliability_table(data)] if data.judgments else []), *bias_section(data.bias)]
    if data.human_board is not None:
        tables.append(human_leaderboard_table(data.human_board))
    tables += calibrated_tables(data)
    if data.finetunes:
        tables.append(finetune_table(data))
    tables += losses_tables(data)
    if data.usage:
        tables.append(usage_table(data))
    return tables
