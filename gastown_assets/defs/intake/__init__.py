"""Intake: new-session assets (``sessions`` dynamic partitions) and the reverted-conventions check.

    from gastown_assets.defs.intake import intake_assets, intake_checks
"""

from gastown_assets.defs.intake.assets import ASSETS as intake_assets
from gastown_assets.defs.intake.checks import CHECKS as intake_checks

__all__ = ["intake_assets", "intake_checks"]
