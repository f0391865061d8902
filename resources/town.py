"""Town resource: where the corpus comes from (Gas Town root plus extra sources)."""

from pathlib import Path

import dagster as dg

from node0_ops.paths import town_root


class TownResource(dg.ConfigurableResource):
    """Gas Town root (empty = ``GT_ROOT`` or the embedded sample town), extra source paths
    (files or folders, e.g. other repos' docs and beads) and extra transcript folders."""

    root: str = ""
    extra_sources: list[str] = []
    transcript_dirs: list[str] = []
    state_dir: str = ""

    def root_path(self) -> Path:
        return town_root(self.root or None, self.state_dir or None)

    def extra_paths(self) -> list[Path]:
        paths = [Path(p).expanduser() for p in self.extra_sources]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise dg.Failure(description=f"extra source paths do not exist: {', '.join(missing)}",
                             metadata={"missing": missing})
        return paths

    def transcript_paths(self) -> list[Path]:
        return [Path(p).expanduser() for p in self.transcript_dirs]
