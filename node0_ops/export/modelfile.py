"""Ollama ``Modelfile`` next to each exported GGUF.

The TEMPLATE (Go text/template) is derived from the model's Jinja chat template: the template
is rendered on probe messages and compared with the known layouts (ChatML, Llama-3), so a
template that only mentions ``<|im_start|>`` but lays turns out differently is rejected rather
than mis-served. Stop tokens follow the layout.

Usage::

    text = render_modelfile("./polecat-q4_k_m.gguf", chat_template=tok.chat_template,
                            system=role_card("polecat"))
    write_modelfile(Path("out/gguf/q4_k_m/Modelfile"), "./polecat-q4_k_m.gguf", chat_template=...)
    # ollama create polecat -f out/gguf/q4_k_m/Modelfile

Format: https://github.com/ollama/ollama/blob/main/docs/modelfile.md (FROM, ADAPTER, TEMPLATE,
SYSTEM, PARAMETER; multi-line values in triple quotes). ADAPTER paths name GGUF LoRAs that must
have been converted against the FROM model (here: the f16 base GGUF in the same folder).
"""

from dataclasses import dataclass
from pathlib import Path

_PROBE = [{"role": "system", "content": "SYS"}, {"role": "user", "content": "USR"},
          {"role": "assistant", "content": "ASST"}]

# Ollama templates. .System is the SYSTEM line (or the request's system message); .Messages holds
# the conversation; the last assistant turn is left open for generation.
CHATML_TEMPLATE = """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ .Content }}{{ if not $last }}<|im_end|>
{{ end }}
{{- end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}"""

LLAMA3_TEMPLATE = """{{- if .System }}<|start_header_id|>system<|end_header_id|>

{{ .System }}<|eot_id|>
{{- end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if or (eq .Role "user") (eq .Role "assistant") }}<|start_header_id|>{{ .Role }}<|end_header_id|>

{{ .Content }}{{ if or (ne .Role "assistant") (not $last) }}<|eot_id|>{{ end }}
{{- end }}
{{- if and (ne .Role "assistant") $last }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- end }}"""


@dataclass(frozen=True)
class TemplateFamily:
    """A chat layout: its expected rendering of the probe conversation, Ollama template and stops."""

    name: str
    rendered: str
    ollama_template: str
    stops: tuple[str, ...]


FAMILIES = (
    TemplateFamily("chatml", "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nUSR<|im_end|>\n"
                             "<|im_start|>assistant\nASST<|im_end|>\n",
                   CHATML_TEMPLATE, ("<|im_start|>", "<|im_end|>")),
    TemplateFamily("llama3", "<|start_header_id|>system<|end_header_id|>\n\nSYS<|eot_id|>"
                             "<|start_header_id|>user<|end_header_id|>\n\nUSR<|eot_id|>"
                             "<|start_header_id|>assistant<|end_header_id|>\n\nASST<|eot_id|>",
                   LLAMA3_TEMPLATE, ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")),
)


def render_chat_template(chat_template: str, messages: list[dict], add_generation_prompt: bool = False,
                         **extra) -> str:
    """Render a Hugging Face Jinja chat template (sandboxed, ``raise_exception`` available)."""
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(msg):
        raise TemplateError(msg)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(chat_template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                                 bos_token="", eos_token="", **extra)


def template_family(chat_template: str) -> TemplateFamily:
    """The :class:`TemplateFamily` whose layout the chat template produces.

    Raises:
        ValueError: the template renders the probe conversation in no known layout (pass
            ``ollama_template=`` and ``stops=`` to :func:`render_modelfile` yourself).
    """
    rendered = render_chat_template(chat_template, _PROBE)
    for family in FAMILIES:
        if rendered.strip() == family.rendered.strip():
            return family
    raise ValueError(f"chat template renders an unknown layout ({rendered[:120]!r}); known: "
                     f"{[f.name for f in FAMILIES]}; pass ollama_template= and stops= explicitly")


def _quoted(text: str, what: str) -> str:
    if '"""' in text:
        raise ValueError(f'{what} contains """ which a Modelfile cannot quote')
    return f'"""{text}"""'


def render_modelfile(from_path: str, *, chat_template: str | None = None, system: str | None = None,
                     adapters: list[str] | tuple[str, ...] = (), parameters: dict | None = None,
                     ollama_template: str | None = None, stops: tuple[str, ...] | None = None,
                     license_text: str | None = None, header: str | None = None) -> str:
    """Modelfile text.

    Args:
        from_path: FROM value (``./file.gguf`` relative to the Modelfile, or an Ollama model name).
        chat_template: Jinja template to derive TEMPLATE and stops from (see :func:`template_family`).
        system: SYSTEM prompt (the role card).
        adapters: ADAPTER values (GGUF LoRA paths), one line each, applied in order.
        parameters: extra ``PARAMETER name value`` lines (e.g. ``{"num_ctx": 4096}``).
        ollama_template / stops: explicit TEMPLATE / stop tokens (override the derived ones).
        license_text: LICENSE block. header: a ``#`` comment block at the top.

    Raises:
        ValueError: neither a chat template nor an explicit template, unknown layout, or text with ``\"\"\"``.
    """
    if ollama_template is None or stops is None:
        if not chat_template:
            raise ValueError("render_modelfile needs chat_template= (or ollama_template= and stops=)")
        family = template_family(chat_template)
        ollama_template = ollama_template if ollama_template is not None else family.ollama_template
        stops = stops if stops is not None else family.stops
    lines = [f"# {line}" for line in (header or "").splitlines()]
    lines.append(f"FROM {from_path}")
    lines += [f"ADAPTER {a}" for a in adapters]
    lines.append(f"TEMPLATE {_quoted(ollama_template, 'TEMPLATE')}")
    if system:
        lines.append(f"SYSTEM {_quoted(system, 'SYSTEM')}")
    for stop in stops:
        lines.append(f'PARAMETER stop "{stop}"')
    for key, value in (parameters or {}).items():
        lines.append(f"PARAMETER {key} {value}")
    if license_text:
        lines.append(f"LICENSE {_quoted(license_text, 'LICENSE')}")
    return "\n".join(lines) + "\n"


def write_modelfile(path: Path, from_path: str, **kwargs) -> Path:
    """Write :func:`render_modelfile` output to ``path`` (keyword arguments as there)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_modelfile(from_path, **kwargs), encoding="utf-8")
    return path


def parse_modelfile(text: str) -> list[tuple[str, str]]:
    """``[(INSTRUCTION, argument)]`` of a Modelfile (triple-quoted values unwrapped, comments dropped)."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instr, _, arg = line.partition(" ")
        if arg.startswith('"""'):
            body = arg[3:]
            while not body.endswith('"""'):
                body += "\n" + lines[i]
                i += 1
            arg = body[:-3]
        out.append((instr.upper(), arg))
    return out
