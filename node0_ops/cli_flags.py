"""Flags that work before and after the subcommand, in every console script.

argparse only knows a flag where it was added: ``node0-corpus build --state-dir S`` is refused when
``--state-dir`` lives on the main parser, ``node0-finetune --state-dir S train`` when it lives on the
subparser. The fix (argparse docs, "parents" + ``SUPPRESS``): add the same flags to the main parser
(real defaults) and to every subparser with ``default=argparse.SUPPRESS``, so a value given after the
subcommand overrides one given before it and an absent one does not overwrite it with ``None``.

Usage::

    def define(p):                          # anything with add_argument (a parser or a group)
        p.add_argument("--state-dir", help="state directory")

    parser = argparse.ArgumentParser(prog="tool")
    define(parser)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build")
    share_flags(sub, define)                # after every subparser is added
    parser.parse_args(["build", "--state-dir", "S"]).state_dir   # 'S'
    parser.parse_args(["--state-dir", "S", "build"]).state_dir   # 'S'

For hand-dispatched CLIs, :func:`split_leading` splits off the shared flags typed before the
subcommand (``node0-inference --state-dir S serve``) and :func:`pop_flag` takes a flag out of a
sub-CLI's arguments wherever it was typed (``node0-finetune swarm start --state-dir S``).
"""

import argparse
from collections.abc import Callable, Iterable, Sequence


class _Suppressed:
    """``add_argument`` proxy: every flag gets ``default=SUPPRESS``; a flag the subcommand already
    defines itself (e.g. ``gt-model deploy --town`` as a scope switch) is left to the subcommand."""

    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser

    def add_argument(self, *names, **kwargs):
        kwargs["default"] = argparse.SUPPRESS
        try:
            return self.parser.add_argument(*names, **kwargs)
        except argparse.ArgumentError:  # conflicting option string: the subcommand's own flag wins
            return None


def share_flags(subparsers: "argparse._SubParsersAction | Iterable[argparse.ArgumentParser]",
                define: Callable[[object], None]) -> None:
    """Add ``define``'s flags to every subparser with ``default=SUPPRESS``.

    Args:
        subparsers: the object ``add_subparsers()`` returned (all its parsers) or an iterable of parsers.
        define: callable adding the flags through ``.add_argument`` (the same one used on the main parser).
    """
    parsers = subparsers.choices.values() if hasattr(subparsers, "choices") else subparsers
    seen = set()
    for sp in parsers:
        if id(sp) in seen:  # aliases map several names to one parser
            continue
        seen.add(id(sp))
        define(_Suppressed(sp))


def split_leading(argv: Sequence[str], flags: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split the value-taking ``flags`` typed before the first other token off ``argv``.

    ``split_leading(["--state-dir", "S", "serve", "--port", "1"], ["--state-dir"])`` returns
    ``(["--state-dir", "S"], ["serve", "--port", "1"])``; ``--flag=value`` works too.

    Raises:
        SystemExit: a leading flag without its value (message names the flag).
    """
    flags = set(flags)
    argv, lead, i = list(argv), [], 0
    while i < len(argv):
        tok = argv[i]
        if tok.split("=", 1)[0] in flags and "=" in tok:
            lead.append(tok)
            i += 1
        elif tok in flags:
            if i + 1 >= len(argv):
                raise SystemExit(f"error: argument {tok}: expected one argument")
            lead += argv[i:i + 2]
            i += 2
        else:
            break
    return lead, argv[i:]


def pop_flag(argv: Sequence[str], flag: str) -> tuple[str | None, list[str]]:
    """Remove every ``flag VALUE`` / ``flag=VALUE`` from ``argv``; returns (last value or None, rest).

    For a sub-CLI that does not define the flag itself (``node0-finetune swarm ... --state-dir S``).

    Raises:
        SystemExit: ``flag`` without its value.
    """
    value, rest, i, argv = None, [], 0, list(argv)
    while i < len(argv):
        tok = argv[i]
        if tok == flag:
            if i + 1 >= len(argv):
                raise SystemExit(f"error: argument {flag}: expected one argument")
            value, i = argv[i + 1], i + 2
        elif tok.startswith(flag + "="):
            value, i = tok.split("=", 1)[1], i + 1
        else:
            rest.append(tok)
            i += 1
    return value, rest
