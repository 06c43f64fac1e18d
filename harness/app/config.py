"""The run configuration: built by the CLI or loaded from YAML, then handed to :func:`run`.

Unknown keys are errors naming the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core import rundir
from harness.core.errors import HarnessError
from harness.core.files import check_fields, read_yaml
from harness.core.numbers import SEED_MAX, Bounds, check_number
from harness.core.types import DecodingParams, ModelConfig
from harness.judges.conversation import check_turns
from harness.judges.pairwise import JudgeSettings
from harness.judges.sequential import ALPHA as STOP_ALPHA
from harness.models.endpoints import API_BOUNDS, ENDPOINT_BOUNDS, ApiConfig, EndpointSettings
from harness.reports.build import REPORT_FORMATS, check_report_formats
from harness.stats.bradley_terry import parse_prior_sd


def default_models() -> tuple[ModelConfig, ...]:
    """Seed 004's experiment on the embedded model: one model, three decoding strategies."""
    return (
        ModelConfig("greedy", "embedded", DecodingParams(max_new_tokens=96)),
        ModelConfig("nucleus", "embedded",
                    DecodingParams(max_new_tokens=96, temperature=0.7, top_p=0.9, top_k=50)),
        ModelConfig("hot", "embedded", DecodingParams(max_new_tokens=96, temperature=1.6)),
    )


# One table for the flags, --config files and a run's config.yaml (which core reads and checks).
RUN_BOUNDS: Mapping[str, Bounds] = rundir.RUN_BOUNDS
DECODING_BOUNDS: Mapping[str, Bounds] = {
    "max_new_tokens": Bounds(int, low=1),
    "temperature": Bounds(float, low=0),
    "top_k": Bounds(int, low=0),
    "top_p": Bounds(float, low=0, high=1, low_open=True),
    "num_beams": Bounds(int, low=1),
    "seed": Bounds(int, low=0, high=SEED_MAX),
}
JUDGE_BOUNDS: Mapping[str, Bounds] = {
    # 0 attempts would ask nothing and record every judgment as an error.
    "max_attempts": Bounds(int, low=1),
}
BOUNDS: Mapping[str, Bounds] = {**RUN_BOUNDS, **DECODING_BOUNDS, **JUDGE_BOUNDS, **ENDPOINT_BOUNDS,
                                **API_BOUNDS}
"""Every numeric setting of a run, by its config field name; flags use the same entries. A name
in two sections (``seed``) has one range in both."""


def check_value(value: Any, *, field: str, where: str) -> Any:
    """``value`` checked against the range of setting ``field``, however it was given: ``where``
    names it for the user (``run.yaml: field 'seed'`` or ``--seed``)."""
    return check_number(value, bounds=BOUNDS[field], field=field, where=where)


def check_run_name(name: Any, *, where: str) -> str:
    """``name`` if it can be the one folder ``runs/<name>``, so that no name writes elsewhere."""
    plain = (isinstance(name, str) and name != "" and not name.startswith(".")
             and not any(c in name for c in "/\\") and name.isprintable()
             and len(name.encode("utf-8", "surrogatepass")) <= 255)
    if not plain:
        raise HarnessError(f"{where}: {name!r} is not a plain name; the run folder runs/<name> needs a "
                           "non-empty name of printable characters, at most 255 bytes, with no '/' or "
                           "'\\', not starting with '.'")
    return name


@dataclass(frozen=True)
class RunConfig:
    """Everything one ``harness run`` needs."""

    name: str = "default"
    """Names the default output folder ``runs/<name>``."""
    tasks: tuple[str, ...] = ()
    """Task ids; empty means every available task."""
    models: tuple[ModelConfig, ...] = field(default_factory=default_models)
    judges: tuple[JudgeSettings, ...] = (JudgeSettings(),)
    """One judge, or a panel whose majority verdict makes the battles."""
    limit: int | None = None
    """Only the first N questions of each task (for quick trials)."""
    out: Path | None = None
    """The run directory; default ``runs/<name>``."""
    tasks_dirs: tuple[Path, ...] = ()
    prompts_dirs: tuple[Path, ...] = ()
    batch_size: int = 64
    """Questions per generation batch (local models batch them; endpoints get them concurrently).
    A local model on a CPU generates faster in larger batches (``benchmarks/bench_generation.py``)."""
    elo_rounds: int = 100
    """Shuffled orders averaged by the Elo rating."""
    bootstrap: int = 1000
    """Bootstrap rounds behind the rating intervals."""
    seed: int = 0
    """Seed of the Elo shuffles."""
    api: ApiConfig = field(default_factory=ApiConfig)
    """Limits, retries, keys and the budget for remote (``openai:``) models and judges."""
    report: tuple[str, ...] = REPORT_FORMATS
    """Report formats written to ``RUN_DIR/report`` at the end (empty: none)."""
    prior_sd: float | None = None
    """Bradley-Terry's prior (``harness.stats.bradley_terry``): None, the maximum-likelihood fit
    wherever it exists (what FastChat and Arena-Hard compute) and the weak prior only where it does
    not; a number (``inf``: never a prior) for every fit."""
    progress: bool = True
    batch_api: bool = False
    """Send the remote calls through the endpoint's Batch API (``--batch-api``): how calls are
    sent, not what they compute, so neither written to config.yaml nor part of any cache key."""
    batch_poll: float = 30.0
    """Seconds between status checks of a pending batch (``--batch-poll``)."""
    stop_when_decided: bool = False
    """Judge each model pair in a seeded random question order and stop it once an anytime-valid
    test decides it (``--stop-when-decided``, :mod:`harness.judges.sequential`)."""
    stop_alpha: float = STOP_ALPHA
    """That test's level (``--stop-alpha``)."""

    @property
    def run_dir(self) -> Path:
        return self.out if self.out is not None else Path("runs") / self.name

    def __post_init__(self) -> None:
        check_run_name(self.name, where="run config: name")
        for key in RUN_BOUNDS:
            if getattr(self, key) is not None:
                check_value(getattr(self, key), field=key, where=f"run config: {key}")
        for model in self.models:
            check_decoding(model.decoding, where=f"model {model.name!r}")
        for judge in self.judges:
            check_value(judge.max_attempts, field="max_attempts", where=f"judge {judge.spec!r}: max_attempts")
            check_decoding(judge.decoding, where=f"judge {judge.spec!r}")
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise HarnessError(f"model name {dupes[0]!r} is used twice; names must be unique")
        if not self.models:
            raise HarnessError("no models to evaluate")
        if not self.judges:
            raise HarnessError("no judge given")
        check_report_formats(self.report)

    def to_row(self) -> dict[str, Any]:
        """The YAML-ready form, readable back by :func:`parse_config`."""
        row = dataclasses.asdict(self)
        del row["progress"]  # how the run is shown, not what it computes
        del row["batch_api"], row["batch_poll"]  # how its calls are sent, likewise
        row["tasks"] = list(self.tasks)
        row["models"] = [_model_row(m) for m in self.models]
        # Multi-turn settings are written only when set, so a single-turn run's config.yaml is
        # what it was before they existed.
        row["judge"] = [{k: v for k, v in j.items()
                         if not (k in ("turns", "turn_prompt") and v == getattr(JudgeSettings(), k))}
                        for j in row.pop("judges")]
        row["out"] = str(self.out) if self.out is not None else None
        row["tasks_dirs"] = [str(p) for p in self.tasks_dirs]
        row["prompts_dirs"] = [str(p) for p in self.prompts_dirs]
        row["api"] = self.api.to_row()
        row["report"] = list(self.report)
        if not self.stop_when_decided:  # written only when chosen, as prior_sd below
            del row["stop_when_decided"], row["stop_alpha"]
        if self.prior_sd is None:  # written only when chosen, so config.yaml is what it was before
            del row["prior_sd"]
        else:
            row["prior_sd"] = "inf" if math.isinf(self.prior_sd) else self.prior_sd
        return row


def _model_row(model: ModelConfig) -> dict[str, Any]:
    """A model's config row; ``reasoning_tags`` only when set, so a config.yaml is what it was
    before they existed."""
    row = dataclasses.asdict(model)
    row["decoding"] = model.decoding.to_row()
    if model.reasoning_tags is None:
        del row["reasoning_tags"]
    else:
        row["reasoning_tags"] = [list(pair) for pair in model.reasoning_tags]
    return row


def load_config(path: Path) -> RunConfig:
    """Read a YAML run config; relative paths in it are relative to the file."""
    data = read_yaml(path)
    return parse_config(data or {}, str(path), base=path.parent, default_name=path.stem)


def parse_config(data: Any, source: str, base: Path = Path("."),
                 default_name: str = "default") -> RunConfig:
    where = source
    if not isinstance(data, dict):
        raise HarnessError(f"{where}: expected a mapping")
    fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    _check_keys(data, (set(fields) - {"progress", "batch_api", "batch_poll", "judges"}) | {"judge"}, where)
    name = data.get("name", default_name)
    if isinstance(name, int) and not isinstance(name, bool):
        name = str(name)  # `name: 2024` is a fine folder name
    given = "field 'name'" if "name" in data else "the run name (from the file name)"
    kw: dict[str, Any] = {"name": check_run_name(name, where=f"{where}: {given}")}
    if "tasks" in data:
        kw["tasks"] = tuple(_str_list(data["tasks"], f"{where}: field 'tasks'"))
    if "models" in data:
        models = data["models"]
        if not isinstance(models, list) or not models:
            raise HarnessError(f"{where}: field 'models' must be a non-empty list")
        kw["models"] = tuple(_model(m, f"{where}: models[{i}]") for i, m in enumerate(models))
    if "judge" in data:
        raw = data["judge"] if isinstance(data["judge"], list) else [data["judge"]]
        if not raw:
            raise HarnessError(f"{where}: field 'judge' is an empty list")
        kw["judges"] = tuple(_judge(j, f"{where}: judge[{i}]") for i, j in enumerate(raw))
    for key in RUN_BOUNDS:
        if data.get(key) is not None:
            kw[key] = check_value(data[key], field=key, where=f"{where}: field {key!r}")
    if data.get("out") is not None:
        kw["out"] = base / str(data["out"])
    for key in ("tasks_dirs", "prompts_dirs"):
        if key in data:
            kw[key] = tuple(base / p for p in _str_list(data[key], f"{where}: field {key!r}"))
    if data.get("api") is not None:
        kw["api"] = parse_api(data["api"], f"{where}: api", base)
    if "report" in data:
        kw["report"] = tuple(_str_list(data["report"] or [], f"{where}: field 'report'"))
        check_report_formats(kw["report"], f"{where}: field 'report': ")
    if data.get("prior_sd") is not None:
        kw["prior_sd"] = prior_sd(data["prior_sd"], where=f"{where}: field 'prior_sd'")
    if data.get("stop_when_decided") is not None:
        if not isinstance(data["stop_when_decided"], bool):
            raise HarnessError(f"{where}: field 'stop_when_decided': expected true or false, got "
                               f"{data['stop_when_decided']!r}")
        kw["stop_when_decided"] = data["stop_when_decided"]
    return RunConfig(**kw)


def prior_sd(value: Any, *, where: str) -> float | None:
    """Bradley-Terry's prior as given in a config or a flag (:func:`parse_prior_sd`)."""
    return parse_prior_sd(value, where=where)


ENDPOINT_FIELDS = {f.name: f for f in dataclasses.fields(EndpointSettings)}


def parse_api(raw: Any, where: str, base: Path = Path(".")) -> ApiConfig:
    """The ``api:`` section: endpoint settings (defaults, and per base URL under ``endpoints``)
    plus ``max_cost``, ``max_tokens`` and ``prices``."""
    if not isinstance(raw, dict):
        raise HarnessError(f"{where}: expected a mapping")
    _no_key(raw, where)
    _check_keys(raw, set(ENDPOINT_FIELDS) | {"endpoints", "max_cost", "max_tokens", "prices"}, where)
    if "replicas" in raw:
        raise HarnessError(f"{where}: replicas serve one endpoint; list them under endpoints, e.g. "
                           "endpoints: {http://gpu-pool/v1: {replicas: [URL, URL]}}")
    default = _endpoint(raw, EndpointSettings(), where, base)
    per_url = raw.get("endpoints") or {}
    if not isinstance(per_url, dict):
        raise HarnessError(f"{where}: field 'endpoints' must map base URLs to settings")
    endpoints = {str(url).rstrip("/"): _endpoint(v, default, f"{where}: endpoints[{url!r}]", base)
                 for url, v in per_url.items()}
    budget = {key: check_value(raw[key], field=key, where=f"{where}: {key}")
              for key in API_BOUNDS if raw.get(key) is not None}
    return ApiConfig(default, endpoints, **budget,
                     prices=(base / str(raw["prices"])).resolve() if raw.get("prices") else None)


def _endpoint(raw: Any, defaults: EndpointSettings, where: str, base: Path) -> EndpointSettings:
    if not isinstance(raw, dict):
        raise HarnessError(f"{where}: expected a mapping of endpoint settings")
    _no_key(raw, where)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in ENDPOINT_FIELDS:
            if where.endswith("]"):  # inside endpoints[...], only endpoint settings belong
                _check_keys(raw, set(ENDPOINT_FIELDS), where)
            continue
        if key in ("api_key_env", "api_key_file"):
            if value is not None and not isinstance(value, str):
                raise HarnessError(f"{where}: {key} must be a string, got {value!r}")
            if key == "api_key_file" and value:
                # Absolute, so that the copy of the config in the run directory still finds it.
                value = str((base / Path(value).expanduser()).resolve())
            values[key] = value
        elif value is None and key in ("rpm", "tpm"):
            values[key] = None  # no limit
        elif key == "replicas":
            # EndpointSettings checks the URLs; the list names the endpoint's servers, so the
            # endpoint's own key stays the name its models use (openai:MODEL@NAME).
            values[key] = () if value is None else value
        else:
            values[key] = check_value(value, field=key, where=f"{where}: {key}")
    try:
        return dataclasses.replace(defaults, **values)
    except HarnessError as exc:
        raise HarnessError(f"{where}: {exc}") from None


def _no_key(raw: dict, where: str) -> None:
    if "api_key" in raw:
        raise HarnessError(f"{where}: do not put an API key in a run config (it is copied into the "
                           "run directory); set OPENAI_API_KEY, or name a file with api_key_file")


def _model(raw: Any, where: str) -> ModelConfig:
    if not isinstance(raw, dict):
        raise HarnessError(f"{where}: expected a mapping with 'name' and 'spec'")
    _check_keys(raw, {"name", "spec", "decoding", "system_prompt", "reasoning_tags"}, where)
    for key in ("name", "spec"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise HarnessError(f"{where}: field {key!r} must be a non-empty string")
    tags = (reasoning_tags(raw["reasoning_tags"], f"{where}: field 'reasoning_tags'")
            if "reasoning_tags" in raw else None)
    return ModelConfig(raw["name"], raw["spec"], decoding(raw.get("decoding") or {}, where),
                       str(raw.get("system_prompt") or ""), tags)


def reasoning_tags(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    """Markers of a leading reasoning block: ``[OPEN, CLOSE]``, a list of such pairs, or ``[]``
    (none: the replies are kept whole).

    >>> reasoning_tags(["<reasoning>", "</reasoning>"], "x")
    (('<reasoning>', '</reasoning>'),)
    """
    if isinstance(raw, list) and len(raw) == 2 and all(isinstance(t, str) for t in raw):
        raw = [raw]
    ok = isinstance(raw, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(t, str) and t.strip() for t in p)
        for p in raw)
    if not ok:
        raise HarnessError(f"{where}: expected [OPEN, CLOSE] (e.g. ['<think>', '</think>']), a list "
                           f"of such pairs, or [] for none; got {raw!r}")
    return tuple((p[0], p[1]) for p in raw)


def _judge(raw: Any, where: str) -> JudgeSettings:
    if isinstance(raw, str):
        return JudgeSettings(spec=raw)
    if not isinstance(raw, dict):
        raise HarnessError(f"{where}: expected a spec string or a mapping")
    _check_keys(raw, {f.name for f in dataclasses.fields(JudgeSettings)}, where)
    kw: dict[str, Any] = {k: str(raw[k]) for k in ("spec", "prompt", "method", "turns", "turn_prompt")
                          if k in raw}
    if "turns" in kw:
        check_turns(kw["turns"], f"{where}: field 'turns'")
    if "max_attempts" in raw:
        kw["max_attempts"] = check_value(raw["max_attempts"], field="max_attempts",
                                         where=f"{where}.max_attempts")
    if "decoding" in raw:
        kw["decoding"] = decoding(raw["decoding"], where, JudgeSettings().decoding)
    return JudgeSettings(**kw)


def decoding(raw: Mapping[str, Any], where: str,
             defaults: DecodingParams | None = None) -> DecodingParams:
    """Decoding parameters from a mapping; unknown names and wrong types are errors."""
    if not isinstance(raw, Mapping):
        raise HarnessError(f"{where}: field 'decoding' must be a mapping")
    base = defaults or DecodingParams()
    _check_keys(raw, {*DECODING_BOUNDS, "reasoning_effort"}, f"{where}: decoding")
    values: dict[str, Any] = {
        key: (check_effort(value, where=f"{where}: decoding.{key}") if key == "reasoning_effort"
              else check_value(value, field=key, where=f"{where}: decoding.{key}"))
        for key, value in raw.items()}
    return dataclasses.replace(base, **values)


def check_effort(value: Any, *, where: str) -> str:
    """A ``reasoning_effort`` level: a short lower-case word (each provider lists its own: OpenAI's
    minimal, low, medium, high; Gemini's none, low, medium, high), or "" for the model's default.

    >>> check_effort("high", where="x")
    'high'
    """
    if value is None:
        return ""
    if not isinstance(value, str) or not re.fullmatch(r"[a-z][a-z_-]{0,15}|", value):
        raise HarnessError(f"{where}: expected a reasoning effort such as low, medium or high, got "
                           f"{value!r}")
    return value


def check_decoding(p: DecodingParams, *, where: str) -> None:
    """Every decoding parameter of ``p`` in its range (for parameters built in Python)."""
    for key in DECODING_BOUNDS:
        check_value(getattr(p, key), field=key, where=f"{where}: decoding.{key}")
    check_effort(p.reasoning_effort, where=f"{where}: decoding.reasoning_effort")


def _check_keys(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    check_fields(raw, (), sorted(allowed), where)


def _str_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HarnessError(f"{where} must be a list of strings")
    return value
