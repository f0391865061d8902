"""Eval tasks: the versioned suite under ``suite/<version>/*.jsonl`` and tasks built from
corpus TEST-split examples.

Suite record (one JSON object per line)::

    {"task_id": "bead-001", "category": "bead-management", "role": "polecat",
     "messages": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."}],
     "checker": "commands", "checker_args": {...},
     "json_schema": null | {...},      # structured tasks: constrained decoding target
     "reference": "...",               # a known-good answer; tests check it passes
     "negatives": ["..."],             # optional known-bad answers; tests check they fail
     "tags": ["deps"]}

Usage::

    from node0_ops.evals.tasks import load_suite, tasks_from_corpus
    tasks = load_suite("v1")
    extra = tasks_from_corpus(examples)   # dicts shaped like corpus.schema.Example
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from node0_ops.corpus.schema import ROLES

SUITE_ROOT = Path(__file__).resolve().parent / "suite"
CATEGORIES = ("bead-management", "git-workflow", "conventions", "planning", "code-execution", "patrol-decision")
STRUCTURED_CHECKERS = ("patrol_decision", "plan_dag")


@dataclass
class EvalTask:
    """One eval case.

    Attributes:
        task_id: unique id.  category: one of :data:`CATEGORIES` (corpus tasks keep the
            example's task name).  role: Gas Town role (``corpus.schema.ROLES``).
        messages: chat prompt (OpenAI shape) sent to the model.
        checker / checker_args: see :mod:`node0_ops.evals.checkers`.
        json_schema: JSON schema for structured answers (None: free text); with
            constrained decoding the backend is asked to follow it.
        reference: a known-good answer (or None).  negatives: known-bad answers.
        source: ``suite:<version>`` or ``corpus``.  tags: free labels.
    """

    task_id: str
    category: str
    role: str
    messages: list[dict]
    checker: str
    checker_args: dict = field(default_factory=dict)
    json_schema: dict | None = None
    reference: str | None = None
    negatives: list[str] = field(default_factory=list)
    source: str = ""
    tags: list[str] = field(default_factory=list)

    @property
    def structured(self) -> bool:
        return self.json_schema is not None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> "EvalTask":
        """Build and validate a task.

        Raises:
            ValueError: naming ``where`` (file:line) and the bad field.
        """
        from node0_ops.evals.checkers import CHECKERS

        at = f"{where}: " if where else ""
        for key in ("task_id", "category", "role", "messages", "checker"):
            if key not in d:
                raise ValueError(f"{at}task is missing {key!r}")
        if d["role"] not in ROLES:
            raise ValueError(f"{at}task {d['task_id']}: role {d['role']!r} not one of {ROLES}")
        if d["checker"] not in CHECKERS:
            raise ValueError(f"{at}task {d['task_id']}: unknown checker {d['checker']!r} (known: {', '.join(CHECKERS)})")
        msgs = d["messages"]
        if not msgs or not all(isinstance(m, dict) and m.get("role") in ("system", "user", "assistant", "tool") for m in msgs):
            raise ValueError(f"{at}task {d['task_id']}: messages must be a non-empty list of chat messages")
        if msgs[-1]["role"] not in ("user", "tool"):
            raise ValueError(f"{at}task {d['task_id']}: the last message must be from the user (or a tool result)")
        known = {f for f in cls.__dataclass_fields__}
        extra = set(d) - known
        if extra:
            raise ValueError(f"{at}task {d['task_id']}: unknown fields {sorted(extra)}")
        return cls(**d)


def suite_dir(version: str = "v1") -> Path:
    """Folder of a suite version.

    Raises:
        FileNotFoundError: listing the versions that exist.
    """
    path = SUITE_ROOT / version
    if not path.is_dir():
        have = sorted(p.name for p in SUITE_ROOT.iterdir() if p.is_dir()) if SUITE_ROOT.is_dir() else []
        raise FileNotFoundError(f"eval suite {version!r} not found under {SUITE_ROOT}; available: {', '.join(have) or 'none'}")
    return path


def load_suite(version: str = "v1", *, categories: list[str] | None = None, roles: list[str] | None = None,
               limit_per_category: int = 0) -> list[EvalTask]:
    """All tasks of a suite version, in file then line order, optionally filtered.

    ``limit_per_category`` > 0 keeps the first N tasks of each category (a quick smoke eval, like
    lm-evaluation-harness ``--limit``).

    Raises:
        ValueError: a bad record (file:line named), a duplicate task id or an unknown category.
    """
    tasks: list[EvalTask] = []
    seen: set[str] = set()
    for path in sorted(suite_dir(version).glob("*.jsonl")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path.name}:{n}"
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{where}: invalid JSON: {exc}") from exc
            task = EvalTask.from_dict({**record, "source": f"suite:{version}"}, where)
            if task.category not in CATEGORIES:
                raise ValueError(f"{where}: category {task.category!r} not one of {CATEGORIES}")
            if task.task_id in seen:
                raise ValueError(f"{where}: duplicate task_id {task.task_id!r}")
            seen.add(task.task_id)
            tasks.append(task)
    if categories:
        tasks = [t for t in tasks if t.category in categories]
    if roles:
        tasks = [t for t in tasks if t.role in roles]
    if limit_per_category > 0:
        kept: dict[str, int] = {}
        limited = []
        for t in tasks:
            kept[t.category] = kept.get(t.category, 0) + 1
            if kept[t.category] <= limit_per_category:
                limited.append(t)
        tasks = limited
    return tasks


def _as_dict(example) -> dict:
    return example if isinstance(example, dict) else example.to_dict()


def tasks_from_corpus(examples, *, split: str = "test", max_reference_commands: int = 6) -> list[EvalTask]:
    """Turn corpus examples into ``corpus_commands`` tasks where a checker applies.

    For each chat example of ``split`` (default TEST) the *last* assistant turn that
    contains valid bd/gt commands (text or ``tool_calls``) becomes the reference; the
    messages before it become the prompt. Examples without such a turn are skipped.

    Args:
        examples: dicts (or objects with ``to_dict``) with keys ``example_id``, ``role``,
            ``task``, ``messages``, ``split`` (``node0_ops.corpus.schema.Example``).
        split: which split to use; other examples are ignored.
        max_reference_commands: keep at most this many reference commands (the first ones).

    Returns:
        One :class:`EvalTask` per usable example, ``task_id = "corpus-<example_id>"``.
    """
    from node0_ops.evals.answers import commands_from_message
    from node0_ops.evals.intents import command_intent, parse_commands

    out = []
    for ex in map(_as_dict, examples):
        if ex.get("split") != split or not ex.get("messages"):
            continue
        msgs = ex["messages"]
        for k in range(len(msgs) - 1, 0, -1):
            m = msgs[k]
            if m.get("role") != "assistant":
                continue
            refs = [c.text for c in parse_commands(commands_from_message(m)) if command_intent(c)]
            if not refs:
                continue
            prompt = [dict(x) for x in msgs[:k] if x.get("role") in ("system", "user", "assistant", "tool")]
            if not prompt or prompt[-1]["role"] not in ("user", "tool"):
                break
            out.append(EvalTask(
                task_id=f"corpus-{ex.get('example_id') or len(out)}", category=ex.get("task") or "corpus",
                role=ex.get("role") or "polecat", messages=prompt, checker="corpus_commands",
                checker_args={"reference_commands": refs[:max_reference_commands]},
                reference="```bash\n" + "\n".join(refs[:max_reference_commands]) + "\n```",
                source="corpus", tags=["corpus"]))
            break
    return out
