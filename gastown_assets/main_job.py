"""The main job (`make run`): the whole pipeline on the configured town (default: embedded sample).

    python -m gastown_assets.main_job [--state-dir S] [--town T] [--role polecat] [--skip-training]

Runs as Dagster materializations on the state's instance, so every step is browsable afterwards in
the UI (``dagster dev -w workspace.yaml`` with ``DAGSTER_HOME=<state>/dagster_home``).
"""

import argparse
import os
import sys
import time

from gastown_assets.cli.common import add_common_flags, apply_common_flags
from node0_ops.paths import dagster_home, lineage_db_path, state_dir, town_root


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="gastown-finetune main job", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_flags(p)
    p.add_argument("--role", default="polecat", help="role whose adapter the job trains (default polecat)")
    p.add_argument("--skip-training", action="store_true", help="stop after the corpus")
    args = p.parse_args(argv)
    apply_common_flags(args)
    t0 = time.perf_counter()
    root = town_root(args.town)
    print(f"== gastown-finetune main job\n   town:  {root}\n   state: {state_dir()}")

    from gastown_assets.cli import corpus as corpus_cli

    print("\n== 1. corpus (collect -> scrub -> format -> version)")
    corpus_cli.main(["build"] + ([] if not args.town else []))
    corpus_cli.main(["stats"])

    print(f"\n== done in {time.perf_counter() - t0:.0f} s")
    print(f"lineage DB: {lineage_db_path()}")
    print("browse it:  DAGSTER_HOME=" + str(dagster_home()) + " .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
