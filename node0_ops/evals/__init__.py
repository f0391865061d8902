"""Eval suite that gates deployment of node0 role models.

Modules (no dagster; torch/llama_cpp only imported inside backend constructors):
- :mod:`.cli_spec` / :mod:`.command_validator`: bd/gt command specs and ``validate(cmdline)``.
- :mod:`.shell`: shell text -> simple commands.  :mod:`.answers`: commands/JSON/code from answers.
- :mod:`.checks`: dependency direction, forbidden commands, raw shell, patrol JSON, plan DAG, code.
- :mod:`.sandbox`: sandboxed ``python -I`` test runs with rlimits.
- :mod:`.intents` / :mod:`.checkers`: matchers and the checker registry used by tasks.
- :mod:`.tasks`: ``EvalTask``, ``load_suite("v1")``, ``tasks_from_corpus(examples)``.
- :mod:`.runner` / :mod:`.report`: ``run_suite(generate, tasks, constrained=...)``, ``EvalReport``, ``compare``.
- :mod:`.eval_config`: ``EvalThresholds`` (YAML) and ``passes(report, role)``.
- :mod:`.backends`: ``LlamaCppBackend``, ``TransformersBackend``.  :mod:`.cli`: ``node0-eval``.

Usage::

    from node0_ops.evals import load_suite, run_suite, validate
    validate('bd dep add gt-abc12 gt-xyz34').ok                      # True
    report = run_suite(lambda msgs, schema: "```bash\\ngt done\\n```", load_suite("v1"), constrained=False)
    print(report.table())
"""

from node0_ops.evals.command_validator import ValidationResult, validate, validate_all
from node0_ops.evals.report import EvalReport, compare
from node0_ops.evals.runner import run_suite
from node0_ops.evals.tasks import EvalTask, load_suite, tasks_from_corpus

__all__ = ["EvalReport", "EvalTask", "ValidationResult", "compare", "load_suite", "run_suite", "tasks_from_corpus",
           "validate", "validate_all"]
