"""node0_ops: plain torch/peft/trl/hivemind code behind gastown-finetune.

Nothing in this package imports dagster; ``resources/`` wraps it and
``gastown_assets/`` drives it. Each sub-package is usable and testable alone:

    from node0_ops.paths import state_dir, town_root
    from node0_ops.corpus.collect import collect_town
"""

__version__ = "0.1.0"
