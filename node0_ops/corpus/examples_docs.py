"""Instruction files and docs -> ``conventions`` Q&A and ``text`` examples.

- ``claude_md`` / ``role_template`` / ``prime_output`` / directives (``directives/<role>.md``):
  one ``text`` example per section-sized chunk (task ``conventions``) plus one chat Q&A per
  imperative rule (:func:`node0_ops.corpus.conventions.extract_rules`): "as the <role>, should
  I <action>?" -> "No/Yes" quoting the rule line verbatim, so the answer is the source's own.
- ``doc``: ``text`` chunks, task picked from the chunk's vocabulary (formula, beads, git,
  patrol, review, planning) with ``conventions`` as the fallback.
- ``role_config`` (``internal/config/roles/<role>.toml`` as a dict, bare or under ``data``): Q&A on the role's session
  name pattern, work dir, nudge text and health thresholds.

Role: provenance role, else the path (:func:`role_from_path`), else ``crew`` (docs written for
engineers). Go-template fields in role templates are rendered (``{{ cmd }}`` -> ``gt``).

Usage::

    from node0_ops.corpus.examples_docs import doc_examples
    examples, skipped = doc_examples(records)
"""

import re
from collections.abc import Sequence

from node0_ops.corpus.conventions import extract_rules, render_template_vars
from node0_ops.corpus.examples_common import assistant, role_card, role_from_path, system, user
from node0_ops.corpus.schema import ROLES, Example, Record

CHUNK_CHARS = 3000
MIN_CHUNK_CHARS = 200
MAX_RULE_QA = 40        # per source file
_DOC_TASK_WORDS = [
    ("formula", r"\bformulas?\b|\bmol-[\w-]+|\bbd cook\b|\bwisp"),
    ("bead-management", r"\bbd (?:create|update|close|dep|ready|show|list)\b|\bbeads?\b"),
    ("git-workflow", r"\bgit (?:push|commit|rebase|merge|checkout|branch)\b|\bmerge queue\b|\bgt done\b|\bbranch"),
    ("patrol-decision", r"\bpatrol|\bnudge|\bwitness\b|\bdeacon\b|\bescalat"),
    ("code-review", r"\breview|\bpull request|\bPR\b"),
    ("planning", r"\bepic|\bconvoy|\bplan\b|\bplanning\b|\bgt sling\b"),
]


def source_role(rec: Record) -> str:
    """Role an instruction record speaks to: provenance, then path, then ``crew``."""
    role = rec.provenance.role or role_from_path(rec.provenance.path)[0]
    return role if role in ROLES else "crew"


def source_name(rec: Record) -> str:
    """Human name of an instruction source for answers ("the polecat role template", "CLAUDE.md")."""
    path = rec.provenance.path.replace("\\", "/")
    base = path.rsplit("/", 1)[-1]
    role = role_from_path(path)[0]
    if "/directives/" in path and role:
        return f"the town's {role} directive"
    if rec.kind == "role_template" and role:
        return f"the {role} role template"
    if rec.kind == "prime_output":
        return "the `gt prime` context"
    return base or rec.kind


def chunk_text(text: str, limit: int = CHUNK_CHARS) -> list[str]:
    """Split markdown into chunks of at most ``limit`` chars, preferring heading then paragraph breaks.

    Each chunk after the first repeats the nearest preceding ``#`` heading line for context.
    """
    sections = re.split(r"\n(?=#{1,3} )", text.strip())
    chunks: list[str] = []
    for sec in sections:
        heading = sec.splitlines()[0] if sec.startswith("#") else ""
        if len(sec) <= limit:
            chunks.append(sec)
            continue
        cur = ""
        for para in re.split(r"\n\s*\n", sec):
            while len(para) > limit:              # a single huge paragraph: hard cut on a line
                cut = para.rfind("\n", 0, limit)
                cut = cut if cut > limit // 2 else limit
                chunks.append((cur + "\n\n" + para[:cut]).strip() if cur else para[:cut])
                cur, para = "", para[cut:].lstrip()
            if cur and len(cur) + len(para) + 2 > limit:
                chunks.append(cur.strip())
                cur = (heading + "\n\n" if heading and not para.startswith("#") else "") + para
            else:
                cur = (cur + "\n\n" + para) if cur else para
        if cur.strip():
            chunks.append(cur.strip())
    # merge tiny neighbours so text examples carry enough context
    merged: list[str] = []
    for ch in chunks:
        if merged and (len(merged[-1]) < MIN_CHUNK_CHARS or len(ch) < MIN_CHUNK_CHARS) \
                and len(merged[-1]) + len(ch) + 2 <= limit:
            merged[-1] += "\n\n" + ch
        else:
            merged.append(ch)
    return [m for m in merged if m.strip()]


def doc_task(text: str) -> str:
    """Task whose vocabulary dominates ``text`` (at least 3 hits), else ``conventions``."""
    best, best_n = "conventions", 2
    for task, pat in _DOC_TASK_WORDS:
        n = len(re.findall(pat, text, re.I))
        if n > best_n:
            best, best_n = task, n
    return best


def _is_instruction(rec: Record) -> bool:
    return rec.kind in ("claude_md", "role_template", "prime_output") or \
        "/directives/" in rec.provenance.path.replace("\\", "/")


def _text_examples(rec: Record, role: str, text: str) -> list[Example]:
    title = str(rec.payload.get("title") or "").strip()
    out = []
    for i, ch in enumerate(chunk_text(text)):
        body = ch if (not title or ch.lstrip().startswith("#") or i) else f"# {title}\n\n{ch}"
        task = "conventions" if _is_instruction(rec) else doc_task(body)
        out.append(Example(kind="text", role=role, task=task, origin="doc" if rec.kind == "doc" else "convention",
                           source_key=rec.source_key, record_ids=[rec.record_id], text=body,
                           meta={"generator": "text", "chunk": i, "path": rec.provenance.path}))
    return out


ROLE_NAMES = {"mayor": "the mayor", "deacon": "the deacon", "boot": "Boot", "witness": "the witness",
              "refinery": "the refinery", "polecat": "a polecat", "crew": "a crew member", "dog": "a dog"}
_DANGLING = {"for", "to", "with", "of", "in", "on", "about", "from", "by", "at", "into", "the", "a", "an", "and", "or"}
_BAD_ACTION_START = {"the", "a", "an", "this", "that", "it", "be", "been", "i", "we", "they", "he", "she",
                     "there", "here", "when", "if", "need", "have"}


def _rule_examples(rec: Record, role: str, text: str) -> list[Example]:
    out, seen = [], set()
    where = source_name(rec)
    where = where[0].upper() + where[1:]
    for rule in extract_rules(text):
        words = rule.action.split()
        if not 2 <= len(words) <= 16 or words[0].lower() in _BAD_ACTION_START or rule.key in seen \
                or words[-1].lower() in _DANGLING or len(rule.text.split()) < 4:
            continue
        if not re.match(r"[A-Za-z]", rule.action):
            continue
        seen.add(rule.key)
        action = rule.action[0].lower() + rule.action[1:]
        action = re.sub(r"\byour\b", "my", re.sub(r"\byourself\b", "myself", action))   # asked in first person
        action = re.sub(r"\byou\b", "I", action)
        who = ROLE_NAMES[role]
        if rule.polarity < 0:
            ask, ans = f"As {who}, is it OK to {action}?", f'No. {where} says: "{rule.text}"'
        else:
            ask, ans = f"As {who}, do I have to {action}?", f'Yes. {where} says: "{rule.text}"'
        out.append(Example(kind="chat", role=role, task="conventions", origin="convention",
                           source_key=rec.source_key, record_ids=[rec.record_id],
                           messages=[system(role_card(role, rec.provenance.rig)), user(ask), assistant(ans)],
                           meta={"generator": "rule", "line": rule.line, "path": rec.provenance.path}))
        if len(out) >= MAX_RULE_QA:
            break
    return out


def _role_config_examples(rec: Record) -> list[Example]:
    cfg = rec.payload if isinstance(rec.payload, dict) else {}
    if isinstance(cfg.get("data"), dict):      # collector shape {role, data: <toml dict>, text}
        cfg = cfg["data"]
    role = cfg.get("role")
    if role not in ROLES:
        return []
    sess, health = cfg.get("session") or {}, cfg.get("health") or {}
    facts = []
    if cfg.get("scope"):
        facts.append(f"scope: {cfg['scope']}")
    for key, label in (("pattern", "tmux session"), ("work_dir", "work dir")):
        if sess.get(key):
            facts.append(f"{label}: `{sess[key]}`")
    for key in ("ping_timeout", "consecutive_failures", "kill_cooldown", "stuck_threshold"):
        if health.get(key) not in (None, ""):
            facts.append(f"{key}: {health[key]}")
    out = []
    card = system(role_card(role, rec.provenance.rig))
    if facts:
        out.append(Example(kind="chat", role=role, task="conventions", origin="convention",
                           source_key=rec.source_key, record_ids=[rec.record_id],
                           messages=[card, user(f"How is the {role} role configured (session, work dir, health checks)?"),
                                     assistant(f"From roles/{role}.toml: " + "; ".join(facts) + ".")],
                           meta={"generator": "role_config"}))
    if cfg.get("nudge"):
        out.append(Example(kind="chat", role=role, task="patrol-decision", origin="convention",
                           source_key=rec.source_key, record_ids=[rec.record_id],
                           messages=[card, user(f"What is the standard nudge sent to a {role} that looks idle?"),
                                     assistant(f'The {role} nudge is: "{cfg["nudge"]}"')],
                           meta={"generator": "role_config"}))
    return out


def doc_examples(records: Sequence[Record]) -> tuple[list[Example], list[tuple[str, str]]]:
    """Build conventions Q&A and text examples from instruction, doc and role-config records.

    Returns:
        ``(examples, skipped)``; ``skipped`` holds ``(record_id, reason)`` for records with no text.
    """
    out, skipped = [], []
    for rec in records:
        if rec.kind == "role_config":
            made = _role_config_examples(rec)
            if not made:
                skipped.append((rec.record_id, "role config without a known role"))
            out += made
            continue
        if rec.kind not in ("claude_md", "role_template", "prime_output", "doc"):
            continue
        text = rec.payload.get("text") if isinstance(rec.payload, dict) else None
        if not isinstance(text, str) or not text.strip():
            skipped.append((rec.record_id, f"{rec.kind} record has no text"))
            continue
        if rec.kind == "role_template":
            text = render_template_vars(text)
        role = source_role(rec)
        out += _text_examples(rec, role, text)
        if _is_instruction(rec):
            out += _rule_examples(rec, role, text)
    return out, skipped
