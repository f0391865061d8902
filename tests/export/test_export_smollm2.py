"""End-to-end export of the real SmolLM2-135M with a role + task LoRA (random nonzero B), checked
against transformers on the same token ids:

- merged f16 GGUF: greedy decoding equals transformers (merged HF folder) for N=16 tokens (or up to
  EOS) on 3 prompts;
- merged q8_0 GGUF: teacher-forced top-1 equals transformers at every position where transformers'
  top-1/top-2 logit margin is >= 1.0 (Q8_0 noise is ~0.3 logits; greedy prefixes are reported);
- merged q4_k_m GGUF: loads, chats through its embedded template, and agrees at confident positions;
- base f16 GGUF + GGUF LoRA (``Llama(lora_path=)``) equals PEFT base+adapter greedy for N=16, and both
  LoRAs stacked (``llama_set_adapters_lora``) equal the merged model;
- GGUFReader round trip against the GGUF SmolLM2 ships in (tokenizer, hparams, tensor shapes);
- manifest checksums, Modelfiles and model card of the export.

Run with ``-s`` to see the agreement table.
"""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from export_helpers import (ALL_LINEAR, LLAMA_THREADS, hf_greedy, hf_logits, llama, llama_cpp_or_skip, llama_greedy, llama_logits,
                            make_adapter, prefix_match)

from node0_ops.export import export_model
from node0_ops.export.adapters import sha256_file
from node0_ops.export.gguf_writer import read_gguf
from node0_ops.export.modelfile import parse_modelfile
from node0_ops.models.llama_open import open_llama

pytestmark = pytest.mark.native  # loads llama.cpp: runs in a child pytest (tests/native_isolation.py)

PROMPTS = ["Write a haiku about the sea.", "What is the capital of France?",
           "How do I list files in a directory with bash?"]
N_F16 = 16
CONFIDENT_MARGIN = 1.0  # logits
AGREEMENT: dict = {}


@pytest.fixture(scope="module")
def smol_export(tmp_path_factory, smol_base):
    llama_cpp_or_skip()
    root = tmp_path_factory.mktemp("smol")
    role = make_adapter(smol_base, root / "role", r=8, alpha=16, targets=ALL_LINEAR, b_std=0.02, seed=1,
                        meta={"kind": "role", "role": "polecat", "base": "smollm2-135m", "corpus_version": "c-7",
                              "hyperparameters": {"learning_rate": 0.0002, "lora_r": 8}, "metrics": {"loss": 1.9}})
    task = make_adapter(smol_base, root / "task", r=4, alpha=8, targets=["q_proj", "v_proj", "down_proj"],
                        b_std=0.02, seed=2, meta={"kind": "task", "task": "gt-done", "base": "smollm2-135m"})
    result = export_model("smollm2-135m", [task, role], root / "export", name="polecat-test",
                          lineage={"run_id": "run-42", "corpus_counts": {"sft": 120, "dpo": 30}},
                          eval_scores={"gt_command_accuracy": 0.61, "format": {"json_valid": 0.9}})
    return SimpleNamespace(result=result, role=role, task=task, base=smol_base)


@pytest.fixture(scope="module")
def refs(smol_export):
    """Transformers references: greedy tokens and logits for merged, base, and base+role (PEFT)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    saved = torch.get_num_threads()
    torch.set_num_threads(1)  # batch-1 decoding on a shared 2-core box: one thread is faster
    try:
        merged_dir = smol_export.result.merged_dir
        tok = AutoTokenizer.from_pretrained(str(merged_dir))
        ids = [tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                       tokenize=True, return_dict=False) for p in PROMPTS]
        eos = tok.eos_token_id
        merged = AutoModelForCausalLM.from_pretrained(str(merged_dir), dtype=torch.float32).eval()
        merged_greedy = [hf_greedy(merged, i, N_F16, eos) for i in ids]
        merged_logits = [hf_logits(merged, i + g) for i, g in zip(ids, merged_greedy)]
        del merged
        base = AutoModelForCausalLM.from_pretrained(str(smol_export.base), dtype=torch.float32).eval()
        base_greedy = [hf_greedy(base, i, N_F16, eos) for i in ids]
        role = PeftModel.from_pretrained(base, str(smol_export.role)).eval()
        role_greedy = [hf_greedy(role, i, N_F16, eos) for i in ids]
    finally:
        torch.set_num_threads(saved)
    return SimpleNamespace(tok=tok, ids=ids, eos=eos, merged=merged_greedy, merged_logits=merged_logits,
                           base=base_greedy, role=role_greedy)


def _report(key, matched, wanted):
    AGREEMENT[key] = [f"{m}/{w}" for m, w in zip(matched, wanted)]
    print(f"\n[export agreement] {key}: tokens matched per prompt {AGREEMENT[key]}")


def test_adapters_change_the_model(refs):
    assert refs.merged != refs.base, "random-B adapters should change at least one greedy continuation"


def test_f16_greedy_matches_transformers(smol_export, refs):
    with llama(smol_export.result.ggufs["f16"]) as llm:
        got = [llama_greedy(llm, i, N_F16, refs.eos) for i in refs.ids]
    matched = [prefix_match(r, g) for r, g in zip(refs.merged, got)]
    _report("merged f16 greedy", matched, [len(r) for r in refs.merged])
    assert got == refs.merged


def _confident_agreement(path, refs):
    """Teacher-forced top-1 agreement on the transformers greedy path: (all, confident-only, greedy prefixes)."""
    all_hits, conf_hits, prefixes = [], [], []
    with llama(path) as llm:
        for ids, greedy, ref_logits in zip(refs.ids, refs.merged, refs.merged_logits):
            got = llama_logits(llm, ids + greedy)[len(ids) - 1:-1]
            ref = ref_logits[len(ids) - 1:-1]
            top2 = np.sort(ref, axis=-1)[:, -2:]
            confident = (top2[:, 1] - top2[:, 0]) >= CONFIDENT_MARGIN
            hits = got.argmax(-1) == ref.argmax(-1)
            all_hits += hits.tolist()
            conf_hits += hits[confident].tolist()
            prefixes.append(prefix_match(greedy, llama_greedy(llm, ids, N_F16, refs.eos)))
    return np.mean(all_hits), np.mean(conf_hits), len(conf_hits), prefixes


def test_q8_0_agrees_where_transformers_is_confident(smol_export, refs):
    overall, confident, n_conf, prefixes = _confident_agreement(smol_export.result.ggufs["q8_0"], refs)
    _report("merged q8_0 greedy", prefixes, [len(r) for r in refs.merged])
    print(f"[export agreement] q8_0 teacher-forced top-1: all {overall:.3f}, confident ({n_conf} pos) {confident:.3f}")
    assert n_conf >= 20 and confident == 1.0
    assert overall >= 0.85


def test_q4_k_m_loads_chats_and_mostly_agrees(smol_export, refs):
    import gguf

    path = smol_export.result.ggufs["q4_k_m"]
    types = {t.tensor_type for t in gguf.GGUFReader(str(path)).tensors}
    assert gguf.GGMLQuantizationType.Q4_K in types
    overall, confident, n_conf, prefixes = _confident_agreement(path, refs)
    _report("merged q4_k_m greedy", prefixes, [len(r) for r in refs.merged])
    print(f"[export agreement] q4_k_m teacher-forced top-1: all {overall:.3f}, confident ({n_conf} pos) {confident:.3f}")
    assert confident >= 0.9
    llama_cpp_or_skip()
    llm = open_llama(path, n_ctx=512, n_threads=LLAMA_THREADS, verbose=False)
    try:  # chat through the template embedded in the GGUF (tokenizer.chat_template)
        out = llm.create_chat_completion(messages=[{"role": "user", "content": PROMPTS[1]}], max_tokens=12,
                                         temperature=0.0)
    finally:
        llm.close()
    assert out["choices"][0]["message"]["content"].strip()


def test_lora_gguf_with_lora_path_matches_peft(smol_export, refs):
    llama_cpp_or_skip()
    res = smol_export.result
    llm = open_llama(res.base_gguf, lora_path=res.lora_ggufs["role-polecat"], n_ctx=512, n_threads=LLAMA_THREADS,
                     logits_all=True, verbose=False)
    try:
        got = [llama_greedy(llm, i, N_F16, refs.eos) for i in refs.ids]
    finally:
        llm.close()
    _report("base f16 + role LoRA GGUF vs PEFT", [prefix_match(r, g) for r, g in zip(refs.role, got)],
            [len(r) for r in refs.role])
    assert got == refs.role


def test_stacked_lora_ggufs_match_merged(smol_export, refs):
    res = smol_export.result
    with llama(res.base_gguf, [res.lora_ggufs["role-polecat"], res.lora_ggufs["task-gt-done"]]) as llm:
        got = [llama_greedy(llm, i, N_F16, refs.eos) for i in refs.ids]
    _report("base f16 + role + task LoRA GGUFs vs merged", [prefix_match(r, g) for r, g in zip(refs.merged, got)],
            [len(r) for r in refs.merged])
    assert got == refs.merged


def test_tokenizer_parity_with_transformers(smol_export, refs):
    texts = [refs.tok.decode(i) for i in refs.ids] + ["Order 12345 items at 3.14 each; it's gastown_v2"]
    with llama(smol_export.result.ggufs["f16"]) as llm:
        for text in texts:
            assert llm.tokenize(text.encode(), add_bos=False, special=True) == refs.tok(text)["input_ids"]


def test_gguf_round_trip_against_shipped_gguf(smol_export):
    from node0_ops.models.base import preset_gguf

    meta, tensors = read_gguf(smol_export.result.ggufs["f16"])
    ship_meta, ship_tensors = read_gguf(preset_gguf("smollm2-135m"))
    for key in ("general.architecture", "llama.block_count", "llama.context_length", "llama.embedding_length",
                "llama.feed_forward_length", "llama.attention.head_count", "llama.attention.head_count_kv",
                "llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon", "llama.vocab_size",
                "llama.rope.dimension_count", "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
                "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id",
                "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
                "tokenizer.ggml.add_bos_token", "tokenizer.chat_template"):
        assert meta[key] == ship_meta[key], key
    assert meta["general.type"] == "model" and meta["general.name"] == "polecat-test"
    assert meta["general.file_type"] == 1
    lineage = json.loads(meta["gastown.lineage"])
    assert lineage["run_id"] == "run-42" and [a["name"] for a in lineage["adapters"]] == ["role-polecat", "task-gt-done"]
    assert {n: s for n, (s, _) in tensors.items()} == {n: s for n, (s, _) in ship_tensors.items()}
    assert {t for _, t in tensors.values()} == {"F16", "F32"}
    lmeta, ltensors = read_gguf(smol_export.result.lora_ggufs["role-polecat"])
    assert lmeta["general.type"] == "adapter" and lmeta["adapter.type"] == "lora"
    assert lmeta["adapter.lora.alpha"] == 16.0 and lmeta["general.architecture"] == "llama"
    assert len(ltensors) == 30 * 7 * 2
    assert ltensors["blk.3.attn_k.weight.lora_b"] == ((192, 8), "F16")
    assert ltensors["blk.3.ffn_up.weight.lora_a"] == ((8, 576), "F16")


def test_manifest_modelfiles_and_card(smol_export):
    res = smol_export.result
    manifest = json.loads(res.manifest.read_text())
    assert manifest["name"] == "polecat-test"
    for art in manifest["artifacts"]:
        path = res.out_dir / art["path"]
        assert path.stat().st_size == art["size_bytes"] and sha256_file(path) == art["sha256"], art["path"]
    kinds = {a["kind"] for a in manifest["artifacts"]}
    assert kinds == {"merged", "gguf", "modelfile", "base_gguf", "lora_gguf", "model_card"}
    assert {"merge", "gguf_f16", "gguf_q8_0", "gguf_q4_k_m", "base_gguf", "total"} <= set(manifest["timings"])

    q4 = dict(parse_modelfile(res.modelfiles["q4_k_m"].read_text()))
    assert q4["FROM"] == "./polecat-test-q4_k_m.gguf" and (res.modelfiles["q4_k_m"].parent / q4["FROM"]).is_file()
    assert q4["SYSTEM"].startswith("You are the Gas Town polecat")
    assert "<|im_start|>assistant" in q4["TEMPLATE"]
    lora = parse_modelfile(res.modelfiles["lora"].read_text())
    assert [v for k, v in lora if k == "ADAPTER"] == ["./role-polecat.lora.gguf", "./task-gt-done.lora.gguf"]
    assert ("PARAMETER", 'stop "<|im_end|>"') in lora

    card = res.model_card.read_text()
    for needle in ("base_model: HuggingFaceTB/SmolLM2-135M-Instruct", "license: apache-2.0", "| run_id | run-42 |",
                   "| corpus_version | c-7 |", "| sft | 120 |", "Total: 150", "| gt_command_accuracy | 0.61 |",
                   "| format.json_valid | 0.9 |", "| role-polecat.learning_rate | 0.0002 |",
                   res.artifact("gguf/f16/polecat-test-f16.gguf").sha256):
        assert needle in card, needle
