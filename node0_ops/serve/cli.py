"""``node0-inference``: serve role models, print a role's compact context, refresh the town index,
or (no subcommand) run the ``node0>`` terminal agent that a town's ``node0-<role>`` entry starts.

Usage::

    node0-inference serve --model polecat-v3 --adapters code-review,git-workflow [--port 8000] [--api-key KEY]
    node0-inference serve --model-path model.gguf --adapter-path code-review=cr.lora.gguf --port 0
    node0-inference prime --role polecat [--query "push rejected"] [--report]
    node0-inference prime --role witness --report --source ../shared/gastown-real   # a gt checkout, read in place
    node0-inference index [--town ~/gt | --source ../shared/gastown-real]
    node0-inference --model polecat-v3@3 --adapters task-git-workflow --role polecat        # terminal agent
    node0-inference --backend echo-script --script replies.json --role polecat --no-rag     # no model
    node0-inference --model polecat --role polecat --dry-run                                # what it would do
    node0-inference --model polecat --role polecat --prime full       # let `gt prime` load the full prime
    node0-inference --model polecat --role polecat --intake           # session -> node0-intake at exit

Model resolution: ``--model NAME[@VERSION]`` through the registry (``<state>/lineage.duckdb``);
``--model-path`` / ``--adapter-path NAME=GGUF`` give files directly (no registry needed).
Environment: ``GASTOWN_FT_HOME`` (state), ``GT_ROOT`` (town), ``GT_ROLE`` (role when ``--role`` is
absent; Gas Town sets it per session), ``NODE0_API_KEY`` (``--api-key`` default).
Exit status: 0 done, 2 bad arguments or a model/role that cannot be resolved.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from node0_ops.cli_flags import split_leading

SUBCOMMANDS = ("serve", "prime", "index")


class CliError(Exception):
    """A user-facing error: printed as ``node0-inference: error: ...``, exit status 2."""


# ----------------------------------------------------------------------------- shared pieces


def _add_model_args(p: argparse.ArgumentParser, required_help: str) -> None:
    p.add_argument("--model", help=f"registry model NAME[@VERSION] (polecat-v3, polecat@3, polecat); {required_help}")
    p.add_argument("--adapters", help="comma-separated adapter names (NAME or NAME:SCALE) for the default stack")
    p.add_argument("--model-path", help="base GGUF file (no registry needed)")
    p.add_argument("--adapter-path", action="append", default=[], metavar="NAME=GGUF",
                   help="LoRA GGUF of an adapter; repeat for more")
    p.add_argument("--n-ctx", type=int, default=None, help="context window in tokens (serve 4096, agent 4096)")
    p.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default half the cores)")


def _add_place_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", help="state directory (default GASTOWN_FT_HOME or ~/.local/state/gastown-finetune)")
    p.add_argument("--town", help="Gas Town root (default GT_ROOT or the embedded sample town)")


def _adapter_paths(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, eq, path = item.partition("=")
        if not eq or not name.strip() or not path.strip():
            raise CliError(f"--adapter-path {item!r}: use NAME=PATH/TO/ADAPTER.gguf")
        out[name.strip()] = path.strip()
    return out


def _spec(args):
    """ModelSpec from --model / --model-path / --adapter-path / --adapters."""
    from node0_ops.registry.store import RegistryError
    from node0_ops.serve.models import StackError, resolve_spec, spec_from_paths

    paths = _adapter_paths(args.adapter_path)
    try:
        if args.model:
            return resolve_spec(args.model, args.adapters, state=args.state_dir, model_path=args.model_path,
                                adapter_paths=paths)
        if args.model_path:
            return spec_from_paths(args.model_path, paths, adapters=args.adapters)
    except (RegistryError, StackError, FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    raise CliError("give --model NAME[@VERSION] (registry) or --model-path FILE.gguf")


def _town(args) -> Path:
    from node0_ops.paths import town_root

    try:
        return town_root(args.town, args.state_dir)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from exc


def _serve_config(args, **kw):
    from node0_ops.serve.serve_config import ServeConfig

    cfg = {k: v for k, v in dict(n_ctx=args.n_ctx, n_threads=args.threads).items() if v is not None}
    try:
        return ServeConfig(**cfg, **kw)
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def _spec_summary(spec) -> dict:
    return {"name": spec.name, "ref": spec.ref, "gguf": str(spec.gguf),
            "adapters": {a.name: {"gguf": str(a.gguf), "aliases": list(a.aliases)} for a in spec.adapters},
            "default_stack": spec.stack_id(spec.default_stack)}


def _context_fn(town: Path, role: str, state, *, use_rag: bool, budget: int):
    from node0_ops.serve.prime import compact_context

    def context_for(query: str) -> str:
        return compact_context(town, role, query or None, budget_tokens=budget, state=state, use_rag=use_rag).text

    return context_for


# ----------------------------------------------------------------------------- serve


def cmd_serve(args) -> int:
    from node0_ops.serve.serve_config import ServeConfig

    spec = _spec(args)
    api_key = args.api_key or os.environ.get("NODE0_API_KEY")
    cfg = _serve_config(args, host=args.host, port=args.port, api_key=api_key,
                        default_max_tokens=args.max_tokens or ServeConfig.default_max_tokens)
    if args.dry_run:
        print(json.dumps({"action": "serve", "model": _spec_summary(spec), "stacks": spec.listed_stacks(),
                          "config": cfg.to_dict(), "url": f"http://{cfg.host}:{cfg.port}"}, indent=2))
        return 0
    from node0_ops.serve.app import InferenceServer
    from node0_ops.serve.engine import LlamaEngine

    engine = LlamaEngine(spec, cfg)
    context_for = None
    if args.town:
        from node0_ops.serve.prime import compact_context

        town = _town(args)

        def context_for(role, query):  # noqa: E306 - built per request
            return compact_context(town, role, query or None, state=args.state_dir).text
    try:
        server = InferenceServer(engine, cfg, context_for=context_for, log_level="info")
        print(f"node0-inference serving {spec.name} ({len(spec.adapters)} adapters) on {server.url}", flush=True)
        sig = server.serve_forever()
        print(f"node0-inference stopped{f' (signal {sig})' if sig else ''}", flush=True)
    finally:
        engine.close()
    return 0


# ----------------------------------------------------------------------------- prime / index


def _prime_source(args):
    """``--source`` (a gt checkout, read in place) or the town of ``--town``."""
    if getattr(args, "source", None):
        from node0_ops.serve.prime_source import PrimeSource

        try:
            return PrimeSource.checkout(args.source)
        except FileNotFoundError as exc:
            raise CliError(str(exc)) from exc
    return _town(args)


def _report_text(report: dict) -> str:
    f, c, src, index = report["full"], report["compact"], report["source"], report["source"]["index"]
    read = f" (read in place; index {index['total']} chunks, {index['added']} new)" if index else ""
    lines = [f"prime report {report['report_id']} role={report['role']} rig={report['rig']}",
             f"  source:      {src['layout']} {src['root']}{read}"]
    lines.append(f"  full prime:  {f['tokens']:6d} tokens {f['bytes']:7d} bytes")
    width = max(len(x["part"]) for x in f["components"])
    for x in f["components"]:
        kept = (f"kept {x['chunks_in_compact']} chunk(s), {x['tokens_in_compact']} tokens" if x["chunks_in_compact"]
                else "left out")
        lines.append(f"    {x['part']:<{width}}  {x['tokens']:6d} tokens  {kept}  ({x['path']})")
    lines.append(f"  compact:     {c['tokens']:6d} tokens {c['bytes']:7d} bytes  (role card, nudge and directives "
                 f"{c['head_tokens']}; {len(c['chunks'])} chunks {sum(x['tokens'] for x in c['chunks'])})")
    over = f"{c['skipped']} retrieved chunk(s) over the {report['budget_tokens']}-token budget"
    lines.append(f"  left out:    {', '.join(report['left_out']) or 'no part whole'}; {over}")
    lines.append(f"  ratio:       {report['token_ratio']:.3f} of the tokens, {report['byte_ratio']:.3f} of the bytes")
    return "\n".join(lines)


def cmd_prime(args) -> int:
    from node0_ops.serve.prime import as_dict, compact_context, prime_report

    where = _prime_source(args)
    try:
        if args.report:
            report = prime_report(where, args.role, state=args.state_dir, query=args.query, budget_tokens=args.budget,
                                  rig=args.rig)
            print(json.dumps(report, indent=2, default=str) if args.json else _report_text(report))
            return 0
        ctx = compact_context(where, args.role, args.query, budget_tokens=args.budget, state=args.state_dir,
                              rig=args.rig, use_rag=not args.no_rag)
    except (ValueError, FileNotFoundError) as exc:
        raise CliError(str(exc)) from exc
    if args.json:
        print(json.dumps(as_dict(ctx), indent=2))
    else:
        print(ctx.text)
        print(f"\n[{ctx.tokens} tokens, {ctx.bytes} bytes, {len(ctx.chunks)} chunks, budget {ctx.budget_tokens}]",
              file=sys.stderr)
    return 0


def cmd_index(args) -> int:
    from node0_ops.serve.prime_source import PrimeSource
    from node0_ops.serve.rag import rag_index_refresh

    src = PrimeSource.of(_prime_source(args))
    counts = rag_index_refresh(args.state_dir, src.root, kinds=src.index_kinds)
    if args.json:
        print(json.dumps(counts, indent=2))
    else:
        print(f"index {counts['collection']} ({counts['path']}): {counts['total']} chunks from {counts['records']} "
              f"records; added {counts['added']}, updated {counts['updated']}, removed {counts['removed']}, "
              f"unchanged {counts['unchanged']} in {counts['seconds']:.1f} s")
    return 0


# ----------------------------------------------------------------------------- agent


def _role(args) -> str:
    from node0_ops.corpus.examples_common import actor_role, role_from_path
    from node0_ops.corpus.schema import ROLES

    if args.role:
        if args.role not in ROLES:
            raise CliError(f"--role {args.role!r}: use one of {', '.join(ROLES)}")
        return args.role
    env = os.environ.get("GT_ROLE")
    role = actor_role(env)[0] or (env if env in ROLES else None) if env else None
    role = role or role_from_path(args.work_tree or os.getcwd())[0]
    if not role:
        raise CliError("cannot tell the role: pass --role ROLE (or run where GT_ROLE is set)")
    return role


def _backend(args, spec):
    from node0_ops.serve.backends import EchoScriptBackend, HttpBackend, LlamaBackend

    if args.backend == "echo-script":
        try:
            return EchoScriptBackend.from_file(args.script)
        except (OSError, ValueError) as exc:
            raise CliError(f"--script: {exc}") from exc
    if args.backend == "http":
        if not args.server:
            raise CliError("--backend http needs --server URL (e.g. http://127.0.0.1:8000/v1)")
        model = spec.stack_id(spec.default_stack) if spec else (args.model or "")
        return HttpBackend(args.server, model, api_key=args.api_key, max_tokens=args.max_tokens)
    from node0_ops.serve.engine import LlamaEngine

    engine = LlamaEngine(spec, _serve_config(args))
    return LlamaBackend(engine, max_tokens=args.max_tokens)


def cmd_agent(args) -> int:
    from node0_ops.serve.agent import INSTRUCTIONS, TerminalAgent
    from node0_ops.serve.agent_config import AgentConfig
    from node0_ops.serve.transcript import TranscriptWriter, transcript_dir

    if args.backend == "echo-script" and (args.model or args.model_path):
        raise CliError("--backend echo-script replays --script replies; drop --model/--model-path")
    role = _role(args)
    town = _town(args)
    spec = _spec(args) if args.backend == "llama" or (args.backend == "http" and (args.model or args.model_path)) else None
    try:
        cfg = AgentConfig(role=role, work_tree=args.work_tree or os.getcwd(), max_steps=args.max_steps,
                          command_timeout_s=args.command_timeout, extra_allowed=tuple(args.allow),
                          use_rag=not args.no_rag, budget_tokens=args.budget, prime=args.prime)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    context_for = _context_fn(town, role, args.state_dir, use_rag=cfg.use_rag, budget=cfg.budget_tokens)
    if args.print_context or args.dry_run:
        text = context_for(args.prompt or "")
        if args.print_context and not args.dry_run:
            print(text)
            return 0
        plan = {"action": "agent", "role": role, "town": str(town), "work_tree": cfg.work_tree,
                "backend": args.backend, "model": _spec_summary(spec) if spec else None,
                "server": args.server, "transcript_dir": str(transcript_dir(cfg.work_tree, args.transcript_dir)),
                "policy": {"allowed": ["gt", "bd", "git", "read-only tools"] + list(cfg.extra_allowed),
                           "refuses": "pkill, killall, kill -9, force push, --no-verify, rm -rf outside the work tree, "
                                      "raw beads SQL/files, sudo, package installs, destructive git, writes via >"},
                "max_steps": cfg.max_steps, "rag": cfg.use_rag, "budget_tokens": cfg.budget_tokens, "prime": cfg.prime,
                "intake": args.intake}
        print(json.dumps(plan, indent=2))
        print("\n--- system context ---\n" + text + "\n\n" + INSTRUCTIONS.format(cwd=cfg.work_tree))
        return 0
    backend = _backend(args, spec)
    model_name = getattr(backend, "name", args.backend)
    transcript = TranscriptWriter(cfg.work_tree, directory=args.transcript_dir, model=model_name)
    pick = None
    if spec is not None and spec.adapters and hasattr(backend, "stack"):
        from node0_ops.registry.adapter_select import stack_picker

        pick = stack_picker(spec, town_root=town, state=args.state_dir)
    agent = TerminalAgent(backend, cfg, context_for=context_for, transcript=transcript, pick_stack=pick)
    agent.say(f"node0-inference agent · {model_name} · role {role} · {cfg.work_tree}")
    agent.say(f"transcript {transcript.path} · /help for commands")
    try:
        return agent.run(sys.stdin, initial=args.prompt)
    finally:
        backend.close()
        if args.intake:
            _intake(transcript, cfg.work_tree, args.state_dir, town)


def _intake(transcript, work_tree: str, state: str | None, town: Path) -> None:
    """``--intake``: hand the closed session to ``node0-intake`` as the SessionEnd hook does."""
    from node0_ops.paths import state_dir
    from node0_ops.registry.hooks import hand_to_intake

    res = hand_to_intake(transcript.path, transcript.session_id, work_tree, state_dir(state), town)
    if res.outcome == "failed":
        print(f"node0-inference: session {transcript.session_id} not taken into the corpus: {res.detail}\n"
              f"  the new_sessions sensor still finds {transcript.path}; or run: {res.command} "
              f"--event <hook.json>", file=sys.stderr)
    else:
        print(f"node0-inference: intake {res.outcome}: {res.detail}", file=sys.stderr)


# ----------------------------------------------------------------------------- parsers


def agent_parser() -> argparse.ArgumentParser:
    from node0_ops.serve.prime import DEFAULT_BUDGET

    p = argparse.ArgumentParser(prog="node0-inference", description=__doc__.split("\n\n")[0],
                                epilog="subcommands: serve, prime, index (node0-inference SUBCOMMAND --help)")
    _add_model_args(p, "or --model-path, or --backend echo-script")
    _add_place_args(p)
    p.add_argument("--role", help="Gas Town role (default: from GT_ROLE or the working directory)")
    p.add_argument("--backend", choices=("llama", "http", "echo-script"), default="llama",
                   help="llama: load the GGUF here (default); http: use --server; echo-script: replay --script")
    p.add_argument("--script", help="echo-script replies: JSON list of strings or text separated by '---' lines")
    p.add_argument("--server", help="OpenAI-compatible base URL for --backend http")
    p.add_argument("--api-key", default=os.environ.get("NODE0_API_KEY"), help="key for --server")
    p.add_argument("--transcript-dir", help="folder for the session JSONL (default ~/.claude/projects/<mangled cwd>)")
    p.add_argument("--work-tree", help="where commands run (default: the current directory)")
    p.add_argument("--max-steps", type=int, default=8, help="model calls per user turn (default 8)")
    p.add_argument("--max-tokens", type=int, default=256, help="completion tokens per model call (default 256)")
    p.add_argument("--command-timeout", type=float, default=60.0, help="seconds per command (default 60)")
    p.add_argument("--allow", action="append", default=[], metavar="PROG", help="also allow this program; repeat")
    p.add_argument("--no-rag", action="store_true", help="no retrieval: role card and directives only")
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET,
                   help=f"context budget in tokens (default {DEFAULT_BUDGET})")
    p.add_argument("--prime", choices=("compact", "full"), default="compact",
                   help="a `gt prime` the model asks for: compact = answered by the compact prime "
                        "(node0-inference prime --role ROLE, the system context; default), full = run gt prime")
    p.add_argument("--intake", action="store_true",
                   help="at exit hand the session's transcript to node0-intake (as the SessionEnd hook does for "
                        "Claude agents), so it becomes scrubbed corpus; the deployed node0-<role> entries set it")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the context, load nothing, exit")
    p.add_argument("--print-context", action="store_true", help="print the system context and exit")
    p.add_argument("prompt", nargs="?", help="first message (Gas Town prompt_mode=arg)")
    p.set_defaults(func=cmd_agent)
    return p


def sub_parser(name: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"node0-inference {name}")
    _add_place_args(p)
    if name == "serve":
        p.description = "OpenAI-compatible server with hot-switched LoRA adapter stacks"
        _add_model_args(p, "or --model-path")
        p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
        p.add_argument("--port", type=int, default=8000, help="port (0 = a free one; default 8000)")
        p.add_argument("--api-key", help="require 'Authorization: Bearer KEY' (default NODE0_API_KEY)")
        p.add_argument("--max-tokens", type=int, default=None, help="completion tokens when a request sets none")
        p.add_argument("--dry-run", action="store_true", help="print the resolved model and settings, exit")
        p.set_defaults(func=cmd_serve)
    elif name == "prime":
        from node0_ops.serve.prime import DEFAULT_BUDGET

        p.description = "print a role's compact context (role card + directives + retrieved town chunks)"
        p.add_argument("--role", required=True, help="Gas Town role")
        p.add_argument("--query", help="what the context is for (default: the role's duties and nudge)")
        p.add_argument("--rig", help="rig of a rig role (default: from the prime capture or the first rig)")
        p.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help=f"token budget (default {DEFAULT_BUDGET})")
        p.add_argument("--no-rag", action="store_true", help="role card and directives only")
        p.add_argument("--report", action="store_true", help="compare with the full prime and record prime_reports")
        p.add_argument("--source", help="a gt source checkout (or its parent, e.g. ../shared/gastown-real) instead of a "
                                        "town: its role templates, role configs and CLAUDE templates, read in place")
        p.add_argument("--json", action="store_true", help="JSON output")
        p.set_defaults(func=cmd_prime)
    else:
        p.description = "refresh the town's retrieval index (only new/changed chunks are embedded)"
        p.add_argument("--source", help="index a gt source checkout's prime material instead of a town (read in place)")
        p.add_argument("--json", action="store_true", help="JSON output")
        p.set_defaults(func=cmd_index)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``node0-inference``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    lead, rest = split_leading(argv, ("--state-dir", "--town"))  # place flags may come before the subcommand
    if rest and rest[0] in SUBCOMMANDS:
        args = sub_parser(rest[0]).parse_args(lead + rest[1:])
    else:
        args = agent_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"node0-inference: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
