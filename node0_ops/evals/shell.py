"""A small POSIX-shell splitter: text -> simple commands (argv lists) with their operators.

Enough of ``sh`` to read what agents type: single/double quotes, backslash escapes and
line continuations, comments, ``&&``/``||``/``;``/``|``/``&``/newline separators,
redirections (``>``, ``2>&1``, ``&>``, ``<``), here-documents (``<<'EOF'``, body kept on the
segment), ``$(...)`` and backticks (kept literally in the word, and their inner commands
split too, flagged ``nested``), grouping ``( )``/``{ }`` and the reserved words of
``if/then/else/fi``, ``while/do/done``. It never expands variables or globs.

Usage::

    from node0_ops.evals.shell import split_commands
    for seg in split_commands('cd rig && bd close gt-abc12 --reason "Fixed" 2>/dev/null'):
        print(seg.argv, seg.op)
    # ['cd', 'rig'] '&&'
    # ['bd', 'close', 'gt-abc12', '--reason', 'Fixed'] None
"""

import os
from dataclasses import dataclass, field

_OPERATORS = ("&&", "||", ";;", ";", "|", "&")
_RESERVED_LEAD = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time"}
_RESERVED_ONLY = {"fi", "done", "esac", "}", "then", "else", "do"}
_WRAPPERS = {"sudo", "nohup", "command", "exec", "builtin", "time", "nice", "stdbuf"}


@dataclass
class Segment:
    """One simple command.

    Attributes:
        argv: words with quotes removed (redirections and their targets taken out).
        text: the source text of the command (approximate: from first to last word).
        op: the operator that ended it (``&&``, ``||``, ``;``, ``|``, ``&``, newline as
            ``"\\n"``) or None at the end of the text.
        redirects: ``(operator, target)`` pairs, e.g. ``(">", "/dev/null")``.
        heredoc: the here-document body fed to this command, if any.
        nested: True when the command came from inside ``$(...)`` or backticks.
    """

    argv: list[str]
    text: str = ""
    op: str | None = None
    redirects: list[tuple[str, str]] = field(default_factory=list)
    heredoc: str | None = None
    nested: bool = False

    @property
    def words(self) -> list[str]:
        """argv without leading ``VAR=value`` assignments and wrappers (sudo, env, timeout, ...)."""
        return strip_wrappers(self.argv)

    @property
    def program(self) -> str:
        """Basename of the effective program (``bd`` for ``/usr/local/bin/bd``), '' if none."""
        words = self.words
        return os.path.basename(words[0]) if words else ""


def _is_assignment(word: str) -> bool:
    name, eq, _ = word.partition("=")
    return bool(eq) and name.replace("_", "a").isalnum() and not name[0].isdigit()


def strip_wrappers(argv: list[str]) -> list[str]:
    """Drop env assignments and wrapper programs so ``sudo -E BD_ACTOR=x bd list`` -> ``bd list``."""
    words = list(argv)
    while words:
        head = words[0]
        if _is_assignment(head):
            words.pop(0)
        elif head in _WRAPPERS:
            words.pop(0)
            while words and words[0].startswith("-"):  # wrapper options (sudo -E, nice -n 5)
                opt = words.pop(0)
                if opt in ("-n", "-u", "-g", "-o", "-i", "-e") and words and head in ("nice", "sudo", "stdbuf"):
                    words.pop(0)
        elif head == "env":
            words.pop(0)
            while words and (words[0].startswith("-") or _is_assignment(words[0])):
                words.pop(0)
        elif head == "timeout":
            words.pop(0)
            while words and words[0].startswith("-"):
                words.pop(0)
            if words:
                words.pop(0)  # the duration
        elif head == "xargs":
            words.pop(0)
            while words and words[0].startswith("-"):
                opt = words.pop(0)
                if opt in ("-n", "-I", "-P", "-L", "-d", "-s") and words:
                    words.pop(0)
        else:
            break
    return words


class _Lexer:
    def __init__(self, text: str, nested: bool = False):
        self.s = text
        self.i = 0
        self.nested = nested
        self.segments: list[Segment] = []
        self.inner: list[str] = []  # texts of $(...) / backticks, split afterwards
        self._reset()
        self.pending_heredocs: list[tuple[str, bool, Segment | None]] = []

    def _reset(self) -> None:
        self.words: list[str] = []
        self.word: list[str] | None = None
        self.redirects: list[tuple[str, str]] = []
        self.start: int | None = None
        self.end: int | None = None

    # -- words --
    def _add(self, chars: str) -> None:
        if self.word is None:
            self.word = []
            if self.start is None:
                self.start = self.i
        self.word.append(chars)

    def _end_word(self) -> None:
        if self.word is not None:
            self.words.append("".join(self.word))
            self.word = None
            self.end = self.i

    def _end_segment(self, op: str | None) -> None:
        self._end_word()
        argv = self.words
        while argv and argv[0] in _RESERVED_LEAD:
            argv = argv[1:]
        if argv and not (len(argv) == 1 and argv[0] in _RESERVED_ONLY):
            stop = self.end if self.end is not None else self.i
            text = self.s[self.start:stop].strip() if self.start is not None else " ".join(argv)
            seg = Segment(argv, text, op, self.redirects, None, self.nested)
            self.segments.append(seg)
            for k, (delim, strip, target) in enumerate(self.pending_heredocs):
                if target is None:
                    self.pending_heredocs[k] = (delim, strip, seg)
        self._reset()

    def _read_quoted_single(self) -> str:
        end = self.s.find("'", self.i + 1)
        end = len(self.s) if end < 0 else end
        out = self.s[self.i + 1:end]
        self.i = end + 1
        return out

    def _read_quoted_double(self) -> str:
        out = []
        j = self.i + 1
        while j < len(self.s) and self.s[j] != '"':
            c = self.s[j]
            if c == "\\" and j + 1 < len(self.s) and self.s[j + 1] in '"\\$`\n':
                if self.s[j + 1] != "\n":
                    out.append(self.s[j + 1])
                j += 2
                continue
            if c == "$" and self.s.startswith("$(", j):
                k = self._match_paren(j + 1)
                self.inner.append(self.s[j + 2:k - 1])
                out.append(self.s[j:k])
                j = k
                continue
            out.append(c)
            j += 1
        self.i = j + 1
        return "".join(out)

    def _match_paren(self, j: int) -> int:
        """Index just past the ')' matching the '(' at ``j`` (quote-aware, best effort)."""
        depth = 0
        while j < len(self.s):
            c = self.s[j]
            if c == "'":
                k = self.s.find("'", j + 1)
                j = len(self.s) if k < 0 else k + 1
                continue
            if c == "\\":
                j += 2
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        return len(self.s)

    def _read_word_only(self) -> str:
        """Read one word (for a redirection target), quotes allowed."""
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1
        out = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t\n;&|<>()":
                break
            if c == "'":
                out.append(self._read_quoted_single())
            elif c == '"':
                out.append(self._read_quoted_double())
            elif c == "\\" and self.i + 1 < len(self.s):
                out.append(self.s[self.i + 1])
                self.i += 2
            else:
                out.append(c)
                self.i += 1
        return "".join(out)

    def _redirect(self) -> None:
        s, i = self.s, self.i
        if self.word is not None and "".join(self.word).isdigit():
            self.word = None  # the fd number in 2>
        for op in ("<<<", "<<-", "<<", ">>", ">&", "<&", "<>", "&>>", "&>", ">|", ">", "<"):
            if s.startswith(op, i):
                break
        self.i = i + len(op)
        if op in ("<<", "<<-"):
            raw = self._read_word_only()
            self.pending_heredocs.append((raw.strip("'\""), op == "<<-", None))
            self.redirects.append((op, raw))
            self.end = self.i
            return
        self.redirects.append((op, self._read_word_only()))
        self.end = self.i

    def _consume_heredocs(self) -> None:
        """At a newline: swallow pending here-document bodies."""
        for delim, strip, target in self.pending_heredocs:
            body = []
            while self.i < len(self.s):
                end = self.s.find("\n", self.i)
                end = len(self.s) if end < 0 else end
                line = self.s[self.i:end]
                self.i = end + 1
                if (line.strip() if strip else line) == delim:
                    break
                body.append(line)
            if target is not None:
                target.heredoc = "\n".join(body)
        self.pending_heredocs = []

    def run(self) -> list[Segment]:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c == "\\" and self.i + 1 < len(s):
                if s[self.i + 1] == "\n":
                    self.i += 2
                    continue
                self._add(s[self.i + 1])
                self.i += 2
            elif c in " \t\r":
                self._end_word()
                self.i += 1
            elif c == "\n":
                self._end_segment("\n")
                self.i += 1
                if self.pending_heredocs:
                    self._consume_heredocs()
            elif c == "#" and self.word is None:
                end = s.find("\n", self.i)
                self.i = len(s) if end < 0 else end
            elif c == "'":
                self._add("")
                self.word.append(self._read_quoted_single())
            elif c == '"':
                self._add("")
                self.word.append(self._read_quoted_double())
            elif c == "$" and s.startswith("$(", self.i):
                k = self._match_paren(self.i + 1)
                self.inner.append(s[self.i + 2:k - 1])
                self._add(s[self.i:k])
                self.i = k
            elif c == "`":
                end = s.find("`", self.i + 1)
                end = len(s) if end < 0 else end
                self.inner.append(s[self.i + 1:end])
                self._add(s[self.i:end + 1])
                self.i = end + 1
            elif c in "<>" or (c == "&" and s.startswith("&>", self.i)):
                self._redirect()
            elif c in ";&|":
                op = next(o for o in _OPERATORS if s.startswith(o, self.i))
                self._end_segment(op)
                self.i += len(op)
            elif c in "()" and self.word is None:
                self._end_segment(c)
                self.i += 1
            else:
                self._add(c)
                self.i += 1
        self._end_segment(None)
        return self.segments


def split_commands(text: str, *, include_nested: bool = True) -> list[Segment]:
    """Split shell text into simple commands, in source order.

    Args:
        text: one or more shell lines.
        include_nested: also return commands found inside ``$(...)``/backticks (after the
            enclosing command, ``nested=True``).

    Returns:
        List of :class:`Segment`; empty for blank/comment-only text. Unbalanced quotes are
        closed at the end of the text rather than raising.
    """
    lexer = _Lexer(text)
    out = []
    for seg in lexer.run():
        out.append(seg)
    if include_nested:
        for inner in lexer.inner:
            for seg in split_commands(inner, include_nested=True):
                seg.nested = True
                out.append(seg)
    return out
