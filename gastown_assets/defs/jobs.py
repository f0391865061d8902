"""Asset jobs: the corpus alone, and the whole role-model chain in one run (what `make run` launches).

``role_model_job`` runs for one ``role`` partition: collect -> scrub -> version the corpus (unpartitioned
assets, Dagster runs them in the same run), then role adapter -> export -> eval report -> registry entry,
the blocking ``registry_entry_eval_threshold`` gate, and the deployment the gate lets through. The UI
shows one run holding the whole lineage of the model it produced.

    dagster job launch -w workspace.yaml -j role_model_job --config-json '{}' --tags '{"dagster/partition": "deacon"}'
"""

import dagster as dg

CORPUS_ASSETS = ("collected_records", "scrubbed_records", "corpus_version")
ROLE_ASSETS = ("role_adapter", "exported_model", "eval_report", "registry_entry", "role_deployment")

corpus_job = dg.define_asset_job(
    "corpus_job", selection=dg.AssetSelection.assets(*CORPUS_ASSETS),
    description="Collect, scrub, format and version the corpus of the configured town.")

role_model_job = dg.define_asset_job(
    "role_model_job", selection=dg.AssetSelection.assets(*CORPUS_ASSETS, *ROLE_ASSETS),
    description="One role model end to end, in one run: corpus -> role adapter (LoRA SFT) -> export "
                "(safetensors, GGUF) -> eval report -> registry entry -> eval gate -> deployment.")

dpo_job = dg.define_asset_job(
    "dpo_job", selection=dg.AssetSelection.assets("dpo_pairs", "dpo_adapter", "dpo_model"),
    description="The DPO stage of one role (partition = role; its role_adapter must be materialized): preference "
                "pairs -> DPO adapter on the role adapter -> export + eval vs the SFT-only model -> registry candidate.")

task_adapter_job = dg.define_asset_job(
    "task_adapter_job", selection=dg.AssetSelection.assets("task_adapter", "task_adapter_report"),
    description="One stackable task adapter (partition = task; run config names the role it stacks on): LoRA SFT "
                "on the frozen role adapter -> export (stacked merge, LoRA GGUF) -> eval vs the role model alone.")
