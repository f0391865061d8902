"""Action-label variation of decision scenarios (node0_ops/corpus/scenarios/labels.py)."""

import json
import random
from collections import Counter
from pathlib import Path

from node0_ops.corpus.scenarios.labels import ALIASES, relabel

V2 = Path(__file__).resolve().parents[2] / "node0_ops" / "evals" / "suite" / "v2" / "patrol_decision.jsonl"


def test_relabel_is_a_consistent_bijection_with_shuffled_order_and_distractors():
    allowed = ["continue", "escalate", "file-warrant", "nudge", "warn"]
    styles, orders, extras = Counter(), set(), 0
    for i in range(300):
        shown, label = relabel(allowed, random.Random(i))
        assert set(label) == set(allowed)
        assert len(set(label.values())) == len(allowed)         # distinct shown names
        assert set(label.values()) <= set(shown)
        extras += len(shown) - len(allowed)
        orders.add(tuple(shown))
        styles["renamed" if label["file-warrant"] != "file-warrant" else "kept"] += 1
    assert styles["renamed"] > 60 and styles["kept"] > 60        # both vocabularies are trained
    assert len(orders) > 100 and extras > 100


def test_relabel_is_deterministic():
    a = relabel(["continue", "restart"], random.Random("x"))
    b = relabel(["continue", "restart"], random.Random("x"))
    assert a == b


def test_training_aliases_are_not_taken_from_suite_v2():
    """The alias table is written independently of the eval suite: no alias equals a v2 action
    label unless that label is a formula's own canonical action (or its snake_case form)."""
    canonical = {x for a in ALIASES for x in (a, a.replace("-", "_"), a.upper())}
    v2_labels = set()
    for line in V2.read_text().splitlines():
        v2_labels |= set(json.loads(line)["checker_args"]["allowed_actions"])
    aliases = {x for names in ALIASES.values() for n in names for x in (n, n.replace("-", "_"))}
    assert not (aliases & v2_labels) - canonical, sorted((aliases & v2_labels) - canonical)
