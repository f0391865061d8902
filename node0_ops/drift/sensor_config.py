"""Sensor settings: drift threshold, session intake, eval-regression rollback.

Read from ``<state>/sensors.yaml`` when it exists, then overridden by env vars; every
field has a default, so no file is needed. Example file::

    drift:
      threshold: 0.05            # fire a role's retrain when its drift score >= this (0..1]
      unattributed_weight: 0.0   # weight (every role) of a watched file no example comes from
      extra_paths: []            # more files/folders (relative to the town) to watch
      max_tag_files: 5           # changed files listed in the gtft/changed_files run tag
    sessions:
      transcript_dirs: []        # more folders of Claude Code *.jsonl sessions
      include_home: true         # $CLAUDE_CONFIG_DIR/projects or ~/.claude/projects dirs of the town
      min_age_s: 30              # a session file must be this old (mtime) before intake
    eval_regression:
      rollback_on_regression: false
      tolerance: 0.0             # allowed drop below the previous active model's score

Env overrides: ``GTFT_DRIFT_THRESHOLD``, ``GTFT_SESSION_MIN_AGE_S``,
``GTFT_ROLLBACK_ON_REGRESSION`` (``1``/``true``/``yes``).

Usage::

    from node0_ops.drift.sensor_config import SensorSettings
    settings = SensorSettings.load(state_dir)      # -> .drift.threshold, .sessions.min_age_s, ...
"""

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

SETTINGS_FILE = "sensors.yaml"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass
class DriftConfig:
    """Convention-drift sensor settings (see :mod:`node0_ops.drift.score` for the formula)."""

    threshold: float = 0.05
    unattributed_weight: float = 0.0
    extra_paths: list[str] = field(default_factory=list)
    max_tag_files: int = 5

    def __post_init__(self):
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) or not 0 < self.threshold <= 1:
            raise ValueError(f"drift.threshold={self.threshold!r} must be a share in (0, 1], e.g. 0.05 "
                             "(retrain a role when 5% of its convention material changed)")
        if isinstance(self.unattributed_weight, bool) or not isinstance(self.unattributed_weight, (int, float)) \
                or self.unattributed_weight < 0:
            raise ValueError(f"drift.unattributed_weight={self.unattributed_weight!r} must be a number >= 0 "
                             "(0 ignores files no example comes from, e.g. settings)")
        if not isinstance(self.extra_paths, list) or not all(isinstance(p, str) for p in self.extra_paths):
            raise ValueError(f"drift.extra_paths={self.extra_paths!r} must be a list of paths (strings) relative to the town")
        if isinstance(self.max_tag_files, bool) or not isinstance(self.max_tag_files, int) or self.max_tag_files < 1:
            raise ValueError(f"drift.max_tag_files={self.max_tag_files!r} must be an int >= 1, e.g. 5")
        self.threshold = float(self.threshold)
        self.unattributed_weight = float(self.unattributed_weight)


@dataclass
class SessionIntakeConfig:
    """New-session sensor settings."""

    transcript_dirs: list[str] = field(default_factory=list)
    include_home: bool = True
    min_age_s: float = 30.0

    def __post_init__(self):
        if not isinstance(self.transcript_dirs, list) or not all(isinstance(p, str) for p in self.transcript_dirs):
            raise ValueError(f"sessions.transcript_dirs={self.transcript_dirs!r} must be a list of folder paths (strings)")
        if not isinstance(self.include_home, bool):
            raise ValueError(f"sessions.include_home={self.include_home!r} must be true or false")
        if isinstance(self.min_age_s, bool) or not isinstance(self.min_age_s, (int, float)) or self.min_age_s < 0:
            raise ValueError(f"sessions.min_age_s={self.min_age_s!r} must be seconds >= 0, e.g. 30 "
                             "(wait until a live session file stops growing)")
        self.min_age_s = float(self.min_age_s)


@dataclass
class EvalRegressionConfig:
    """Eval-regression sensor settings."""

    rollback_on_regression: bool = False
    tolerance: float = 0.0

    def __post_init__(self):
        if not isinstance(self.rollback_on_regression, bool):
            raise ValueError(f"eval_regression.rollback_on_regression={self.rollback_on_regression!r} must be true or false")
        if isinstance(self.tolerance, bool) or not isinstance(self.tolerance, (int, float)) or not 0 <= self.tolerance < 1:
            raise ValueError(f"eval_regression.tolerance={self.tolerance!r} must be a score drop in [0, 1), e.g. 0.02")
        self.tolerance = float(self.tolerance)


def _bool_env(name: str) -> bool | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"{name}={raw!r} must be 1/true/yes or 0/false/no")


def _float_env(name: str) -> float | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} must be a number") from None


@dataclass
class SensorSettings:
    """All sensor settings; :meth:`load` reads ``<state>/sensors.yaml`` and env overrides."""

    drift: DriftConfig = field(default_factory=DriftConfig)
    sessions: SessionIntakeConfig = field(default_factory=SessionIntakeConfig)
    eval_regression: EvalRegressionConfig = field(default_factory=EvalRegressionConfig)

    @classmethod
    def from_dict(cls, data: dict | None, source: str = "settings") -> "SensorSettings":
        """Build from a mapping like the YAML file's.

        Raises:
            ValueError: unknown section/key or invalid value (the message names ``source``).
        """
        data = data or {}
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a mapping with drift/sessions/eval_regression sections")
        sections = {"drift": DriftConfig, "sessions": SessionIntakeConfig, "eval_regression": EvalRegressionConfig}
        unknown = sorted(set(data) - set(sections))
        if unknown:
            raise ValueError(f"{source}: unknown section(s) {unknown}; use {sorted(sections)}")
        built = {}
        for name, klass in sections.items():
            raw = data.get(name) or {}
            if not isinstance(raw, dict):
                raise ValueError(f"{source}: section {name} must be a mapping")
            known = set(klass.__dataclass_fields__)
            bad = sorted(set(raw) - known)
            if bad:
                raise ValueError(f"{source}: unknown key(s) {bad} in {name}; known: {sorted(known)}")
            try:
                built[name] = klass(**raw)
            except ValueError as exc:
                raise ValueError(f"{source}: {exc}") from None
        return cls(**built)

    @classmethod
    def load(cls, state: str | os.PathLike | None) -> "SensorSettings":
        """``<state>/sensors.yaml`` (if present) + env overrides.

        Raises:
            ValueError: the YAML does not parse or holds an invalid value (message names the file).
        """
        data: dict = {}
        path = Path(state) / SETTINGS_FILE if state else None
        if path is not None and path.is_file():
            import yaml

            try:
                data = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as exc:
                raise ValueError(f"{path}: not valid YAML: {exc}") from None
        settings = cls.from_dict(data, source=str(path) if path else "settings")
        threshold = _float_env("GTFT_DRIFT_THRESHOLD")
        if threshold is not None:
            settings.drift = DriftConfig(**{**asdict(settings.drift), "threshold": threshold})
        min_age = _float_env("GTFT_SESSION_MIN_AGE_S")
        if min_age is not None:
            settings.sessions = SessionIntakeConfig(**{**asdict(settings.sessions), "min_age_s": min_age})
        rollback = _bool_env("GTFT_ROLLBACK_ON_REGRESSION")
        if rollback is not None:
            settings.eval_regression = EvalRegressionConfig(
                **{**asdict(settings.eval_regression), "rollback_on_regression": rollback})
        return settings
