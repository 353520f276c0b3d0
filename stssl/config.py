"""Run configurations and profiles.

A :class:`RunConfig` fully determines a run (the run cache hashes it). A *profile* is a named
set of defaults for scale — ``paper`` (the authors' ``config/bigearthnet/*.yaml``, ViT-S, real data,
a GPU), ``cpu`` (the
embedded GeoSynth data and a tiny ViT, sized for a 2-core laptop) and ``smoke`` (a few steps,
for tests) — and any field can be overridden by name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from stssl.algorithms import ALGORITHMS, check_algorithm, check_params
from stssl.algorithms.steps import DISTILL_LOSSES, DISTILL_TARGETS
from stssl.core.checks import BOOL, ConfigError, Kind, Number, OneOf, Rule, check, check_all
from stssl.core.devices import DEVICE
from stssl.data import SPLITS, DataSplits, canonical_params, check_dataset_params, load_data, registry
from stssl.encoders import LOCATION_ENCODERS
from stssl.encoders.season import MAX_HARMONICS
from stssl.meta import METADATA_COMPONENTS, MISSING_METADATA
from stssl.models.vit import FUSIONS, VIT_SIZES


@dataclass(frozen=True)
class RunConfig:
    profile: str
    dataset: str = "geosynth"
    data_root: str | None = None
    dataset_params: dict = field(default_factory=dict)  # e.g. GeoSynth n_samples, context_strength
    algo: str = "fixmatch"
    st: bool = False  # True: "+ ST-SSL" (teacher with metadata, student without)
    algo_params: dict = field(default_factory=dict)  # e.g. {"threshold": [0.05, 0.7]}
    label_fraction: float = 0.01
    num_labels: int | None = None  # instead: this many labels, the same number per class (EuroSAT 10/20/40/80)
    split: str = "standard"  # "geographic": Portugal and Ireland held out for test (Table 3 e, f); "seco": the paper's
    model: str = "vit_small_patch16"
    # a local timm ViT checkpoint for the body (the authors' ``pretrain_path``); nothing is downloaded
    pretrained: str | None = None
    image_size: int = 128
    steps: int = 64_000
    batch_lb: int = 64
    uratio: int = 7
    lr: float = 1e-4
    weight_decay: float = 5e-4
    warmup_steps: int = 0
    ema: float = 0.999
    lambda_u: float = 1.0
    lambda_d: float = 1.0
    distill: str = "mse"  # distillation loss: mse | mae | cos
    # Table 2's ablations of + ST-SSL (the defaults are the method):
    metadata: str = "location+time"  # what the teacher sees: "location" (b, without T) | "time" (c, without G)
    fusion: str = "early"  # "late" (d): MLP(meta) added to the CLS output before the head
    single_model: bool = False  # (e): one network is teacher (with metatoken) and student (without)
    distill_target: str = "meta"  # "cls" (i): the teacher's CLS output instead of its metatoken output
    stop_gradient: bool = True  # False (j): the distillation loss also trains the teacher
    # Beyond the paper: how the teacher's metadata is encoded (stssl.meta; the defaults are the paper's)
    meta_encoding: str = "paper"  # location: "paper" [lat/90, lon/180] | "fourier" | "sphere"
    doy_harmonics: int = 1  # day of year: sin/cos of K harmonics of the year
    # Beyond the paper: how the teacher's metadata is made to say less (the defaults: as the paper's)
    permute_metadata: bool = False  # the teacher trains on another training sample's metadata (the control)
    meta_missing: str = "none"  # "learned": a missing place or date is a learned embedding (else a place must exist)
    meta_dropout: float = 0.0  # share of training samples whose place, and independently whose date, is hidden
    hide_place: float = 0.0  # share of the training images that have no place at all (an archive that lost it)
    hide_date: float = 0.0  # share of the training images that have no date at all
    eval_every: int = 2000
    eval_batch_size: int = 512
    patience: int | None = None  # early stopping, in steps after the best evaluation
    eval_teacher: bool = True  # ST runs: also evaluate the teacher with metadata
    precision: str = "32-true"
    grad_checkpointing: bool = False  # less memory, more compute; same results
    compile: bool = False  # torch.compile the transformer blocks: faster steps, equal results up to rounding
    seed: int = 0
    device: str = "auto"  # not part of the run's identity

    @property
    def batch_ulb(self) -> int:
        return self.batch_lb * self.uratio

    def key(self) -> str:
        """Content hash of everything that determines the results.

        ``device``, ``grad_checkpointing`` and ``compile`` change how a run is computed, not
        what, and are left out, as are the data-set parameters that say how the data are read
        (:data:`~stssl.data.registry.READING_PARAMS`). So is every field at its declared default:
        a new option added with a default that keeps the old behaviour leaves the keys of cached
        runs valid.
        """
        d = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("device", "grad_checkpointing", "compile") and getattr(self, f.name) != _default(f)
        }
        if "dataset_params" in d:
            d["dataset_params"] = {k: v for k, v in d["dataset_params"].items() if k not in registry.READING_PARAMS}
            if not d["dataset_params"]:
                del d["dataset_params"]
        return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]

    def to_yaml(self) -> str:
        """Every field, as the run folder's ``config.yaml`` and a sweep's job file keep it."""
        return yaml.safe_dump(json.loads(json.dumps(dataclasses.asdict(self))), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str, source: str = "the run config") -> RunConfig:
        """The config :meth:`to_yaml` wrote, exactly (not resolved again: a folder data set's
        table fingerprint stays the one the run was trained on). ``source`` names the text in errors."""
        fields = load_yaml(text, source)
        if not isinstance(fields, dict):
            raise ConfigError(f"{source}: a run config must be a mapping of config fields")
        unknown = set(fields) - {f.name for f in dataclasses.fields(cls)}
        if unknown or "profile" not in fields:
            raise ConfigError(
                f"unknown config field(s) {', '.join(sorted(unknown))}" if unknown else "a run config needs its profile"
            )
        return cls(**fields)

    def describe(self) -> str:
        name = self.algo + (" + ST-SSL" if self.st else "")
        labels = f"{self.num_labels} labels" if self.num_labels else f"{self.label_fraction:.1%} labels"
        return (
            f"{name} on {self.dataset} ({self.profile} profile): {labels}, "
            f"{self.steps} steps, {self.model} at {self.image_size} px, seed {self.seed}"
        )


def load_yaml(text: str, source: str) -> Any:
    """``text`` read as YAML's safe subset; a syntax error or a tag (``!!python/...``) is one
    :class:`ConfigError` line naming ``source`` and where."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{source}{where}: not valid YAML ({problem})") from None


def _default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


_PAPER_BIGEARTHNET: dict[str, Any] = dict(
    dataset="bigearthnet",
    model="vit_small_patch16",
    image_size=128,
    label_fraction=0.01,
    steps=64_000,
    batch_lb=64,
    uratio=7,
    lr=1e-4,
    weight_decay=5e-4,
    warmup_steps=0,
    ema=0.999,
    lambda_d=1.0,
    eval_every=2000,
    eval_batch_size=512,
    patience=16_000,
    precision="bf16-mixed",
    split="seco",  # the paper's: SeCo's lists less cloudy, shadowed and snowy patches
)

PROFILES: dict[str, dict[str, Any]] = {
    "paper": _PAPER_BIGEARTHNET,
    # Sizes from a feasibility probe on 2 cores: 1000 steps at lr 1e-3 with EMA 0.99 was the smallest
    # budget with a clear effect; lambda_D = 1 hurt tiny from-scratch students, 0.1 did not.
    # 5 % labels of GeoSynth's 14 000 training images is ~60 labelled images per class,
    # about what BigEarthNet's 1 % gives per class (2.7k labels, 43 classes).
    "cpu": dict(
        dataset="geosynth",
        model="vit_tiny_patch8",
        image_size=32,
        label_fraction=0.05,
        steps=1000,
        batch_lb=16,
        uratio=3,
        lr=1e-3,
        weight_decay=5e-4,
        warmup_steps=0,
        ema=0.99,
        lambda_d=0.1,
        eval_every=100,
        eval_batch_size=1024,
        patience=None,
        precision="32-true",
    ),
    "smoke": dict(
        dataset="geosynth",
        dataset_params={"n_samples": 2000},
        model="vit_micro_patch8",
        image_size=32,
        label_fraction=0.1,
        steps=20,
        batch_lb=8,
        uratio=2,
        lr=1e-3,
        ema=0.9,
        lambda_d=0.1,
        eval_every=10,
        eval_batch_size=512,
        patience=None,
        precision="32-true",
    ),
}

# Per algorithm: the supervised baseline uses no EMA (the authors' ``ema_m: 0``); DeFixMatch weighs its
# unlabelled and anti terms by 0.5 (the authors' ``ulb_loss_ratio``). Each algorithm's own hyper-parameters
# (thresholds, momenta, schedules) default in its class and are set through ``algo_params``.
ALGO_OVERRIDES: dict[str, dict[str, Any]] = {"supervised": dict(ema=0.0), "defixmatch": dict(lambda_u=0.5)}


PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true")  # Lightning's names
SEED = Number(0, 2**32 - 1, integer=True)  # the range Lightning's seed_everything accepts


def field_rules() -> dict[str, Rule]:
    """The valid values of every :class:`RunConfig` field (``image_size`` must also be a multiple of
    the model's patch size). The device's syntax only: whether this machine has it is
    :func:`stssl.core.devices.check_device`'s question, asked where the run is trained."""
    count, path, params = Number(1, integer=True), Kind(str, "a path", optional=True), Kind(dict, "a dict")
    return dict(
        profile=OneOf(tuple(PROFILES)),
        dataset=OneOf(registry.names()),
        data_root=path,
        dataset_params=params,
        algo=OneOf(tuple(ALGORITHMS)),
        st=BOOL,
        algo_params=params,
        label_fraction=Number(0, 1, open_low=True),
        num_labels=Number(1, integer=True, optional=True),
        split=OneOf(SPLITS),
        model=OneOf(tuple(VIT_SIZES)),
        pretrained=path,
        image_size=count,
        steps=count,
        batch_lb=count,
        uratio=count,
        lr=Number(0, 1, open_low=True),
        weight_decay=Number(0),
        warmup_steps=Number(0, integer=True),
        ema=Number(0, 1, open_high=True),
        lambda_u=Number(0),
        lambda_d=Number(0),
        distill=OneOf(DISTILL_LOSSES),
        metadata=OneOf(METADATA_COMPONENTS),
        meta_encoding=OneOf(tuple(LOCATION_ENCODERS)),
        doy_harmonics=Number(1, MAX_HARMONICS, integer=True),
        permute_metadata=BOOL,
        meta_missing=OneOf(MISSING_METADATA),
        meta_dropout=Number(0, 1, open_high=True),
        hide_place=Number(0, 1),
        hide_date=Number(0, 1),
        fusion=OneOf(FUSIONS),
        single_model=BOOL,
        distill_target=OneOf(DISTILL_TARGETS),
        stop_gradient=BOOL,
        eval_every=count,
        eval_batch_size=count,
        patience=Number(1, integer=True, optional=True),
        eval_teacher=BOOL,
        precision=OneOf(PRECISIONS),
        grad_checkpointing=BOOL,
        compile=BOOL,
        seed=SEED,
        device=DEVICE,
    )


def resolve(profile: str = "cpu", **overrides: Any) -> RunConfig:
    """Profile defaults, then data-set and algorithm defaults, then ``overrides``.

    Every setting is checked first: a one-line :class:`~stssl.core.checks.ConfigError` names the field,
    the value and what is valid, before any folder is created or any data is loaded.
    """
    rules = field_rules()
    check("profile", profile, rules["profile"])
    unknown = set(overrides) - {f.name for f in dataclasses.fields(RunConfig)}
    if unknown:
        raise ConfigError(f"unknown config field(s) {', '.join(sorted(unknown))}")
    check_all(overrides, rules)
    values = dict(PROFILES[profile])
    dataset = overrides.get("dataset", values.get("dataset"))
    if dataset != values.get("dataset"):  # a profile's data-set parameters and split belong to its data set
        values.pop("dataset_params", None)
        values.pop("split", None)
    values.update(registry.get(dataset).profile_overrides.get(profile, {}))
    algo = overrides.get("algo", "fixmatch")
    values.update(ALGO_OVERRIDES.get(algo, {}))
    values.update(overrides)
    check_dataset_params(values["dataset"], values.get("dataset_params", {}))
    values["dataset_params"] = registry.get(values["dataset"]).identify(
        values.get("data_root"), canonical_params(values["dataset"], values.get("dataset_params", {}))
    )
    cfg = RunConfig(profile=profile, **values)
    check_params(cfg.algo, cfg.algo_params)
    _check_task(cfg)
    _check_encoding(cfg)
    if cfg.st and not check_algorithm(cfg.algo).uses_unlabelled:
        raise ConfigError(f"+ST-SSL needs an SSL algorithm, not {cfg.algo!r}")
    _check_image_size(cfg)
    _check_st_options(cfg)
    _check_split(cfg)
    return cfg


def _check_encoding(cfg: RunConfig) -> None:
    """A location encoding that needs an optional package (GeoCLIP's) finds it installed."""
    needs = getattr(LOCATION_ENCODERS[cfg.meta_encoding], "requires", None)
    if needs is not None and importlib.util.find_spec(needs) is None:
        raise ConfigError(
            f"meta_encoding={cfg.meta_encoding!r} needs the package {needs}, an optional extra: "
            f"pip install 'stssl[{needs}]'"
        )


def _check_task(cfg: RunConfig) -> None:
    """The data set's labels (multi- or single-label), when known before they are read, suit the algorithm."""
    multilabel = registry.get(cfg.dataset).is_multilabel(cfg.dataset_params)
    if multilabel is not None:
        check_algorithm(cfg.algo, multilabel)


def _check_split(cfg: RunConfig) -> None:
    """The geographic split needs a data set whose samples carry countries."""
    splits = registry.get(cfg.dataset).splits
    if cfg.split not in splits:
        raise ConfigError(f"invalid split={cfg.split!r} for {cfg.dataset}; valid: {', '.join(splits)}")


def _check_image_size(cfg: RunConfig) -> None:
    patch = VIT_SIZES[cfg.model].patch_size
    if cfg.image_size % patch:
        raise ConfigError(
            f"invalid image_size={cfg.image_size}; valid: a multiple of {patch}, the patch size of {cfg.model}"
        )


def _check_st_options(cfg: RunConfig) -> None:
    """Only + ST-SSL runs (which have a teacher) take the ablation options."""
    changed = [f.name for f in dataclasses.fields(cfg) if f.name in ST_OPTIONS and getattr(cfg, f.name) != _default(f)]
    if changed and not cfg.st:
        raise ConfigError(f"{', '.join(changed)} change(s) the teacher or the distillation: they need st=True")
    if cfg.single_model and cfg.fusion != "early":
        raise ConfigError("single_model shares one network with a metatoken: it needs fusion='early'")
    hiding = [name for name in ("meta_dropout", "hide_place", "hide_date") if getattr(cfg, name) > 0]
    if hiding and cfg.meta_missing != "learned":
        raise ConfigError(f"{', '.join(hiding)} hide(s) metadata during training: it needs meta_missing='learned'")


ST_OPTIONS = (
    "metadata",
    "fusion",
    "single_model",
    "distill_target",
    "stop_gradient",
    "meta_encoding",
    "doy_harmonics",
    "permute_metadata",
    "meta_missing",
    "meta_dropout",
)


SEEDS = "a count >= 1 (3: seeds 0, 1, 2), a text '0,1,2' or a list of distinct seeds, each " + str(SEED)


def seed_list(seeds: int | str | list[int]) -> list[int]:
    """Notebook ``seeds``: a count (``3`` -> 0, 1, 2), a string ``"0,1,2"`` or a list; a
    :class:`~stssl.core.checks.ConfigError` naming what is valid otherwise."""
    if isinstance(seeds, str):
        items = [int(s) if s.isdecimal() else s for s in seeds.replace(" ", "").split(",") if s]
    elif isinstance(seeds, (list, tuple, range)):
        items = list(seeds)
    else:
        items = list(range(seeds)) if seeds in Number(1, integer=True) else []
    if not items or any(s not in SEED for s in items) or len(set(items)) < len(items):
        raise ConfigError(f"invalid seeds={seeds!r}; valid: {SEEDS}")
    return items


def distinct(cfgs: list[RunConfig]) -> list[RunConfig]:
    """Each run once, in first-seen order (pages share runs: Table 1's FixMatch + ST-SSL is also
    Table 2 a, Table 3 a, ...)."""
    return list({(c.dataset, c.key()): c for c in cfgs}.values())


def run_data(cfg: RunConfig) -> DataSplits:
    """A run's data: its data set at the run's image size, its split and its labelled subset."""
    params = {"image_size": cfg.image_size, **cfg.dataset_params}
    return load_data(
        cfg.dataset, cfg.data_root, params, cfg.label_fraction, cfg.seed, split=cfg.split, num_labels=cfg.num_labels
    )
