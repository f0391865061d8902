"""YAML + flag-override loading for the training config dataclasses (node0-style YAML).

A config file is either a plain mapping of fields, or node0's ``class_name`` / ``init_args``
form (Pluralis node0 configs), e.g.::

    class_name: node0_ops.train.sft_config.SFTConfig
    init_args:
      learning_rate: 2.0e-4
      max_steps: 20
      lora: {r: 8, lora_alpha: 16}

Overrides use dotted keys (``lora.r``) and are given as ``{"lora.r": "8"}`` or as CLI flags
``["--lora.r", "8", "--max-steps=20", "--gradient-checkpointing"]`` (dashes become underscores;
a bare flag means ``true``). String values are coerced to the field's annotated type, so
``2e-4`` (a string for PyYAML 1.1) becomes a float.

Usage::

    cfg = SFTConfig.from_yaml("cfg.yaml", {"lora.r": 8, "max_steps": 20})
"""

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence


def parse_override_args(args: Sequence[str]) -> dict[str, str]:
    """``["--lora.r", "8", "--x=y", "--flag"]`` -> ``{"lora.r": "8", "x": "y", "flag": "true"}``.

    Raises:
        ValueError: an argument that does not start with ``--``.
    """
    out: dict[str, str] = {}
    i = 0
    args = list(args)
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise ValueError(f"unexpected argument {arg!r}: config overrides look like --lora.r 8 or --max-steps=20")
        key = arg[2:]
        if "=" in key:
            key, val = key.split("=", 1)
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            val = args[i + 1]
            i += 1
        else:
            val = "true"
        out[key.replace("-", "_")] = val
        i += 1
    return out


def _coerce(value: Any, tp: Any, name: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, name)
            except (TypeError, ValueError) as exc:
                errors.append(str(exc))
        raise ValueError(f"{name}={value!r}: " + "; ".join(errors))
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"{name}={value!r} must be one of {args}")
        return value
    if origin in (tuple, list):
        items = value.split(",") if isinstance(value, str) else list(value)
        items = [i.strip() if isinstance(i, str) else i for i in items if i != ""]
        inner = args[0] if args else str
        conv = [_coerce(i, inner, name) for i in items]
        return tuple(conv) if origin is tuple else conv
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"{name}={value!r} is not a boolean (use true/false)")
    if tp is int:
        if isinstance(value, bool):
            raise ValueError(f"{name}={value!r} must be an integer")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}={value!r} must be an integer") from None
    if tp is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}={value!r} must be a number (e.g. 2e-4)") from None
    if tp is str:
        return str(value)
    return value


def _field_types(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def build(cls, data: Mapping[str, Any]):
    """Instantiate dataclass ``cls`` from a (possibly nested) mapping, coercing values.

    Raises:
        ValueError: unknown field names (message lists the valid ones) or a value of the wrong type.
    """
    hints = _field_types(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, val in data.items():
        if key not in names:
            raise ValueError(f"{cls.__name__} has no field {key!r}; valid fields: {', '.join(sorted(names))}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = val if isinstance(val, tp) else build(tp, val or {})
        else:
            kwargs[key] = _coerce(val, tp, key)
    return cls(**kwargs)


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in flat.items():
        parts = key.split(".")
        cur = out
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = val
    return out


def _merge(a: dict, b: Mapping) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def read_yaml(path: str | Path | None, cls=None) -> dict[str, Any]:
    """Read a config YAML into a plain dict (unwrapping node0's ``class_name``/``init_args``).

    Raises:
        FileNotFoundError: missing file.  ValueError: not a mapping, or ``class_name`` names another class.
    """
    if path is None:
        return {}
    import yaml

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file {p} does not exist")
    data = yaml.safe_load(p.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{p}: a config file must hold a mapping of fields, got {type(data).__name__}")
    if "class_name" in data:
        name = str(data["class_name"]).rsplit(".", 1)[-1]
        if cls is not None and name != cls.__name__:
            raise ValueError(f"{p}: class_name {data['class_name']!r} does not match {cls.__name__}; "
                             f"use the {cls.__name__} config for this command")
        data = data.get("init_args") or {}
    return data


def from_yaml(cls, path: str | Path | None = None, overrides: Mapping[str, Any] | Sequence[str] | None = None):
    """Build ``cls`` from a YAML file plus overrides (dotted-key mapping or CLI flag list)."""
    data = read_yaml(path, cls)
    if overrides:
        flat = parse_override_args(overrides) if not isinstance(overrides, Mapping) else dict(overrides)
        data = _merge(data, _nest({k.replace("-", "_"): v for k, v in flat.items()}))
    return build(cls, data)


def to_dict(cfg) -> dict[str, Any]:
    """JSON-ready dict of a config dataclass (tuples become lists)."""
    return dataclasses.asdict(cfg)


def field_help(cls) -> dict[str, str]:
    """``{field: help}`` from the ``Attributes:``/``Args:`` blocks of ``cls``'s and its bases' docstrings
    (Google style; ``a, b: text`` documents both), so help text lives once, beside the defaults."""
    import inspect
    import re

    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        doc = inspect.getdoc(klass) or ""
        name, buf = None, []
        for line in doc.splitlines():
            m = re.match(r"^    ([a-z_][a-z0-9_]*(?:, [a-z_][a-z0-9_]*)*): (.*)$", line)
            if m:
                if name:
                    out.update({n: " ".join(buf) for n in name})
                name, buf = m.group(1).split(", "), [m.group(2).strip()]
            elif name and line.startswith("        "):
                buf.append(line.strip())
            elif name:
                out.update({n: " ".join(buf) for n in name})
                name, buf = None, []
        if name:
            out.update({n: " ".join(buf) for n in name})
    return out


def config_fields(cls, prefix: str = "") -> list[tuple[str, Any, Any, str]]:
    """``[(dotted name, type, default, help)]`` of a config dataclass, nested dataclasses flattened
    (``lora.r``)."""
    hints, helps, out = _field_types(cls), field_help(cls), []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        if dataclasses.is_dataclass(tp):
            out += config_fields(tp, f"{prefix}{f.name}.")
        else:
            out.append((prefix + f.name, tp, default, helps.get(f.name, "")))
    return out


def add_config_args(parser, cls) -> None:
    """Add one ``--field`` flag (``--max-steps`` or ``--max_steps``, ``--lora.r``) per field of config
    dataclass ``cls`` to an argparse parser, with the field's help and default; read the given ones
    back with :func:`given_overrides` (TRL's HfArgumentParser idea, on our dataclasses)."""
    import argparse

    group = parser.add_argument_group(f"{cls.__name__} fields (override --config; defaults shown)")
    for name, tp, default, text in config_fields(cls):
        flags = [f"--{name.replace('_', '-')}"] + ([f"--{name}"] if "_" in name else [])
        shown = ",".join(map(str, default)) if isinstance(default, (tuple, list)) else default
        kw = {"nargs": "?", "const": "true"} if tp is bool else {}
        group.add_argument(*flags, dest=f"cfg:{name}", default=argparse.SUPPRESS, metavar=name.split(".")[-1].upper(),
                           help=f"{text} (default: {shown})".replace("%", "%%"), **kw)


def given_overrides(args) -> dict[str, str]:
    """The config flags :func:`add_config_args` registered that were given: ``{dotted name: value}``."""
    return {k.split(":", 1)[1]: v for k, v in vars(args).items() if k.startswith("cfg:")}
