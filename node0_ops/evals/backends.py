"""Generation backends for the eval runner: callables ``(messages, json_schema|None) -> str``.

Both decode greedily (deterministic scores). torch/transformers/peft/llama_cpp are imported
inside the constructors only, so importing this module is cheap.

- :class:`LlamaCppBackend` runs a GGUF with llama-cpp-python, opened by
  :func:`node0_ops.models.llama_open.open_llama` (``use_extra_bufts`` from the CPU probe). With a schema it compiles a
  GBNF grammar (``LlamaGrammar.from_json_schema``, llama.cpp's json-schema-to-grammar) and
  samples under it, so any JSON schema is honoured token by token. LoRA adapters in GGUF
  form are applied at load time (several: ``llama_adapter_lora_init`` +
  ``llama_set_adapters_lora``).
- :class:`TransformersBackend` runs a Hugging Face model (a folder, a ``.gguf`` that
  transformers dequantizes, or a loaded model) plus optional PEFT adapters. Its schema
  path is simpler: for "choice" schemas (an object with one string property whose
  ``enum`` lists the choices, plus free string properties, e.g. the patrol decision
  ``{"action": enum, "reason": string}``) it forces the JSON prefix ``{"action": "``,
  scores every allowed value by the summed log-likelihood of ``value + '"'`` given the
  prompt and prefix, keeps the best, then forces ``, "reason": "`` and decodes the reason
  greedily until an unescaped quote or newline (JSON-escaped, closed with ``"}``). Other
  schemas only get the ``{`` prefix forced (no full constraint; use the GGUF backend for
  those).

Usage::

    from node0_ops.evals.backends import LlamaCppBackend
    gen = LlamaCppBackend("SmolLM2-135M-Instruct.Q4_1.gguf", max_new_tokens=256)
    gen([{"role": "user", "content": "Close gt-abc12"}], None)
"""

import json
import os
from pathlib import Path


def plain_messages(messages: list[dict], max_chars: int | None = None) -> list[dict]:
    """Chat messages reduced to ``{"role", "content": str}`` that any chat template accepts.

    Tool results become user turns (``[tool output]`` prefix); assistant ``tool_calls``
    are appended to the content as a ```bash block (their ``command`` argument) or JSON.
    With ``max_chars``, the oldest non-system turns are dropped (and finally the last turn
    is cut from the front) until the total content fits.
    """
    out = []
    for m in messages:
        role = m.get("role", "user")
        content = m.get("content") or ""
        if isinstance(content, list):
            content = "\n".join(str(b.get("text") or b.get("content") or "") if isinstance(b, dict) else str(b) for b in content)
        calls = []
        for call in m.get("tool_calls") or []:
            fn = call.get("function", call)
            args = fn.get("arguments", {})
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except ValueError:
                    args = {"command": args}
            cmd = args.get("command") if isinstance(args, dict) else None
            calls.append(f"```bash\n{cmd}\n```" if cmd else json.dumps(fn, ensure_ascii=False))
        if calls:
            content = "\n".join([content] + calls).strip()
        if role == "tool":
            role, content = "user", f"[tool output]\n{content}"
        elif role not in ("system", "user", "assistant"):
            role = "user"
        out.append({"role": role, "content": str(content)})
    if max_chars:
        while sum(len(m["content"]) for m in out) > max_chars and len(out) > 2:
            drop = 1 if out[0]["role"] == "system" else 0
            out.pop(drop)
        total = sum(len(m["content"]) for m in out)
        if total > max_chars:
            last = out[-1]
            last["content"] = last["content"][-max(200, max_chars - (total - len(last["content"]))):]
    return out


def choice_schema_parts(schema: dict | None) -> tuple[str, list[str], list[str]] | None:
    """``(choice_key, choices, free_string_keys)`` for a "choice" schema, else None.

    A choice schema is an object whose first enum property lists string choices and whose
    other required properties are plain strings (see the module docstring).
    """
    if not schema or schema.get("type") != "object":
        return None
    props = schema.get("properties") or {}
    choice_key = next((k for k, p in props.items() if isinstance(p.get("enum"), list) and p["enum"]
                       and all(isinstance(v, str) for v in p["enum"])), None)
    if choice_key is None:
        return None
    free = []
    for k in schema.get("required", list(props)):
        if k == choice_key:
            continue
        if props.get(k, {}).get("type") != "string" or "enum" in props.get(k, {}):
            return None
        free.append(k)
    return choice_key, list(props[choice_key]["enum"]), free


class TransformersBackend:
    """Greedy generation with transformers (+ PEFT adapters).

    Args:
        model: HF folder path, path to a ``.gguf`` file (dequantized by transformers), or a
            loaded ``PreTrainedModel``.
        tokenizer: tokenizer (loaded from ``model`` when it is a path).
        max_new_tokens: generation budget per answer (tokens).
        adapters: PEFT adapter folders, stacked in order (all active).
        device: ``cuda``/``cpu``; default picks cuda when present.
        max_reason_tokens: budget for each free string field on the constrained path.

    Raises:
        ValueError: when a loaded model is given without a tokenizer.
    """

    def __init__(self, model, tokenizer=None, max_new_tokens: int = 256, adapters: list[str] | None = None,
                 device: str | None = None, max_reason_tokens: int = 64):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if isinstance(model, (str, os.PathLike)):
            path = Path(model)
            gguf = None
            if path.suffix == ".gguf":
                path, gguf = path.parent, path.name
            elif path.is_dir() and not (path / "config.json").exists():
                found = sorted(path.glob("*.gguf"))
                gguf = found[0].name if found else None
            kwargs = {"gguf_file": gguf} if gguf else {}
            model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32, **kwargs)
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(str(path), **kwargs)
        if tokenizer is None:
            raise ValueError("TransformersBackend: pass the tokenizer together with a loaded model")
        if adapters:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapters[0]), adapter_name="a0")
            for i, ad in enumerate(adapters[1:], 1):
                model.load_adapter(str(ad), adapter_name=f"a{i}")
            if len(adapters) > 1:
                model.base_model.set_adapter([f"a{i}" for i in range(len(adapters))])
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.max_reason_tokens = max_reason_tokens
        self._torch = torch
        self._cuts: list[bool] = []
        self.last_hit_max_tokens: bool | None = None  # after each call: an answer was cut at the budget

    def _prompt(self, messages: list[dict]) -> str:
        return self.tokenizer.apply_chat_template(plain_messages(messages), tokenize=False, add_generation_prompt=True)

    def _ids(self, text: str):
        enc = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)
        return enc["input_ids"].to(self.device)

    def _generate(self, text: str, max_new_tokens: int, stop_at_quote: bool = False) -> str:
        torch = self._torch
        ids = self._ids(text)
        kwargs = {}
        if stop_at_quote:
            from transformers import StoppingCriteria, StoppingCriteriaList

            tok, start = self.tokenizer, ids.shape[1]

            class _Quote(StoppingCriteria):
                def __call__(self, input_ids, scores, **kw):
                    new = tok.decode(input_ids[0, start:], skip_special_tokens=True)
                    return torch.tensor([_unescaped_quote(new) >= 0 or "\n" in new], device=input_ids.device)

            kwargs["stopping_criteria"] = StoppingCriteriaList([_Quote()])
        eos = self.tokenizer.eos_token_id
        with torch.no_grad():
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                      do_sample=False, pad_token_id=eos if eos is not None else 0, **kwargs)
        new = out[0, ids.shape[1]:]
        self._cuts.append(len(new) >= max_new_tokens and (eos is None or int(new[-1]) != eos))
        return self.tokenizer.decode(new, skip_special_tokens=True)

    def continuation_logprob(self, context: str, continuation: str) -> float:
        """Sum of log-probabilities (nats) of ``continuation``'s tokens after ``context``."""
        torch = self._torch
        full = self._ids(context + continuation)
        ctx = self._ids(context)
        n = 0
        while n < min(ctx.shape[1], full.shape[1]) and ctx[0, n] == full[0, n]:
            n += 1
        n = max(1, min(n, full.shape[1] - 1))
        with torch.no_grad():
            logits = self.model(full).logits[0].float()
        logp = torch.log_softmax(logits[n - 1:-1], dim=-1)
        targets = full[0, n:]
        return float(logp.gather(1, targets.unsqueeze(1)).sum())

    def _choice_json(self, prompt: str, parts: tuple[str, list[str], list[str]]) -> str:
        key, choices, free = parts
        prefix = '{"' + key + '": "'
        best = max(choices, key=lambda c: self.continuation_logprob(prompt + prefix, c + '"'))
        obj = {key: best}
        text = prefix + best + '"'
        for field in free:
            text += ', "' + field + '": "'
            raw = self._generate(prompt + text, self.max_reason_tokens, stop_at_quote=True)
            cut = _unescaped_quote(raw)
            value = raw[:cut] if cut >= 0 else raw
            value = value.split("\n")[0].strip()
            obj[field] = value
            text += json.dumps(value)[1:-1] + '"'
        return json.dumps(obj, ensure_ascii=False)

    def __call__(self, messages: list[dict], schema: dict | None = None) -> str:
        """Answer text; sets ``self.last_hit_max_tokens`` (a decode ran out of its token budget)."""
        self._cuts = []
        prompt = self._prompt(messages)
        parts = choice_schema_parts(schema) if schema is not None else None
        if schema is None:
            text = self._generate(prompt, self.max_new_tokens)
        elif parts:
            text = self._choice_json(prompt, parts)
        else:
            text = "{" + self._generate(prompt + "{", self.max_new_tokens)
        self.last_hit_max_tokens = any(self._cuts)
        return text


def _unescaped_quote(s: str) -> int:
    i = s.find('"')
    while i > 0 and s[i - 1] == "\\":
        i = s.find('"', i + 1)
    return i


class LlamaCppBackend:
    """Greedy generation with llama-cpp-python on a GGUF (+ GGUF LoRA adapters).

    Args:
        gguf_path: model file.  lora_paths: GGUF LoRA adapters, all applied (scale ``lora_scale``).
        n_ctx: context window (tokens).  max_new_tokens: generation budget per answer.
        structured_max_new_tokens: budget when a JSON schema is given (default
            ``max(768, max_new_tokens)``: the grammar cannot close a JSON object that runs
            out of tokens).
        n_threads: CPU threads (default 1: on small shared machines extra llama.cpp
            threads spin-wait and ran ~10x slower here).  seed: sampler seed.
        verbose: llama.cpp logging.
        settings: :class:`~node0_ops.models.llama_open.LlamaSettings` (default: this machine's,
            :func:`~node0_ops.models.llama_open.llama_settings`); kept as ``self.settings``.

    Raises:
        FileNotFoundError: a model or adapter file is missing.
        RuntimeError: llama.cpp refused an adapter.
    """

    def __init__(self, gguf_path, lora_paths: list[str] | None = None, n_ctx: int = 4096, max_new_tokens: int = 256,
                 n_threads: int | None = None, seed: int = 0, lora_scale: float = 1.0, verbose: bool = False,
                 structured_max_new_tokens: int | None = None, settings=None):
        from node0_ops.models.llama_open import open_llama

        for p in [gguf_path, *(lora_paths or [])]:
            if not Path(p).is_file():
                raise FileNotFoundError(f"GGUF file not found: {p}")
        self.llm = open_llama(gguf_path, n_ctx=n_ctx, n_threads=n_threads or 1, seed=seed, verbose=verbose,
                              settings=settings)
        self.settings = self.llm.gtft_settings
        self._adapters = []
        if lora_paths:
            self._apply_loras([str(p) for p in lora_paths], lora_scale)
        self.n_ctx = n_ctx
        self.max_new_tokens = max_new_tokens
        self.structured_max_new_tokens = structured_max_new_tokens or max(768, max_new_tokens)
        self.seed = seed
        self._grammars: dict[str, object] = {}
        self._last_messages: list[dict] | None = None

    def _apply_loras(self, paths: list[str], scale: float) -> None:
        import ctypes

        import llama_cpp

        for p in paths:
            ad = llama_cpp.llama_adapter_lora_init(self.llm.model, p.encode())
            if not ad:
                raise RuntimeError(f"llama.cpp could not load the LoRA adapter {p} (is it a GGUF LoRA for this base?)")
            self._adapters.append(ad)
        arr = (llama_cpp.llama_adapter_lora_p_ctypes * len(self._adapters))(*self._adapters)
        scales = (ctypes.c_float * len(self._adapters))(*([scale] * len(self._adapters)))
        if llama_cpp.llama_set_adapters_lora(self.llm.ctx, arr, len(self._adapters), scales):
            raise RuntimeError(f"llama.cpp refused to activate the LoRA adapters {paths}")

    def _grammar(self, schema: dict):
        from llama_cpp import LlamaGrammar

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    def __call__(self, messages: list[dict], schema: dict | None = None) -> str:
        max_tokens = self.max_new_tokens if schema is None else self.structured_max_new_tokens
        budget = max(1000, (self.n_ctx - max_tokens) * 3)  # ~3 chars per token, conservative
        kwargs = dict(messages=plain_messages(messages, max_chars=budget), temperature=0.0, top_k=1,
                      max_tokens=max_tokens, seed=self.seed)
        if schema is not None:
            kwargs["grammar"] = self._grammar(schema)
        if messages != self._last_messages:
            # a new prompt starts from an empty KV cache (answers do not depend on the previous
            # case); the same prompt again (its constrained run) reuses the cached prompt tokens
            self.llm.reset()
        self._last_messages = [dict(m) for m in messages]
        out = self.llm.create_chat_completion(**kwargs)
        choice = out["choices"][0]
        self.last_hit_max_tokens = choice.get("finish_reason") == "length"  # read by the eval runner
        return choice["message"].get("content") or ""
