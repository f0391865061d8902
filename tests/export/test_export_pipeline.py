"""export_model on a tiny random llama (fast): folder layout, manifest checksums, config validation,
overwrite protection, quants without f16, base mismatch."""

import json

import pytest

from export_helpers import llama_cpp_or_skip

from node0_ops.export import ExportConfig, export_model, load_export
from node0_ops.export.adapters import sha256_file
from node0_ops.export.gguf_writer import read_gguf


@pytest.mark.native  # llama.cpp quantizer in this process
def test_export_layout_and_manifest(tmp_path, tiny_llama, tiny_adapters):
    llama_cpp_or_skip()
    role, task = tiny_adapters
    out = tmp_path / "exp"
    res = export_model(str(tiny_llama), [role, task], out, name="tiny-polecat", quants=("q8_0", "q4_k_m"),
                       lineage={"run_id": "r1"}, tokenizer_pre="gpt-2", lora_dtype="f32")
    assert set(res.ggufs) == {"q8_0", "q4_k_m"}
    assert not (out / "gguf" / ".f16-scratch.gguf").exists()  # the f16 used for K-quants is not kept
    assert res.ggufs["q4_k_m"] == out / "gguf" / "q4_k_m" / "tiny-polecat-q4_k_m.gguf"
    assert sorted(p.name for p in (out / "lora").iterdir()) == [
        "Modelfile", "role-polecat.lora.gguf", "task-gt-done.lora.gguf", "tiny-polecat-base-f16.gguf"]
    manifest = load_export(out)
    assert manifest == json.loads(res.manifest.read_text())
    for art in res.artifacts:
        path = out / art.path
        assert sha256_file(path) == art.sha256 and path.stat().st_size == art.size_bytes
    assert res.artifact("merged/model.safetensors").kind == "merged"
    assert res.lineage["corpus_version"] == "c-test"  # filled in from the role adapter's metadata
    assert [a["name"] for a in res.lineage["adapters"]] == ["role-polecat", "task-gt-done"]
    meta, _ = read_gguf(res.ggufs["q4_k_m"])
    assert meta["general.file_type"] == 15 and meta["tokenizer.ggml.pre"] == "gpt-2"  # LLAMA_FTYPE_MOSTLY_Q4_K_M
    with pytest.raises(FileExistsError, match="not empty"):
        export_model(str(tiny_llama), [role], out, name="tiny-polecat", quants=("f16",))
    again = export_model(str(tiny_llama), [], out, name="tiny-base", quants=("f16",), overwrite=True,
                         tokenizer_pre="gpt-2")
    assert not (out / "lora").exists() and set(again.ggufs) == {"f16"}
    assert "None: the base model is exported as is." in again.model_card.read_text()


def test_adapter_trained_on_another_base_is_refused(tmp_path, tiny_llama, tiny_models, tiny_adapters):
    role, _ = tiny_adapters
    meta = json.loads((role / "gastown_adapter.json").read_text())
    other = tmp_path / "role-other"
    import shutil

    shutil.copytree(role, other)
    (other / "gastown_adapter.json").write_text(json.dumps({**meta, "base": str(tiny_models[("qwen2", True)])}))
    with pytest.raises(ValueError, match="trained on base"):
        export_model(str(tiny_llama), [other], tmp_path / "x", name="x", quants=("f16",))


@pytest.mark.parametrize("kwargs,match", [
    (dict(name="bad name"), "name="), (dict(name="ok", quants=()), "quants is empty"),
    (dict(name="ok", quants=("q3",)), "not supported"), (dict(name="ok", quants=("f16", "f16")), "twice"),
    (dict(name="ok", lora_dtype="q4_0"), "lora_dtype"), (dict(name="ok", threads=0), "threads"),
])
def test_export_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ExportConfig(**kwargs)


def test_two_role_adapters_are_refused(tmp_path, tiny_llama, tiny_adapters):
    import shutil

    role, _ = tiny_adapters
    twin = tmp_path / "twin"
    shutil.copytree(role, twin)
    meta = json.loads((twin / "gastown_adapter.json").read_text())
    (twin / "gastown_adapter.json").write_text(json.dumps({**meta, "role": "witness"}))
    with pytest.raises(ValueError, match="more than one role adapter"):
        export_model(str(tiny_llama), [role, twin], tmp_path / "x", name="x", quants=("f16",))
