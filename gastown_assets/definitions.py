"""The gastown-finetune code location: every asset, check, job, sensor and resource.

Loads without importing torch (a test proves it): heavy work happens inside resources at run time.
"""

import dagster as dg

from gastown_assets.defs.corpus import assets as corpus_assets
from gastown_assets.defs.corpus import checks as corpus_checks
from gastown_assets.defs.intake import assets as intake_assets
from gastown_assets.defs.intake import checks as intake_checks
from gastown_assets.defs.jobs import corpus_job, dpo_job, role_model_job, task_adapter_job
from gastown_assets.defs.models import assets as model_assets
from gastown_assets.defs.models import checks as model_checks
from gastown_assets.defs.models import stacked as stacked_assets
from gastown_assets.defs.models.rollback import eval_regression_rollback
from gastown_assets.defs.serving import assets as serving_assets
from gastown_assets.defs.training import assets as training_assets
from resources import LineageResource, TownResource
from resources.handles import HandleIOManager
from resources.settings import configured_resources
from sensors import all_sensors



def build_resources() -> dict:
    """Resources from the environment (GASTOWN_FT_HOME, GT_ROOT) and ``<state>/resources.yaml``.

    Raises:
        ValueError: ``resources.yaml`` is invalid (the message names the file and key).
    """
    from node0_ops.paths import state_dir

    return {"lineage": LineageResource(), "town": TownResource(), "io_manager": HandleIOManager(),
            **configured_resources(state_dir())}


defs = dg.Definitions(
    assets=dg.load_assets_from_modules([corpus_assets, training_assets, model_assets, stacked_assets, intake_assets,
                                            serving_assets]),
    asset_checks=dg.load_asset_checks_from_modules([corpus_checks, model_checks, intake_checks]),
    jobs=[corpus_job, role_model_job, dpo_job, task_adapter_job, eval_regression_rollback],
    sensors=all_sensors,
    resources=build_resources(),
)
