"""Ollama Modelfile rendering (template family detection, quoting, ADAPTER lines) and the model card."""

import pytest

from node0_ops.export.model_card import flatten, render_model_card
from node0_ops.export.modelfile import (CHATML_TEMPLATE, parse_modelfile, render_chat_template, render_modelfile,
                                        template_family)

CHATML_JINJA = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
                "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
LLAMA3_JINJA = ("{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n' + m['content']"
                " + '<|eot_id|>' }}{% endfor %}")
# mentions ChatML markers but lays turns out differently (no newline after the role)
FAKE_CHATML = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + ': ' + m['content'] + '<|im_end|>' }}{% endfor %}"


def test_template_family_is_detected_by_rendering(smol_base):
    smol = (smol_base / "chat_template.jinja").read_text()
    assert template_family(smol).name == "chatml"
    assert template_family(CHATML_JINJA).name == "chatml"
    assert template_family(LLAMA3_JINJA).name == "llama3"
    with pytest.raises(ValueError, match="unknown layout"):
        template_family(FAKE_CHATML)
    text = render_chat_template(smol, [{"role": "user", "content": "hi"}], add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def test_modelfile_content_round_trips():
    text = render_modelfile("./base-f16.gguf", chat_template=CHATML_JINJA, system="You are the Gas Town witness.",
                            adapters=["./role.lora.gguf", "./task.lora.gguf"], parameters={"num_ctx": 4096},
                            header="polecat export\nline two")
    assert text.startswith("# polecat export\n# line two\nFROM ./base-f16.gguf\n")
    parsed = parse_modelfile(text)
    assert parsed[0] == ("FROM", "./base-f16.gguf")
    assert [v for k, v in parsed if k == "ADAPTER"] == ["./role.lora.gguf", "./task.lora.gguf"]
    assert dict(parsed)["TEMPLATE"] == CHATML_TEMPLATE
    assert dict(parsed)["SYSTEM"] == "You are the Gas Town witness."
    assert [v for k, v in parsed if k == "PARAMETER"] == ['stop "<|im_start|>"', 'stop "<|im_end|>"', "num_ctx 4096"]


def test_modelfile_rejects_unquotable_text_and_missing_template():
    with pytest.raises(ValueError, match='"""'):
        render_modelfile("./m.gguf", chat_template=CHATML_JINJA, system='say """hi"""')
    with pytest.raises(ValueError, match="chat_template"):
        render_modelfile("./m.gguf")
    explicit = render_modelfile("./m.gguf", ollama_template="{{ .Prompt }}", stops=("</s>",))
    assert dict(parse_modelfile(explicit))["TEMPLATE"] == "{{ .Prompt }}"


def test_model_card_renders_lineage_eval_and_files():
    lineage = {"base": "smollm2-135m", "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct", "license": "apache-2.0",
               "run_id": "r-9", "corpus_version": "c-3", "corpus_counts": {"sft": {"beads": 40, "sessions": 60}, "dpo": 12},
               "hyperparameters": {"epochs": 2},
               "adapters": [{"name": "role-witness", "kind": "role", "role": "witness", "r": 16, "lora_alpha": 32,
                             "sha256": "ab" * 32, "hyperparameters": {"learning_rate": 1e-4}}],
               "system_prompt": "You are the Gas Town witness.", "swarm_peers": 3}
    card = render_model_card("witness-v2", lineage, eval_scores={"pass_rate": 0.8125, "by_role": {"witness": 0.5}},
                             artifacts=[{"path": "gguf/f16/w.gguf", "kind": "gguf", "size_bytes": 3 * 2 ** 20,
                                         "sha256": "cd" * 32}])
    assert card.startswith("---\n") and "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in card
    assert "- role:witness" in card
    for needle in ("# witness-v2", "| run_id | r-9 |", "| sft.beads | 40 |", "Total: 112", "| pass_rate | 0.8125 |",
                   "| by_role.witness | 0.5 |", "| role-witness | role | witness |  | 16 | 32 | abababababababab |",
                   "| role-witness.learning_rate | 0.0001 |", "| epochs | 2 |", "You are the Gas Town witness.",
                   "| gguf/f16/w.gguf | gguf | 3.0 MiB | " + "cd" * 32 + " |", "## Other lineage", "| swarm_peers | 3 |"):
        assert needle in card, needle
    bare = render_model_card("x", {"base": "b"})
    assert "Not evaluated yet." in bare and "None: the base model is exported as is." in bare
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == [("a.b", 1), ("a.c.d", 2), ("e", 3)]
