"""One llama.cpp model with hot-switched LoRA adapter stacks.

The GGUF is loaded once; every adapter GGUF is loaded once at start with
``llama_adapter_lora_init`` (llama.cpp ``include/llama.h``). Per request, under one lock:
``llama_set_adapters_lora(ctx, adapters, n, scales)`` selects the stack (0 adapters = none),
``Llama.reset()`` drops the KV cache (a cached prefix computed under another stack would be
wrong), and the completion runs. The lock makes "set stack + generate" atomic, so concurrent
callers never see each other's adapter state; greedy output of a request is the same alone or
under load.

Structured output: ``response_format`` ``{"type": "json_schema", "json_schema": {"schema": S}}``
(OpenAI) or ``{"type": "json_object", "schema": S}`` (llama-cpp-python) is compiled to a GBNF
grammar with ``llama_cpp.llama_grammar.json_schema_to_gbnf`` and checked by llama.cpp's grammar
parser before the request is queued; ``{"type": "json_object"}`` alone constrains to any JSON.

Usage::

    engine = LlamaEngine(spec, ServeConfig(n_ctx=2048))
    params = parse_chat_request({"messages": [...], "temperature": 0}, spec)
    result = engine.generate(engine.prepare(params), params.stack)
    result.text, result.finish_reason, result.usage
    engine.close()
"""

import ctypes
import json
import math
import threading
import time
from dataclasses import dataclass, field

from node0_ops.serve.models import ModelSpec, StackError
from node0_ops.serve.prompting import render_prompt, stop_strings
from node0_ops.serve.serve_config import ServeConfig

ROLES = ("system", "user", "assistant", "tool")


class RequestError(ValueError):
    """A request the engine refuses; carries the HTTP ``status``, OpenAI error ``code`` and ``param``."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status, self.code, self.param = status, code, param


@dataclass
class ChatParams:
    """A validated chat request.

    Attributes:
        messages: OpenAI-shape messages.  stack: ``((adapter, scale), ...)``.  model_id: canonical stack id.
        max_tokens: completion limit (tokens).  temperature: 0 = greedy.  stop: extra stop strings.
        response_format: the request's ``response_format`` dict or None.  stream: SSE requested.
    """

    messages: list[dict]
    stack: tuple[tuple[str, float], ...] = ()
    model_id: str = ""
    max_tokens: int | None = None
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    response_format: dict | None = None
    stream: bool = False
    include_usage: bool = False


@dataclass
class Prepared:
    """A request ready to run: prompt tokens, grammar (or None), stop strings and the token budget."""

    params: ChatParams
    prompt: str
    tokens: list[int]
    grammar: object | None
    stop: list[str]
    max_tokens: int


@dataclass
class GenResult:
    """Output of one generation.

    Attributes:
        text: completion text.  finish_reason: ``stop`` | ``length`` | ``cancelled``.
        prompt_tokens / completion_tokens: token counts (completion re-tokenized from the text).
        n_chunks: streamed pieces (one per decoded token, except held-back stop-string prefixes).
        queue_s: wait for the lock.  switch_s: adapter-stack switch.  ttft_s: lock acquired -> first text.
        total_s: lock acquired -> done.
    """

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    n_chunks: int = 0
    queue_s: float = 0.0
    switch_s: float = 0.0
    ttft_s: float | None = None
    total_s: float = 0.0

    @property
    def usage(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


def _num(body: dict, key: str, default, lo: float, hi: float, kind=float):
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and int(value) != value):
        raise RequestError(f"'{key}' must be a {'integer' if kind is int else 'number'}, got {value!r}", param=key)
    if not lo <= value <= hi:
        raise RequestError(f"'{key}'={value} is outside [{lo}, {hi}]", param=key)
    return kind(value)


def _check_messages(messages) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list of {role, content} objects", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise RequestError(f"messages[{i}] must be an object, got {type(m).__name__}", param=f"messages[{i}]")
        if m.get("role") not in ROLES:
            raise RequestError(f"messages[{i}].role={m.get('role')!r}: use one of {ROLES}", param=f"messages[{i}].role")
        content = m.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise RequestError(f"messages[{i}].content must be a string, a list of text parts or null",
                               param=f"messages[{i}].content")
    return messages


def parse_chat_request(body, spec: ModelSpec) -> ChatParams:
    """Validate an OpenAI ``/v1/chat/completions`` body against the served model.

    Raises:
        RequestError: a malformed field (400) or an unknown model/adapter (404), with the OpenAI
            error ``code`` and the offending ``param``.
    """
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    messages = _check_messages(body.get("messages"))
    try:
        stack = spec.parse_stack(body.get("model"))
    except StackError as exc:
        raise RequestError(str(exc), exc.status, exc.code, "model") from exc
    if body.get("n", 1) != 1:
        raise RequestError("only n=1 is supported", param="n")
    stop = body.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop) or len(stop) > 4:
        raise RequestError("'stop' must be a string or a list of up to 4 non-empty strings", param="stop")
    rf = body.get("response_format")
    if rf is not None and not isinstance(rf, dict):
        raise RequestError("'response_format' must be an object like {\"type\": \"json_schema\", ...}",
                           param="response_format")
    so = body.get("stream_options") or {}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    return ChatParams(
        messages=messages, stack=stack, model_id=spec.stack_id(stack),
        max_tokens=None if max_tokens is None else _num({"max_tokens": max_tokens}, "max_tokens", None, 1, 1 << 20, int),
        temperature=_num(body, "temperature", 0.7, 0.0, 2.0), top_p=_num(body, "top_p", 0.95, 0.0, 1.0),
        top_k=_num(body, "top_k", 40, 0, 1 << 20, int), min_p=_num(body, "min_p", 0.05, 0.0, 1.0),
        repeat_penalty=_num(body, "repeat_penalty", 1.0, 0.0, 10.0), stop=stop,
        seed=_num(body, "seed", None, -(1 << 31), (1 << 32) - 1, int) if body.get("seed") is not None else None,
        response_format=rf, stream=bool(body.get("stream", False)),
        include_usage=bool(isinstance(so, dict) and so.get("include_usage")))


def response_schema(response_format: dict | None) -> tuple[bool, dict | None]:
    """``(constrain_to_json, schema or None)`` of a ``response_format``.

    Raises:
        RequestError: unknown ``type`` or a schema that is not an object.
    """
    if not response_format:
        return False, None
    kind = response_format.get("type")
    if kind in (None, "text"):
        return False, None
    if kind == "json_object":
        schema = response_format.get("schema")
    elif kind == "json_schema":
        js = response_format.get("json_schema")
        if not isinstance(js, dict) or "schema" not in js:
            raise RequestError("response_format json_schema needs {\"json_schema\": {\"name\": ..., \"schema\": {...}}}",
                               param="response_format.json_schema")
        schema = js["schema"]
    else:
        raise RequestError(f"response_format type {kind!r}: use text, json_object or json_schema",
                           param="response_format.type")
    if schema is not None and not isinstance(schema, dict):
        raise RequestError("the JSON schema must be an object", param="response_format", code="invalid_schema")
    return True, schema


MAX_ENUM_RANGE = 256


def lower_integer_bounds(schema):
    """Copy of ``schema`` where integers bounded on both sides (range <= 256 values) become ``enum``s.

    llama-cpp-python's GBNF converter ignores ``minimum``/``maximum`` (its TODO); an enum of the
    allowed values is enforced. Other numeric bounds remain unenforced by the grammar.
    """
    if isinstance(schema, list):
        return [lower_integer_bounds(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: lower_integer_bounds(v) for k, v in schema.items()}
    if out.get("type") == "integer" and "enum" not in out:
        lo = out.get("minimum", None)
        hi = out.get("maximum", None)
        if isinstance(out.get("exclusiveMinimum"), (int, float)) and not isinstance(out["exclusiveMinimum"], bool):
            lo = math.floor(out["exclusiveMinimum"]) + 1  # smallest integer > x (also for fractions/negatives)
        if isinstance(out.get("exclusiveMaximum"), (int, float)) and not isinstance(out["exclusiveMaximum"], bool):
            hi = math.ceil(out["exclusiveMaximum"]) - 1  # largest integer < x
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and 0 <= hi - lo < MAX_ENUM_RANGE:
            values = list(range(math.ceil(lo), math.floor(hi) + 1))
            for key in ("type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                out.pop(key, None)
            out["enum"] = values
    return out


def schema_to_gbnf(schema: dict | None) -> str:
    """GBNF for a JSON schema (None: any JSON value), via llama-cpp-python's converter
    (bounded integers first become enums, :func:`lower_integer_bounds`).

    Raises:
        RequestError: (400 ``invalid_schema``) the schema is not valid JSON Schema (checked with
            ``jsonschema`` when installed) or uses what the converter cannot express.
    """
    from llama_cpp import llama_grammar

    if schema is None:
        return llama_grammar.JSON_GBNF
    try:
        import jsonschema

        jsonschema.validators.validator_for(schema).check_schema(schema)
    except ImportError:
        pass
    except Exception as exc:  # jsonschema.SchemaError and friends
        raise RequestError(f"invalid JSON schema: {getattr(exc, 'message', exc)}", param="response_format",
                           code="invalid_schema") from exc
    try:
        return llama_grammar.json_schema_to_gbnf(json.dumps(lower_integer_bounds(schema)))
    except Exception as exc:
        raise RequestError(f"JSON schema cannot be turned into a grammar: {exc}", param="response_format",
                           code="invalid_schema") from exc


class LlamaEngine:
    """A loaded GGUF with its adapters (see module docstring).

    Args:
        spec: what to load.  config: :class:`ServeConfig` (n_ctx, threads, batch, seed).
        settings: llama.cpp model settings (default: this machine's, from
            :func:`node0_ops.models.llama_open.llama_settings`); kept as ``self.settings``.

    Raises:
        ImportError: llama-cpp-python is not installed (``make install`` builds it).
        RuntimeError: llama.cpp could not load an adapter GGUF (wrong base architecture or file).
    """

    def __init__(self, spec: ModelSpec, config: ServeConfig | None = None, settings=None):
        import llama_cpp

        self._lc = llama_cpp
        self.spec = spec
        self.config = config or ServeConfig()
        c = self.config
        from node0_ops.models.llama_open import open_llama

        self.llm = open_llama(spec.gguf, n_ctx=c.n_ctx, n_threads=c.n_threads, n_batch=c.n_batch, seed=c.seed,
                              verbose=False, settings=settings)
        self.settings = self.llm.gtft_settings  # LlamaSettings (use_extra_bufts ...), reported by /health
        self.lock = threading.Lock()
        self._adapters: dict[str, object] = {}
        self._active: tuple[tuple[str, float], ...] | None = None
        self.switches = 0
        from llama_cpp._utils import suppress_stdout_stderr

        try:
            for a in spec.adapters:
                with suppress_stdout_stderr(disable=False):  # llama.cpp logs one line per repacked tensor
                    ptr = llama_cpp.llama_adapter_lora_init(self.llm._model.model, str(a.gguf).encode())
                if not ptr:
                    raise RuntimeError(f"llama.cpp could not load LoRA {a.gguf} for adapter {a.name!r} "
                                       f"(not a LoRA GGUF, or made for another base than {spec.gguf.name})")
                self._adapters[a.name] = ptr
            self._apply_stack(())
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- adapters

    def _apply_stack(self, stack: tuple[tuple[str, float], ...]) -> float:
        """Set the active adapters (caller holds the lock). Returns seconds spent."""
        if stack == self._active:
            return 0.0
        t = time.perf_counter()
        lc = self._lc
        if stack:
            arr = (lc.llama_adapter_lora_p_ctypes * len(stack))(*(self._adapters[n] for n, _ in stack))
            scales = (ctypes.c_float * len(stack))(*(s for _, s in stack))
            rc = lc.llama_set_adapters_lora(self.llm._ctx.ctx, arr, len(stack), scales)
        else:
            rc = lc.llama_set_adapters_lora(self.llm._ctx.ctx, None, 0, None)
        if rc != 0:
            self._active = None
            raise RuntimeError(f"llama_set_adapters_lora failed with status {rc} for stack {stack}")
        self._active = stack
        self.switches += 1
        return time.perf_counter() - t

    def set_stack(self, stack: tuple[tuple[str, float], ...]) -> float:
        """Switch the live model to ``stack`` (takes the lock); returns seconds spent in llama.cpp."""
        with self.lock:
            return self._apply_stack(stack)

    @property
    def active_stack(self) -> tuple[tuple[str, float], ...] | None:
        return self._active

    # ---------------------------------------------------------------- requests

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` with this model's vocabulary (no BOS)."""
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)) if text else 0

    def prepare(self, params: ChatParams) -> Prepared:
        """Render and tokenize the prompt, compile the grammar, fix the token budget (no lock needed).

        Raises:
            RequestError: the chat template cannot render the messages (400), the prompt does not fit
                the context (400 ``context_length_exceeded``), an invalid schema (400 ``invalid_schema``).
        """
        try:
            prompt = render_prompt(params.messages, self.spec.chat_template)
        except ValueError as exc:
            raise RequestError(str(exc), param="messages") from exc
        tokens = self.llm.tokenize(prompt.encode("utf-8"), special=True)
        n_ctx = self.config.n_ctx
        if len(tokens) >= n_ctx:
            raise RequestError(f"prompt is {len(tokens)} tokens but the context window is {n_ctx} tokens "
                               f"(prompt + completion); shorten the messages", param="messages",
                               code="context_length_exceeded")
        room = n_ctx - len(tokens)
        max_tokens = min(params.max_tokens or self.config.default_max_tokens, room)
        grammar = None
        json_mode, schema = response_schema(params.response_format)
        if json_mode:
            grammar = self._grammar(schema_to_gbnf(schema))
        stop = list(dict.fromkeys(stop_strings(self.spec.chat_template) + params.stop))
        return Prepared(params, prompt, tokens, grammar, stop, max_tokens)

    def _grammar(self, gbnf: str):
        """A ``LlamaGrammar``, after llama.cpp's own parser accepted ``gbnf`` (a NULL sampler would crash later)."""
        from llama_cpp.llama_grammar import LlamaGrammar

        lc = self._lc
        sampler = lc.llama_sampler_init_grammar(self.llm._model.vocab, gbnf.encode("utf-8"), b"root")
        if not sampler:
            raise RequestError("llama.cpp rejected the grammar built from this JSON schema", param="response_format",
                               code="invalid_schema")
        lc.llama_sampler_free(sampler)
        return LlamaGrammar.from_string(gbnf, verbose=False)

    def generate(self, prep: Prepared, stack: tuple[tuple[str, float], ...] | None = None, *,
                 on_text=None, cancelled: threading.Event | None = None) -> GenResult:
        """Run one completion under the lock: set ``stack`` (default ``prep.params.stack``), reset, decode.

        Args:
            on_text: called with each new text piece (streaming), from this thread.
            cancelled: when set, decoding stops after the current token (``finish_reason="cancelled"``).
        """
        p = prep.params
        stack = p.stack if stack is None else stack
        t_wait = time.perf_counter()
        with self.lock:
            t0 = time.perf_counter()
            switch_s = self._apply_stack(stack)
            self.llm.reset()
            pieces, finish, ttft, n_chunks = [], "stop", None, 0
            stream = self.llm.create_completion(
                prep.tokens, max_tokens=prep.max_tokens, temperature=p.temperature, top_p=p.top_p, top_k=p.top_k,
                min_p=p.min_p, repeat_penalty=p.repeat_penalty, stop=prep.stop or None,
                seed=p.seed if p.seed is not None else self.config.seed, grammar=prep.grammar, stream=True)
            try:
                for chunk in stream:
                    choice = chunk["choices"][0]
                    piece = choice.get("text") or ""
                    if piece:
                        if ttft is None:
                            ttft = time.perf_counter() - t0
                        n_chunks += 1
                        pieces.append(piece)
                        if on_text is not None:
                            on_text(piece)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                    if cancelled is not None and cancelled.is_set():
                        finish = "cancelled"
                        break
            finally:
                stream.close()
            total = time.perf_counter() - t0
        text = "".join(pieces)
        return GenResult(text, finish, len(prep.tokens), self.count_tokens(text), n_chunks, t0 - t_wait, switch_s,
                         ttft, total)

    def chat(self, messages: list[dict], *, stack: tuple[tuple[str, float], ...] | None = None,
             max_tokens: int | None = None, temperature: float = 0.0, **kw) -> GenResult:
        """Convenience for in-process callers (agent, bench): validate, prepare and generate.

        Raises:
            RequestError: see :meth:`prepare`.
        """
        params = ChatParams(messages=_check_messages(messages), stack=self.spec.default_stack if stack is None else stack,
                            max_tokens=max_tokens, temperature=temperature, **kw)
        params.model_id = self.spec.stack_id(params.stack)
        return self.generate(self.prepare(params))

    def close(self) -> None:
        """Detach and free the adapters, then free the model (idempotent)."""
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        with self.lock:
            if self._adapters:
                try:
                    self._lc.llama_set_adapters_lora(llm._ctx.ctx, None, 0, None)
                except Exception:
                    pass
                for ptr in self._adapters.values():
                    self._lc.llama_adapter_lora_free(ptr)
                self._adapters = {}
            llm.close()
            self.llm = None
