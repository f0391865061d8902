"""Every command in the README's ```bash blocks still works as written, so the README cannot drift.

The README is read at test time; each command line is expanded (``[--opt X]`` optional parts are
included, ``a | b | c`` alternatives of ``gt-model list | show NAME | ...`` become one command each,
``\\`` continuations joined, ``# comments`` dropped), placeholders are substituted (table ``SUBST``
below, one line per placeholder saying what replaces it), and then the command is either

* **run** (``RUN``: the corpus commands and the cheap read-only ones) in a child process on a copy
  of the embedded town and a state built once with ``node0-corpus build``: exit status 0; or
* **parsed** by the console script's own argparse parser (everything else: commands that need a
  trained and registered model, a server, a swarm or ``make``): the flags exist and sit where the
  README puts them. Parsing is what drifts when a CLI changes; running them needs the main job's
  model (``make run``, ~10 min), which ``tests/assets`` covers.

A README command that matches neither table fails the test: add it to one of them.
The README's training command itself runs (1 step) in the ``slow`` test at the bottom.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCRIPTS = ("node0-corpus", "node0-finetune", "node0-eval", "gt-model", "node0-inference")


def readme_commands(text: str) -> list[str]:
    """Command lines of the ```bash blocks, expanded as the module docstring says."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if not line or line.startswith("#"):
                continue
            line = re.sub(r"\[([^\[\]]*)\]", r"\1", line)  # include optional parts
            parts = [p.strip() for p in line.split(" | ")]
            head = parts[0].split()
            prefix = " ".join(head[:2]) if head and head[0].endswith("gt-model") else None
            out.append(parts[0])
            for alt in parts[1:]:  # "gt-model list | show NAME": alternatives share the program
                out.append(f"{prefix.split()[0]} {alt}" if prefix else alt)
    return out


# placeholder -> replacement (what a user would type there, taken from the tmp state/town)
SUBST = {
    "~/gt": "{town}",                  # the user's town root -> a copy of the embedded sample town
    "~/src/beads": "{town}/.beads",    # another repo's beads -> the copy's own .beads folder
    ".state": "{state}",               # README's state dir -> the tmp state built once
    "corpus/": "{tmp}/corpus/",        # export folder -> under the tmp dir
    "bundle.tar": "{tmp}/bundle.tar",  # a contributed corpus bundle (parsed only)
    "sft.yaml": "{tmp}/sft.yaml",      # the user's config -> a 1-step SFT config written here
    "RUN_ID": "run-readme",            # a run id (parsed only)
    "NAME": "deacon-v1", "A B": "deacon-v1 deacon-v2",  # registry names (parsed only)
    "KEY": "secret", "PORT": "4001", "ID": "QmPeer", "run.key": "{tmp}/run.key",
}

# run in a child process (exit 0); matched by prefix after the program name
RUN = ("node0-corpus build", "node0-corpus stats", "node0-corpus preview", "node0-corpus audit",
       "node0-corpus export", "node0-finetune runs", "gt-model status", "gt-model list", "gt-model adapters",
       "node0-inference prime", "gt-model formulas install", "gt-model hooks")
# parsed by the CLI's parser (need a model, a server, a swarm or make); matched the same way
PARSE = ("node0-finetune train", "node0-finetune dpo", "node0-finetune resume", "node0-finetune cancel",
         "node0-finetune runs --compare", "node0-finetune swarm", "node0-eval run", "gt-model show",
         "node0-corpus contribute", "node0-corpus import",  # run end to end in tests/corpus/test_contribution.py
         "gt-model diff", "gt-model deploy", "gt-model rollback", "gt-model prune", "gt-model formulas run",
         "gt-model serve-api", "node0-inference serve", "node0-inference --model",
         "node0-inference prime --role witness --report --source")  # real data: tests/serve/test_prime_realdata.py
# not console scripts: checked for existence instead of run (make targets, dagster's CLI)
OTHER = ("make run", "make test", "DAGSTER_HOME=", "dagster job launch")


def _program(cmd: str) -> tuple[str, list[str]]:
    argv = shlex.split(cmd)
    name = Path(argv[0]).name
    return name, argv[1:]


def _kind(cmd: str) -> str:
    if cmd.startswith(OTHER):
        return "other"
    name, args = _program(cmd)
    key = " ".join([name, *args])
    for kind, table in (("parse", PARSE), ("run", RUN)):  # PARSE first: "runs --compare" beats "runs"
        if any(key.startswith(p) for p in table):
            return kind
    return "unknown"


def _subst(cmd: str, ctx: dict) -> str:
    for k, v in sorted(SUBST.items(), key=lambda kv: -len(kv[0])):
        cmd = re.sub(rf"(?<![\w./-]){re.escape(k)}(?![\w-])", v.format(**ctx), cmd)
    return cmd.replace(".venv/bin/", str(BIN) + "/")


def _parse(name: str, args: list[str]) -> None:
    """Parse with the console script's own parser (SystemExit on a refused flag)."""
    if name == "node0-corpus":
        from gastown_assets.cli.corpus import build_parser

        build_parser().parse_args(args)
    elif name == "node0-finetune":
        from node0_ops.cli_flags import pop_flag

        if args and args[0] == "swarm":
            args = [a for a in args if a != "..."]  # "swarm start ...": the start flags are optional
            from node0_ops.swarm.cli import build_parser as swarm_parser

            swarm_parser().parse_args(pop_flag(args, "--state-dir")[1])
            return
        from node0_ops.train.cli import build_parser

        ns, rest = build_parser().parse_known_args(args)
        if rest and ns.cmd not in ("train", "dpo"):
            raise SystemExit(f"unrecognized arguments: {rest}")
        if ns.cmd in ("train", "dpo"):  # the rest are config overrides: validate them as the CLI does
            from node0_ops.train import runner

            runner._config_cls("dpo" if ns.cmd == "dpo" else "role").from_yaml(ns.config, rest)
    elif name == "node0-eval":
        from node0_ops.evals.cli import build_parser

        build_parser().parse_args(args)
    elif name == "gt-model":
        from node0_ops.registry.cli import build_parser

        build_parser().parse_args(args)
    elif name == "node0-inference":
        from node0_ops.cli_flags import split_leading
        from node0_ops.serve import cli

        lead, rest = split_leading(args, ("--state-dir", "--town"))
        if rest and rest[0] in cli.SUBCOMMANDS:
            cli.sub_parser(rest[0]).parse_args(lead + rest[1:])
        else:
            cli.agent_parser().parse_args(args)
    else:
        raise AssertionError(f"not a console script: {name}")


def _env(state: Path, town: Path) -> dict:
    env = {**os.environ, "GASTOWN_FT_HOME": str(state), "DAGSTER_HOME": str(state / "dagster_home"),
           "GT_ROOT": str(town), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
    return env


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    """tmp dir, a copy of the embedded town and a state dir (built by the README's own build line)."""
    from node0_ops.paths import EMBEDDED_TOWN

    tmp = tmp_path_factory.mktemp("readme")
    town, state = tmp / "town", tmp / "state"
    shutil.copytree(EMBEDDED_TOWN, town)
    (tmp / "sft.yaml").write_text("max_steps: 1\n")
    return {"tmp": str(tmp), "town": str(town), "state": str(state)}


@pytest.fixture(scope="module")
def commands():
    cmds = readme_commands((REPO / "README.md").read_text())
    assert len(cmds) > 20, f"found only {len(cmds)} README commands: is the ```bash parser broken?"
    return cmds


def test_every_readme_command_is_covered(commands):
    unknown = [c for c in commands if _kind(c) == "unknown"]
    assert not unknown, "README commands this test neither runs nor parses (add them to RUN or PARSE):\n" + \
        "\n".join(unknown)


def test_readme_commands_parse(commands, ctx):
    bad = []
    for cmd in commands:
        if _kind(cmd) != "parse":
            continue
        name, args = _program(_subst(cmd, ctx))
        try:
            _parse(name, args)
        except SystemExit as exc:
            bad.append(f"{cmd}\n    -> {exc}")
        except ValueError as exc:  # config override refused by the config dataclass
            bad.append(f"{cmd}\n    -> {exc}")
    assert not bad, "README commands their CLI refuses:\n" + "\n".join(bad)


def test_readme_commands_run(commands, ctx):
    """The corpus block (build first) and the cheap read-only commands, in README order."""
    env = _env(Path(ctx["state"]), Path(ctx["town"]))
    ran, bad = 0, []
    for cmd in commands:
        if _kind(cmd) != "run":
            continue
        argv = shlex.split(_subst(cmd, ctx))
        res = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        ran += 1
        if res.returncode != 0:
            bad.append(f"{cmd}\n    -> exit {res.returncode}: {res.stderr.strip()[-800:]}")
    assert ran >= 8, f"only {ran} README commands ran"
    assert not bad, "README commands that fail as written:\n" + "\n".join(bad)


def test_readme_other_commands_exist(commands):
    """make targets and the dagster lines: the targets, workspace file and module they name exist."""
    makefile = (REPO / "Makefile").read_text()
    for cmd in commands:
        if cmd.startswith("make "):
            assert re.search(rf"^{cmd.split()[1]}:", makefile, flags=re.M), f"no Makefile target for {cmd!r}"
        elif cmd.startswith("DAGSTER_HOME="):
            if "-w " in cmd:
                assert (REPO / cmd.split("-w ")[1].split()[0]).is_file(), cmd
            if "-m " in cmd:
                mod = cmd.split("-m ")[1].split()[0]
                assert (REPO / (mod.replace(".", "/") + ".py")).is_file(), cmd


@pytest.mark.slow
def test_readme_train_command_trains_on_the_latest_corpus(commands, ctx):
    """``node0-finetune train --role polecat --state-dir .state --max-steps 40 --lora.r 16`` with a
    built state trains on its latest corpus version (here 1 step instead of 40)."""
    line = next(c for c in commands if "node0-finetune train --role" in c)
    argv = shlex.split(_subst(line, ctx).replace("--max-steps 40", "--max-steps 1"))
    env = _env(Path(ctx["state"]), Path(ctx["town"]))
    if not (Path(ctx["state"]) / "lineage.duckdb").exists():
        build = subprocess.run([str(BIN / "node0-corpus"), "build", "--state-dir", ctx["state"]], cwd=REPO,
                               env=env, capture_output=True, text=True, timeout=900)
        assert build.returncode == 0, build.stderr[-2000:]
    res = subprocess.run([*argv, "--quiet"], cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    assert '"status": "completed"' in res.stdout, res.stdout[-2000:]


def test_readme_dagster_job_launches_name_real_jobs_partitions_and_config(commands):
    """``dagster job launch -j JOB --tags ... --config-json ...``: the job is in the code location, its
    partition tag names one of the job's partitions, and the run config validates against the job."""
    from gastown_assets.definitions import defs

    launches = [shlex.split(c) for c in commands if c.startswith("dagster job launch")]
    assert launches, "the README shows no dagster job launch"
    for argv in launches:
        opts = dict(zip(argv[3::2], argv[4::2]))
        job = defs.resolve_job_def(opts["-j"])
        tags = json.loads(opts.get("--tags", "{}"))
        part = tags.get("dagster/partition")
        if part is not None:
            assert part in job.partitions_def.get_partition_keys(), (argv, part)
        config = json.loads(opts.get("--config-json", "{}"))
        assert dg.validate_run_config(job, config), argv
