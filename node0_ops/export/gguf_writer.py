"""Write a Hugging Face llama / qwen2 causal-LM folder as a GGUF file (our own converter on gguf-py).

Output types written directly: ``f32``, ``f16`` (2-D weights F16, 1-D norms F32) and ``q8_0``
(2-D weights with rows divisible by 32 as Q8_0 via :func:`gguf.quants.quantize`, others F16/F32).
K-quants (``q4_k_m``, ``q5_k_m``, ``q6_k``) come from :func:`quantize_gguf`, which runs
llama.cpp's quantizer (``llama_cpp.llama_model_quantize``) on an f16 file.

Usage::

    write_gguf(Path("merged"), Path("out/model-f16.gguf"), "f16", name="polecat")
    quantize_gguf(Path("out/model-f16.gguf"), Path("out/model-q4_k_m.gguf"), "q4_k_m")
    meta, tensors = read_gguf(Path("out/model-f16.gguf"))

Format: GGUF v3 (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md); metadata keys are
``gguf.Keys`` (``general.*``, ``{arch}.*``, ``tokenizer.ggml.*``, ``tokenizer.chat_template``);
tensor names come from ``gguf.TensorNameMap`` (``blk.N.attn_q.weight`` ...). llama.cpp applies
RoPE to adjacent pairs (GGML_ROPE_TYPE_NORM) for the llama architecture while Hugging Face Llama
rotates the two halves of each head (``rotate_half``), so llama Q/K rows are reordered per head
(:func:`permute_qk`); qwen2 uses NEOX RoPE (halves) in llama.cpp and needs no reordering.
Tokenizer: byte-level BPE (``tokenizer.ggml.model = "gpt2"``) from ``tokenizer.json``.
"""

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DIRECT_OUTTYPES = ("f32", "f16", "q8_0")
LLAMA_CPP_QUANTS = {"q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M", "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
                    "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K", "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0"}
LORA_GGUF_DTYPES = ("f32", "f16", "q8_0")


@dataclass(frozen=True)
class ArchSpec:
    """How one Hugging Face architecture maps onto a llama.cpp architecture.

    Attributes:
        hf_arch: ``config.json`` ``architectures[0]``.
        gguf_arch: the ``gguf.MODEL_ARCH`` member name (``LLAMA``, ``QWEN2``).
        permute_qk: reorder Q/K rows from HF half-rotation to llama.cpp pair rotation.
        write_vocab_size / write_rope_dims: write ``{arch}.vocab_size`` / ``{arch}.rope.dimension_count``.
    """

    hf_arch: str
    gguf_arch: str
    permute_qk: bool
    write_vocab_size: bool = True
    write_rope_dims: bool = True

    @property
    def model_arch(self):
        import gguf

        return getattr(gguf.MODEL_ARCH, self.gguf_arch)

    @property
    def arch_name(self) -> str:
        import gguf

        return gguf.MODEL_ARCH_NAMES[self.model_arch]


ARCHS = {
    "LlamaForCausalLM": ArchSpec("LlamaForCausalLM", "LLAMA", permute_qk=True),
    "Qwen2ForCausalLM": ArchSpec("Qwen2ForCausalLM", "QWEN2", permute_qk=False, write_vocab_size=False,
                                 write_rope_dims=False),
}


def load_config(model_dir: Path) -> dict:
    """Parsed ``config.json`` of an HF folder (raises ``FileNotFoundError`` naming the folder)."""
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir}: no config.json (not a Hugging Face model folder)")
    return json.loads(path.read_text())


def arch_spec(config: dict) -> ArchSpec:
    """The :class:`ArchSpec` for a parsed ``config.json``.

    Raises:
        ValueError: the architecture is not in :data:`ARCHS` (message lists the supported ones).
    """
    archs = config.get("architectures") or []
    if not archs or archs[0] not in ARCHS:
        raise ValueError(f"GGUF export supports {sorted(ARCHS)}; config.json architectures={archs}")
    return ARCHS[archs[0]]


def head_dim(config: dict) -> int:
    """Per-head width: ``head_dim`` or ``hidden_size // num_attention_heads``."""
    return int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])


def permute_qk(weight: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder the rows of a Q or K projection (weight ``(n_head*d, in)`` or bias ``(n_head*d,)``)
    from HF's half-split RoPE layout to llama.cpp's interleaved-pair layout.

    Within each head HF keeps the rotated pairs at rows ``(i, i + d/2)``; llama.cpp expects them at
    ``(2i, 2i + 1)``. ``n_head`` is the number of heads *of this projection* (KV heads for K).

    Raises:
        ValueError: the row count is not divisible into ``n_head`` heads of even width.
    """
    rows = weight.shape[0]
    if rows % n_head or (rows // n_head) % 2:
        raise ValueError(f"cannot split {rows} rows into {n_head} heads of even width for the RoPE permutation")
    d = rows // n_head
    heads = weight.reshape(n_head, 2, d // 2, *weight.shape[1:])
    return np.ascontiguousarray(np.swapaxes(heads, 1, 2)).reshape(weight.shape)


def unpermute_qk(weight: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of :func:`permute_qk` (llama.cpp layout back to HF)."""
    rows = weight.shape[0]
    d = rows // n_head
    heads = weight.reshape(n_head, d // 2, 2, *weight.shape[1:])
    return np.ascontiguousarray(np.swapaxes(heads, 1, 2)).reshape(weight.shape)


def qk_heads(config: dict, hf_name: str) -> int | None:
    """Heads to permute with for a llama Q/K tensor name (``q_proj``/``k_proj``), else ``None``."""
    if ".self_attn.q_proj." in hf_name + ".":
        return int(config["num_attention_heads"])
    if ".self_attn.k_proj." in hf_name + ".":
        return int(config.get("num_key_value_heads") or config["num_attention_heads"])
    return None


def tensor_name_map(config: dict):
    """``gguf.TensorNameMap`` for the config's architecture and block count."""
    import gguf

    return gguf.get_tensor_name_map(arch_spec(config).model_arch, int(config["num_hidden_layers"]))


def gguf_tensor_name(name_map, hf_name: str) -> str:
    """GGUF name for an HF tensor (``model.layers.0.self_attn.q_proj.weight`` -> ``blk.0.attn_q.weight``).

    Raises:
        ValueError: no mapping exists (the tensor is not part of the supported architecture).
    """
    mapped = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
    if mapped is None:
        raise ValueError(f"tensor {hf_name!r} has no GGUF name for this architecture (gguf.TensorNameMap)")
    return mapped


# ---------------------------------------------------------------- tokenizer

_QWEN2_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def _pre_from_tokenizer_json(tok: dict) -> str | None:
    """Name llama.cpp's pre-tokenizer from the structure of ``tokenizer.json``'s ``pre_tokenizer``."""
    pre = tok.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    types = [p.get("type") for p in parts]
    if types == ["Digits", "ByteLevel"] and parts[0].get("individual_digits") and parts[1].get("use_regex", True):
        return "smollm"  # digits one by one, then the GPT-2 regex
    if types == ["Split", "ByteLevel"] and (parts[0].get("pattern") or {}).get("Regex") == _QWEN2_SPLIT:
        return "qwen2"
    if types == ["ByteLevel"] and parts[0].get("use_regex", True):
        return "gpt-2"
    return None


def resolve_tokenizer_pre(model_dir: Path, override: str | None = None) -> str:
    """The ``tokenizer.ggml.pre`` name for an HF folder.

    Order: ``override``; ``tokenizer_pre`` in ``gastown_export.json`` (written by :mod:`.merge`);
    ``tokenizer.ggml.pre`` of the source GGUF named in ``base_info.json`` (written by
    ``node0_ops.models.base.resolve_base``; a GGUF-derived ``tokenizer.json`` can lose pre-tokenizer
    steps, e.g. SmolLM2's digit split); then the structure of ``tokenizer.json``.

    Raises:
        ValueError: none of these names a pre-tokenizer (pass ``tokenizer_pre=`` explicitly).
    """
    import gguf

    if override:
        return override
    model_dir = Path(model_dir)
    export_meta = model_dir / "gastown_export.json"
    if export_meta.is_file():
        pre = json.loads(export_meta.read_text()).get("tokenizer_pre")
        if pre:
            return pre
    base_info = model_dir / "base_info.json"
    if base_info.is_file():
        src = json.loads(base_info.read_text()).get("gguf")
        if src and Path(src).is_file():
            pre = read_gguf_kv(Path(src), {gguf.Keys.Tokenizer.PRE}).get(gguf.Keys.Tokenizer.PRE)
            if pre:
                return str(pre)
    tok_path = model_dir / "tokenizer.json"
    if tok_path.is_file():
        pre = _pre_from_tokenizer_json(json.loads(tok_path.read_text(encoding="utf-8")))
        if pre:
            return pre
    raise ValueError(f"{model_dir}: cannot tell llama.cpp's pre-tokenizer from tokenizer.json; "
                     "pass tokenizer_pre= (e.g. 'smollm', 'qwen2', 'llama-bpe')")


_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def read_gguf_kv(path: Path, keys: set[str] | None) -> dict:
    """Scalar/string values of ``keys`` (``None``: every key) from a GGUF header without parsing
    tensors or big arrays.

    ``gguf.GGUFReader`` decodes every array (50k tokens, 49k merges: seconds); this scanner skips them.
    Array-valued keys are returned as ``None``. Format: GGUF v2/v3 (little endian) key/value section.

    Raises:
        ValueError: not a GGUF file or an unknown value type.
    """
    import mmap
    import struct

    found: dict = {}
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        if mm[:4] != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file (magic {mm[:4]!r})")
        n_kv = struct.unpack_from("<Q", mm, 16)[0]
        pos = 24

        def read_str(at):
            (n,) = struct.unpack_from("<Q", mm, at)
            return mm[at + 8: at + 8 + n].decode("utf-8", "replace"), at + 8 + n

        def skip(vtype, at):
            if vtype in _SCALAR:
                return at + struct.calcsize(_SCALAR[vtype])
            if vtype == 8:
                return read_str(at)[1]
            if vtype == 9:
                etype, count = struct.unpack_from("<IQ", mm, at)
                at += 12
                if etype in _SCALAR:
                    return at + count * struct.calcsize(_SCALAR[etype])
                for _ in range(count):
                    at = skip(etype, at)
                return at
            raise ValueError(f"{path}: unknown GGUF value type {vtype}")

        for _ in range(n_kv):
            key, pos = read_str(pos)
            (vtype,) = struct.unpack_from("<I", mm, pos)
            pos += 4
            if keys is None or key in keys:
                if vtype == 8:
                    found[key] = read_str(pos)[0]
                elif vtype in _SCALAR:
                    found[key] = struct.unpack_from(_SCALAR[vtype], mm, pos)[0]
                else:
                    found[key] = None
                if keys is not None and len(found) == len(keys):
                    break
            pos = skip(vtype, pos)
    return found


def bpe_vocab(model_dir: Path, vocab_size: int) -> tuple[list[str], list[int]]:
    """Token strings and ``gguf.TokenType`` values for a byte-level BPE ``tokenizer.json``.

    Added tokens marked ``special`` are CONTROL, other added tokens USER_DEFINED, ids the tokenizer
    lacks (embedding rows padded past the vocabulary) ``[PAD<id>]`` UNUSED.

    Raises:
        FileNotFoundError: no ``tokenizer.json``.
        ValueError: not a BPE model, or a token id is ``>= vocab_size``.
    """
    import gguf

    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir}: no tokenizer.json (only byte-level BPE tokenizers are exported)")
    tok = json.loads(path.read_text(encoding="utf-8"))
    model = tok.get("model") or {}
    if model.get("type") != "BPE":
        raise ValueError(f"{path}: tokenizer model {model.get('type')!r} is not BPE; only gpt2-style BPE is supported")
    by_id: dict[int, tuple[str, int]] = {i: (t, gguf.TokenType.NORMAL) for t, i in model["vocab"].items()}
    for added in tok.get("added_tokens", []):
        ttype = gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED
        by_id[int(added["id"])] = (added["content"], ttype)
    if by_id and max(by_id) >= vocab_size:
        raise ValueError(f"{path}: token id {max(by_id)} >= config vocab_size {vocab_size}")
    tokens, types = [], []
    for i in range(vocab_size):
        text, ttype = by_id.get(i, (f"[PAD{i}]", gguf.TokenType.UNUSED))
        tokens.append(text)
        types.append(int(ttype))
    return tokens, types


def _add_tokenizer(writer, model_dir: Path, config: dict, pre: str, chat_template: str | None) -> None:
    import gguf

    tokens, types = bpe_vocab(model_dir, int(config["vocab_size"]))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=len(tokens))
    if not special.merges:
        raise ValueError(f"{model_dir}/tokenizer.json: no BPE merges; the GGUF tokenizer would not work")
    if chat_template:
        special.chat_template = chat_template
    for kind in ("bos", "eos"):  # byte-level BPE folders rarely say; llama.cpp must not add tokens HF does not
        special.add_special_token.setdefault(kind, False)
    special.add_to_gguf(writer, quiet=True)
    tok_cfg = Path(model_dir) / "tokenizer_config.json"
    prefix = json.loads(tok_cfg.read_text()).get("add_prefix_space") if tok_cfg.is_file() else None
    writer.add_add_space_prefix(bool(prefix))


# ---------------------------------------------------------------- hparams and general metadata

def _add_hparams(writer, config: dict, spec: ArchSpec) -> None:
    import gguf

    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_context_length(int(config.get("max_position_embeddings") or 2048))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_head_count_kv(int(config.get("num_key_value_heads") or config["num_attention_heads"]))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    rope = dict(config.get("rope_parameters") or config.get("rope_scaling") or {})
    theta = rope.get("rope_theta", config.get("rope_theta"))
    if theta is not None:
        writer.add_rope_freq_base(float(theta))
    rope_type = rope.get("rope_type") or rope.get("type") or "default"
    if rope_type == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope["factor"]))
    elif rope_type != "default":
        raise ValueError(f"config.json rope type {rope_type!r} is not supported by this exporter (default, linear)")
    if config.get("head_dim"):
        writer.add_key_length(int(config["head_dim"]))
        writer.add_value_length(int(config["head_dim"]))
    if spec.write_vocab_size:
        writer.add_vocab_size(int(config["vocab_size"]))
    if spec.write_rope_dims:
        writer.add_rope_dimension_count(head_dim(config))


def add_general(writer, name: str, metadata: dict | None) -> None:
    """``general.*`` keys plus ``gastown.lineage`` (JSON string) from an export metadata dict.

    Known keys of ``metadata``: ``basename``, ``finetune``, ``description``, ``license``,
    ``base_model`` (str), ``tags`` (list), ``lineage`` (dict, stored as JSON).
    """
    meta = metadata or {}
    writer.add_name(name)
    for key, adder in (("basename", writer.add_basename), ("finetune", writer.add_finetune),
                       ("description", writer.add_description), ("license", writer.add_license)):
        if meta.get(key):
            adder(str(meta[key]))
    if meta.get("base_model"):
        writer.add_base_model_count(1)
        writer.add_base_model_name(0, str(meta["base_model"]))
    if meta.get("tags"):
        writer.add_tags([str(t) for t in meta["tags"]])
    if meta.get("lineage"):
        writer.add_string("gastown.lineage", json.dumps(meta["lineage"], sort_keys=True, default=str))


# ---------------------------------------------------------------- tensors

def iter_hf_tensors(model_dir: Path):
    """Yield ``(name, float32 numpy array)`` for every tensor in the folder's safetensors files.

    Raises:
        FileNotFoundError: no ``*.safetensors`` file.
    """
    from safetensors import safe_open

    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{model_dir}: no *.safetensors weights")
    for path in files:
        with safe_open(str(path), framework="pt") as fh:
            for key in fh.keys():
                yield key, fh.get_tensor(key).float().numpy()


def encode_tensor(arr: np.ndarray, outtype: str):
    """``(data, raw_dtype)`` for ``GGUFWriter.add_tensor``: F32 for 1-D, else per ``outtype``.

    ``q8_0`` needs rows (last numpy axis) divisible by 32; other 2-D tensors fall back to F16.
    """
    import gguf

    if arr.ndim <= 1 or outtype == "f32":
        return arr.astype(np.float32), None
    if outtype == "q8_0" and arr.shape[-1] % 32 == 0:
        qtype = gguf.GGMLQuantizationType.Q8_0
        return gguf.quants.quantize(np.ascontiguousarray(arr, dtype=np.float32), qtype), qtype
    return arr.astype(np.float16), None


def _file_type(outtype: str):
    import gguf

    return {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
            "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[outtype]


def write_gguf(model_dir: Path, out_path: Path, outtype: str = "f16", *, name: str | None = None,
               metadata: dict | None = None, tokenizer_pre: str | None = None,
               chat_template: str | None = None) -> Path:
    """Convert an HF folder (fp32/bf16/f16 safetensors) into one GGUF file.

    Args:
        model_dir: HF folder with ``config.json``, ``*.safetensors``, ``tokenizer.json``.
        out_path: the ``.gguf`` to write (written as ``<out>.tmp`` and renamed when complete).
        outtype: one of :data:`DIRECT_OUTTYPES`.
        name: ``general.name`` (default: the folder name).
        metadata: see :func:`add_general`.
        tokenizer_pre: llama.cpp pre-tokenizer name; default :func:`resolve_tokenizer_pre`.
        chat_template: Jinja chat template; default the folder's (``chat_template.jinja`` /
            ``tokenizer_config.json``).

    Returns:
        ``out_path``.

    Raises:
        ValueError: unsupported ``outtype``/architecture/rope type/tokenizer, or an unmapped tensor.
        FileNotFoundError: missing config, weights or tokenizer.
    """
    import gguf

    if outtype not in DIRECT_OUTTYPES:
        raise ValueError(f"outtype={outtype!r}: write one of {DIRECT_OUTTYPES} directly; "
                         f"K-quants {sorted(LLAMA_CPP_QUANTS)} come from quantize_gguf(f16 file)")
    model_dir, out_path = Path(model_dir), Path(out_path)
    config = load_config(model_dir)
    spec = arch_spec(config)
    name_map = tensor_name_map(config)
    pre = resolve_tokenizer_pre(model_dir, tokenizer_pre)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), spec.arch_name)
    try:
        writer.add_type(gguf.GGUFType.MODEL)
        add_general(writer, name or model_dir.name, metadata)
        _add_hparams(writer, config, spec)
        writer.add_file_type(_file_type(outtype))
        if outtype == "q8_0":
            writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        _add_tokenizer(writer, model_dir, config, pre, chat_template)

        tied = bool(config.get("tie_word_embeddings", False))
        for hf_name, arr in iter_hf_tensors(model_dir):
            if hf_name.endswith("rotary_emb.inv_freq") or (tied and hf_name == "lm_head.weight"):
                continue
            if spec.permute_qk and (heads := qk_heads(config, hf_name)):
                arr = permute_qk(arr, heads)
            data, raw = encode_tensor(arr, outtype)
            writer.add_tensor(gguf_tensor_name(name_map, hf_name), data, raw_dtype=raw)
        total, shared, expert, n_expert = writer.get_total_parameter_count()
        writer.add_size_label(gguf.size_label(total, shared, expert, n_expert))

        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(tmp, out_path)
    return out_path


def quantize_gguf(src: Path, dst: Path, quant: str = "q4_k_m", *, threads: int | None = None) -> Path:
    """Quantize a GGUF (normally f16) with llama.cpp's ``llama_model_quantize``.

    K-quants need rows divisible by 256; llama.cpp falls back to a compatible type for other rows
    (SmolLM2's 576-wide rows), so the result mixes types. Metadata is copied.

    Raises:
        ValueError: ``quant`` not in :data:`LLAMA_CPP_QUANTS`.
        ImportError: llama-cpp-python is not installed (``make install`` builds it).
        RuntimeError: llama.cpp returned a non-zero status.
    """
    import ctypes

    if quant not in LLAMA_CPP_QUANTS:
        raise ValueError(f"quant={quant!r}: llama.cpp quantization supports {sorted(LLAMA_CPP_QUANTS)}")
    try:
        import llama_cpp
    except ImportError as exc:
        raise ImportError("quantizing to K-quants needs llama-cpp-python (make install builds it)") from exc
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise FileNotFoundError(f"quantize_gguf: source GGUF {src} does not exist")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, LLAMA_CPP_QUANTS[quant])
    params.nthread = int(threads or os.cpu_count() or 1)
    with _captured_stderr() as log_path:  # llama.cpp logs one fallback warning per tensor to fd 2
        status = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
    log_text = Path(log_path).read_text(errors="replace")
    Path(log_path).unlink(missing_ok=True)
    fallbacks = log_text.count("falling back to")
    if fallbacks:
        log.info("quantize %s -> %s: %d tensors used a fallback type (rows not divisible by 256)", src.name, quant,
                 fallbacks)
    if status != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        tail = "\n".join(log_text.strip().splitlines()[-15:])
        raise RuntimeError(f"llama_model_quantize({src} -> {quant}) failed with status {status}; llama.cpp log tail:\n{tail}")
    os.replace(tmp, dst)
    return dst


@contextlib.contextmanager
def _captured_stderr():
    """Redirect the process's fd 2 (where llama.cpp logs) to a temp file; yields its path."""
    import sys
    import tempfile

    fd, path = tempfile.mkstemp(prefix="llama-quantize-", suffix=".log")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        os.dup2(fd, 2)
        yield path
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)


def read_gguf(path: Path) -> tuple[dict, dict]:
    """``(metadata, tensors)`` of a GGUF: metadata maps key -> value (arrays of strings/numbers as
    lists), tensors maps name -> ``(shape as numpy order tuple, GGML type name)``."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    meta = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        meta[key] = field.contents()
    tensors = {t.name: (tuple(int(x) for x in reversed(t.shape)), t.tensor_type.name) for t in reader.tensors}
    return meta, tensors
