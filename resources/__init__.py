"""Dagster resources wrapping node0_ops (no torch at import time).

    from resources import LineageResource, TownResource, ScrubberResource
"""

from resources.lineage import LineageResource
from resources.scrubber import ScrubberResource
from resources.town import TownResource

__all__ = ["LineageResource", "ScrubberResource", "TownResource"]
