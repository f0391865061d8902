"""Every exit scanned: a secret planted in an adapter's metadata blocks the export (no manifest)."""

import json

import pytest

from export_helpers import make_adapter

from node0_ops.export import export_model
from node0_ops.export.scan import ExportLeakError, scan_export

PLANTED = "ghp_" + "Zq8RtY2uV4wX6yA1bC3dE5fG7hJ9kL0mN2pQ"  # fake GitHub token shape (36 chars)


def test_clean_tiny_export_passes_the_scan(tmp_path, tiny_llama, tiny_adapters):
    role, _ = tiny_adapters
    out = tmp_path / "clean"
    res = export_model(str(tiny_llama), [role], out, name="tiny-polecat", quants=("f16",),
                       lineage={"run_id": "r1"}, tokenizer_pre="gpt-2", lora_ggufs=False)
    assert res.manifest.exists() and "scan" in res.timings
    assert scan_export(out, [role]) == []


def test_secret_in_adapter_metadata_blocks_the_export(tmp_path, tiny_llama):
    adapter = make_adapter(tiny_llama, tmp_path / "leaky", r=4, alpha=8, seed=3,
                           meta={"kind": "role", "role": "polecat", "corpus_version": "c-test",
                                 "notes": f"trained from a shell with GH_TOKEN={PLANTED} exported"})
    out = tmp_path / "exp"
    with pytest.raises(ExportLeakError, match="export blocked") as err:
        export_model(str(tiny_llama), [adapter], out, name="tiny-leaky", quants=("f16",), tokenizer_pre="gpt-2",
                     lora_ggufs=False)
    assert not (out / "export.json").exists()  # never registered
    assert PLANTED not in str(err.value)  # values are masked in the report
    where = {(f.path.rsplit("/", 1)[-1], f.entity_type) for f in err.value.findings}
    assert ("gastown_adapter.json", "GITHUB_TOKEN") in where  # the input adapter's metadata JSON


def test_secret_in_lineage_is_found_in_gguf_metadata_and_card(tmp_path, tiny_llama):
    out = tmp_path / "exp"
    with pytest.raises(ExportLeakError) as err:
        export_model(str(tiny_llama), [], out, name="tiny-base", quants=("f16",), tokenizer_pre="gpt-2",
                     lineage={"run_id": "r1 (on call: +1 (415) 555-0199)"})  # run_id goes into GGUF metadata
    assert not (out / "export.json").exists()
    where = {(f.path.rsplit("/", 1)[-1], f.where, f.entity_type) for f in err.value.findings}
    assert any(p.endswith(".gguf") and w != "text" and e == "PHONE_NUMBER" for p, w, e in where), where
    assert ("README.md", "text", "PHONE_NUMBER") in where


def test_secret_in_model_card_and_modelfile_is_found(tmp_path):
    (tmp_path / "gguf" / "f16").mkdir(parents=True)
    (tmp_path / "README.md").write_text("# card\ncontact: ops.lead@example.com\n")
    (tmp_path / "gguf" / "f16" / "Modelfile").write_text(
        'FROM ./m.gguf\nSYSTEM """Use SENDGRID_API_KEY SG.' + "a" * 22 + "." + "b" * 43 + ' for mail."""\n')
    (tmp_path / "meta.json").write_text(json.dumps({"card": "4111 1111 1111 1111"}))
    kinds = {(f.path.rsplit("/", 1)[-1], f.entity_type) for f in scan_export(tmp_path)}
    assert kinds == {("README.md", "EMAIL_ADDRESS"), ("Modelfile", "API_KEY"), ("meta.json", "CREDIT_CARD")}
