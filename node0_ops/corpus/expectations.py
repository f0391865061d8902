"""Great Expectations suites for the corpus tables of one corpus version.

Validates the ``examples`` and ``dpo_pairs`` rows that belong to a corpus version (through
``corpus_version_members``) and the ``redactions`` and ``quarantine`` tables, each as a pandas
batch of an ephemeral Great Expectations context (GX 1.x API: data source -> dataframe asset ->
batch definition -> ``batch.validate(suite)``; https://docs.greatexpectations.io/docs/core/).
Derived columns carry what a column expectation cannot see by itself: the length of the last
assistant turn of a chat example, whether ``messages`` parses as a chat, whether chosen equals
rejected.

great_expectations takes ~7 s to import, so it is imported inside :func:`validate_corpus` only.

Usage::

    from node0_ops.corpus import store
    from node0_ops.corpus.expectations import validate_corpus
    db = store.open_db("state/lineage.duckdb")
    report = validate_corpus(db, "30813d9e95a1baec")
    report.success, report.failed()          # False, [ExpectationOutcome(table='examples', ...)]
"""

import json
import os
from dataclasses import asdict, dataclass, field

from node0_ops.corpus.schema import ROLES, SPLITS, TASKS

EXAMPLE_KINDS = ("chat", "text")
MAX_TOKENS = 8192  # longer rows are truncated by every trainer; one this long is a formatting bug


@dataclass
class ExpectationOutcome:
    """One expectation's result on one table.

    Attributes:
        table: ``examples`` | ``dpo_pairs`` | ``redactions`` | ``quarantine``.
        expectation: GX expectation type, e.g. ``expect_column_values_to_be_in_set``.
        column: the column it checks (derived columns are named ``_...``).
        success: whether every row met it.
        n_rows: rows in the batch.  unexpected_count: rows that failed it.
        unexpected_ids: ids (example_id, pair_id, record_id or qid) of up to 20 failing rows.
        unexpected_values: up to 20 failing values.
    """

    table: str
    expectation: str
    column: str
    success: bool
    n_rows: int
    unexpected_count: int = 0
    unexpected_ids: list = field(default_factory=list)
    unexpected_values: list = field(default_factory=list)

    def describe(self) -> str:
        """``examples.role expect_column_values_to_be_in_set: 1/120 rows fail (ids [...])``."""
        ids = f" (ids {self.unexpected_ids[:5]})" if self.unexpected_ids else ""
        return (f"{self.table}.{self.column} {self.expectation}: {self.unexpected_count}/{self.n_rows} rows fail"
                f"{ids}; values {self.unexpected_values[:5]}")


@dataclass
class CorpusValidation:
    """Every expectation outcome of one corpus version (``success`` = all passed)."""

    corpus_version: str
    outcomes: list[ExpectationOutcome]

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def to_rows(self) -> list[dict]:
        return [asdict(o) for o in self.outcomes]


def _last_assistant_len(messages: str | None, kind: str) -> int:
    """Characters of the last assistant turn (stripped text plus its tool calls, which the chat
    template renders Hermes-style); -1 when ``messages`` is not a chat."""
    if kind != "chat":
        return 0
    try:
        turns = json.loads(messages or "")
    except (TypeError, ValueError):
        return -1
    if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
        return -1
    said = [t for t in turns if t.get("role") == "assistant"]
    if not said:
        return -1
    text = said[-1].get("content")
    calls = said[-1].get("tool_calls") or []
    return len(text.strip() if isinstance(text, str) else "") + len(json.dumps(calls) if calls else "")


def _frames(db, version: str) -> dict:
    with db.read() as con:
        ex = con.execute("""select e.example_id, e.kind, e.role, e.task, e.split, e.messages, e.text, e.n_tokens
            from examples e join corpus_version_members m on m.item_id = e.example_id and m.item_kind = 'example'
            where m.corpus_version = ?""", [version]).df()
        dp = con.execute("""select p.pair_id, p.role, p.split, p.prompt, p.chosen, p.rejected, p.failure_mode
            from dpo_pairs p join corpus_version_members m on m.item_id = p.pair_id and m.item_kind = 'dpo_pair'
            where m.corpus_version = ?""", [version]).df()
        red = con.execute("select record_id, entity_type, count, recognizer from redactions").df()
        qua = con.execute("select qid, path, position, reason from quarantine").df()
    ex["_assistant_chars"] = [_last_assistant_len(m, k) for m, k in zip(ex["messages"], ex["kind"])]
    ex["_text_chars"] = [len((t or "").strip()) if k == "text" else 1 for t, k in zip(ex["text"], ex["kind"])]
    for col in ("prompt", "chosen", "rejected"):
        dp[f"_{col}_chars"] = [len((v or "").strip()) for v in dp[col]]
    dp["_chosen_is_rejected"] = [(c or "").strip() == (r or "").strip() for c, r in zip(dp["chosen"], dp["rejected"])]
    return {"examples": (ex, "example_id"), "dpo_pairs": (dp, "pair_id"), "redactions": (red, "record_id"),
            "quarantine": (qua, "qid")}


def _suites(gx) -> dict[str, list]:
    E = gx.expectations
    roles, splits = list(ROLES), list(SPLITS)
    return {
        "examples": [
            E.ExpectColumnValuesToNotBeNull(column="example_id"),
            E.ExpectColumnValuesToBeUnique(column="example_id"),
            E.ExpectColumnValuesToBeInSet(column="kind", value_set=list(EXAMPLE_KINDS)),
            E.ExpectColumnValuesToBeInSet(column="role", value_set=roles),
            E.ExpectColumnValuesToBeInSet(column="task", value_set=list(TASKS)),
            E.ExpectColumnValuesToBeInSet(column="split", value_set=splits),
            E.ExpectColumnValuesToBeBetween(column="n_tokens", min_value=1, max_value=MAX_TOKENS),
            # chat rows: the last assistant turn is non-empty (-1 = messages is not a chat)
            E.ExpectColumnValuesToBeBetween(column="_assistant_chars", min_value=0),
            E.ExpectColumnValuesToBeBetween(column="_assistant_chars", min_value=1,
                                            row_condition='kind == "chat"', condition_parser="pandas"),
            E.ExpectColumnValuesToBeBetween(column="_text_chars", min_value=1),
        ],
        "dpo_pairs": [
            E.ExpectColumnValuesToBeUnique(column="pair_id"),
            E.ExpectColumnValuesToBeInSet(column="role", value_set=roles),
            E.ExpectColumnValuesToBeInSet(column="split", value_set=splits),
            E.ExpectColumnValuesToNotBeNull(column="failure_mode"),
            E.ExpectColumnValuesToBeBetween(column="_prompt_chars", min_value=1),
            E.ExpectColumnValuesToBeBetween(column="_chosen_chars", min_value=1),
            E.ExpectColumnValuesToBeBetween(column="_rejected_chars", min_value=1),
            E.ExpectColumnValuesToBeInSet(column="_chosen_is_rejected", value_set=[False]),
        ],
        "redactions": [
            E.ExpectColumnValuesToNotBeNull(column="record_id"),
            E.ExpectColumnValuesToNotBeNull(column="entity_type"),
            E.ExpectColumnValuesToBeBetween(column="count", min_value=1),
        ],
        "quarantine": [
            E.ExpectColumnValuesToNotBeNull(column="path"),
            E.ExpectColumnValuesToNotBeNull(column="reason"),
        ],
    }


def validate_corpus(db, corpus_version: str) -> CorpusValidation:
    """Run the corpus suites on ``corpus_version`` of the lineage database ``db`` (a LineageDB).

    Returns:
        :class:`CorpusValidation` with one :class:`ExpectationOutcome` per expectation and table
        (a table with no rows is reported as passing with ``n_rows=0``).

    Raises:
        ValueError: ``corpus_version`` has no member rows (unknown version).
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    frames = _frames(db, corpus_version)
    if frames["examples"][0].empty and frames["dpo_pairs"][0].empty:
        raise ValueError(f"corpus version {corpus_version!r} has no examples or DPO pairs in {db.path}")
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = ctx.data_sources.add_pandas("corpus")
    outcomes: list[ExpectationOutcome] = []
    for table, expectations in _suites(gx).items():
        df, id_col = frames[table]
        if df.empty:
            outcomes += [ExpectationOutcome(table, e.expectation_type, e.column, True, 0) for e in expectations]
            continue
        df = df.reset_index(drop=True)
        batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("all").get_batch(
            batch_parameters={"dataframe": df})
        suite = gx.ExpectationSuite(name=f"corpus_{table}", expectations=expectations)
        result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
        for r in result.results:
            res = r.result or {}
            idx = res.get("unexpected_index_list") or []
            ids = [str(df.at[i, id_col]) for i in idx[:20] if isinstance(i, int)]
            values = [v if isinstance(v, (str, int, float, bool)) else str(v) for v in (res.get("unexpected_list") or [])[:20]]
            outcomes.append(ExpectationOutcome(
                table=table, expectation=r.expectation_config.type, column=r.expectation_config.kwargs.get("column", ""),
                success=bool(r.success), n_rows=len(df), unexpected_count=int(res.get("unexpected_count") or 0),
                unexpected_ids=ids, unexpected_values=values))
    return CorpusValidation(corpus_version, outcomes)
