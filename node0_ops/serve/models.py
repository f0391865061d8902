"""What to load: a model reference or file paths -> :class:`ModelSpec`; adapter stacks by name.

A *stack* is the served model plus LoRA adapters applied on top of it, written
``MODEL+ADAPTER[:SCALE]+...`` (``polecat-v1+code-review+git-workflow:0.5``). Adapters are
named by their registry name (``task-code-review``) or an alias: the task (``code-review``)
or the name without its ``<kind>-`` prefix. LoRA deltas add up, so order does not matter;
listing is canonical (the order adapters were loaded in).

Usage::

    spec = resolve_spec("polecat@3", adapters=["code-review"])                 # registry
    spec = spec_from_paths("base.gguf", {"code-review": "cr.lora.gguf"})        # no registry
    stack = spec.parse_stack("polecat-v3+code-review:0.5")  # (("task-code-review", 0.5),)
"""

import os
import re
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

_SCALE = re.compile(r"^(?P<name>[^:]+?)(?::(?P<scale>-?\d+(?:\.\d+)?))?$")
MAX_LISTED_ADAPTERS = 6  # /v1/models lists every subset up to this many adapters (2^6 = 64 stacks)


class StackError(ValueError):
    """A model/stack name that cannot be served. ``status`` is the HTTP status (400 or 404)."""

    def __init__(self, message: str, status: int = 404, code: str = "model_not_found"):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class AdapterSpec:
    """One LoRA adapter GGUF. ``aliases`` are the other names a request may use."""

    name: str
    gguf: Path
    aliases: tuple[str, ...] = ()
    scale: float = 1.0  # default scale when a stack names the adapter without ``:scale``


@dataclass
class ModelSpec:
    """A model to serve.

    Attributes:
        name: served model id (``polecat-v3``; the GGUF stem without registry).
        gguf: base GGUF file.
        adapters: loadable LoRA GGUFs, in load order (= canonical stack order).
        default_stack: adapter names used when a request gives no ``model`` (the ``--adapters`` list).
        aliases: other names of the base model (``polecat-v3@3``, the ``--model`` text).
        chat_template: Jinja template from the registry (None: :mod:`node0_ops.train.chat_template`).
        ref: registry ``NAME@VERSION`` or None.
    """

    name: str
    gguf: Path
    adapters: list[AdapterSpec] = field(default_factory=list)
    default_stack: tuple[tuple[str, float], ...] = ()
    aliases: tuple[str, ...] = ()
    chat_template: str | None = None
    ref: str | None = None

    def adapter(self, name: str) -> AdapterSpec:
        """The adapter called ``name`` or one of its aliases.

        Raises:
            StackError: (404, ``adapter_not_found``) naming the adapters that exist.
        """
        for a in self.adapters:
            if name == a.name or name in a.aliases:
                return a
        have = ", ".join(a.name for a in self.adapters) or "none loaded"
        raise StackError(f"adapter {name!r} is not loaded on model {self.name!r} (adapters: {have})",
                         404, "adapter_not_found")

    def parse_stack(self, model: str | None) -> tuple[tuple[str, float], ...]:
        """``MODEL+A+B:0.5`` -> ``((A, 1.0), (B, 0.5))`` in canonical order; None/'' -> default stack.

        Raises:
            StackError: unknown model (404 ``model_not_found``), unknown adapter (404
                ``adapter_not_found``), an adapter named twice or a bad scale (400).
        """
        if model is None or model == "":
            return self.default_stack
        if not isinstance(model, str):
            raise StackError(f"'model' must be a string, got {type(model).__name__}", 400, "invalid_request_error")
        head, *parts = [p.strip() for p in model.split("+")]
        if head not in (self.name, *self.aliases):
            raise StackError(f"model {head!r} is not served here; this server serves {self.name!r} "
                             f"(GET /v1/models lists it and its adapter stacks)", 404, "model_not_found")
        chosen: dict[str, float] = {}
        for part in parts:
            m = _SCALE.match(part)
            if not part or not m:
                raise StackError(f"bad adapter entry {part!r} in {model!r}; use NAME or NAME:SCALE", 400,
                                 "invalid_request_error")
            spec = self.adapter(m["name"])
            if spec.name in chosen:
                raise StackError(f"adapter {spec.name!r} appears twice in {model!r}", 400, "invalid_request_error")
            scale = float(m["scale"]) if m["scale"] is not None else spec.scale
            if not -4.0 <= scale <= 4.0:
                raise StackError(f"adapter scale {scale} in {model!r} is outside [-4, 4]", 400, "invalid_request_error")
            chosen[spec.name] = scale
        order = [a.name for a in self.adapters]
        return tuple(sorted(chosen.items(), key=lambda kv: order.index(kv[0])))

    def stack_id(self, stack: tuple[tuple[str, float], ...]) -> str:
        """Canonical model id of a stack (``polecat-v3+task-code-review``; ``:scale`` only when != 1)."""
        parts = [self.name] + [n if s == 1.0 else f"{n}:{s:g}" for n, s in stack]
        return "+".join(parts)

    def listed_stacks(self) -> list[str]:
        """The model and every subset of its adapters (canonical ids), for ``GET /v1/models``."""
        names = [a.name for a in self.adapters][:MAX_LISTED_ADAPTERS]
        out = [self.name]
        for k in range(1, len(names) + 1):
            out += ["+".join([self.name, *combo]) for combo in combinations(names, k)]
        return out


def _adapter_aliases(name: str, info: dict) -> tuple[str, ...]:
    out = []
    if info.get("task"):
        out.append(info["task"])
    kind = info.get("kind")
    for prefix in ([f"{kind}-"] if kind else []) + ["task-", "role-", "dpo-"]:
        if name.startswith(prefix) and len(name) > len(prefix):
            out.append(name[len(prefix):])
    return tuple(dict.fromkeys(a for a in out if a != name))


def parse_adapter_list(items: str | list[str] | None) -> list[tuple[str, float | None]]:
    """``"a,b:0.5"`` or ``["a", "b:0.5"]`` -> ``[("a", None), ("b", 0.5)]``.

    Raises:
        ValueError: an empty name or a bad scale.
    """
    if not items:
        return []
    raw = items.split(",") if isinstance(items, str) else [x for item in items for x in item.split(",")]
    out = []
    for entry in (x.strip() for x in raw):
        m = _SCALE.match(entry)
        if not entry or not m:
            raise ValueError(f"adapter entry {entry!r}: use NAME or NAME:SCALE, comma separated (e.g. code-review,git:0.5)")
        out.append((m["name"], float(m["scale"]) if m["scale"] is not None else None))
    return out


def _check_file(path: str | os.PathLike, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{what} {p} does not exist (or is not a file)")
    return p.resolve()


def _with_default_stack(spec: ModelSpec, wanted: list[tuple[str, float | None]]) -> ModelSpec:
    stack = []
    for name, scale in wanted:
        a = spec.adapter(name)
        stack.append((a.name, a.scale if scale is None else scale))
    order = [a.name for a in spec.adapters]
    spec.default_stack = tuple(sorted(stack, key=lambda kv: order.index(kv[0])))
    return spec


def spec_from_paths(model_path: str | os.PathLike, adapter_paths: dict[str, str | os.PathLike] | None = None, *,
                    name: str | None = None, adapters: str | list[str] | None = None) -> ModelSpec:
    """A :class:`ModelSpec` from files, without the registry.

    Args:
        model_path: base GGUF.  adapter_paths: ``{name: LoRA GGUF}``.
        name: served id (default: the GGUF file stem).
        adapters: default stack (``--adapters``), names from ``adapter_paths``.

    Raises:
        FileNotFoundError: a GGUF that does not exist.  StackError: ``adapters`` names an unknown adapter.
    """
    gguf = _check_file(model_path, "model GGUF")
    specs = [AdapterSpec(n, _check_file(p, f"adapter {n!r} GGUF"), _adapter_aliases(n, {}))
             for n, p in (adapter_paths or {}).items()]
    spec = ModelSpec(name=name or gguf.stem, gguf=gguf, adapters=specs, aliases=(str(model_path),))
    return _with_default_stack(spec, parse_adapter_list(adapters))


def resolve_spec(model: str, adapters: str | list[str] | None = None, *, state: str | os.PathLike | None = None,
                 model_path: str | os.PathLike | None = None,
                 adapter_paths: dict[str, str | os.PathLike] | None = None) -> ModelSpec:
    """Resolve ``--model NAME[@VERSION]`` through the registry (``node0_ops.registry.store.resolve_model``).

    ``model_path`` / ``adapter_paths`` override the registry's files (and make the registry optional:
    with ``model_path`` set and no such registered model, the files alone are served under ``model``).
    Every registry adapter that has a LoRA GGUF is loaded; ``adapters`` picks the default stack.

    Raises:
        node0_ops.registry.store.RegistryError: unknown model and no ``model_path``.
        FileNotFoundError: the model has no GGUF (export it first) or a file is missing.
        StackError: ``adapters`` names an adapter without a LoRA GGUF.
    """
    from node0_ops.registry.schema import registry_db
    from node0_ops.registry.store import RegistryError, resolve_model

    try:
        row = resolve_model(registry_db(state), model)
    except RegistryError:
        if model_path is None:
            raise
        spec = spec_from_paths(model_path, adapter_paths, name=model.partition("@")[0], adapters=adapters)
        spec.aliases = tuple(dict.fromkeys((model, *spec.aliases)))
        return spec
    gguf = model_path or row.get("gguf_path")
    if not gguf:
        raise FileNotFoundError(f"model {row['ref']} has no GGUF artifact; export it (node0_ops.export) and register "
                                f"the gguf_q4_k_m artifact, or pass --model-path")
    specs = []
    for name, info in (row.get("adapters") or {}).items():
        path = (adapter_paths or {}).get(name) or info.get("gguf")
        if path:
            specs.append(AdapterSpec(name, _check_file(path, f"adapter {name!r} GGUF"), _adapter_aliases(name, info)))
    for name, path in (adapter_paths or {}).items():
        if name not in {s.name for s in specs}:
            specs.append(AdapterSpec(name, _check_file(path, f"adapter {name!r} GGUF"), _adapter_aliases(name, {})))
    aliases = tuple(dict.fromkeys(a for a in (row["ref"], model, row.get("role")) if a and a != row["name"]))
    spec = ModelSpec(name=row["name"], gguf=_check_file(gguf, "model GGUF"), adapters=specs, aliases=aliases,
                     chat_template=row.get("chat_template"), ref=row["ref"])
    return _with_default_stack(spec, parse_adapter_list(adapters))
