"""The shared llama.cpp opener: ``use_extra_bufts`` from the CPU probe and the env override, and real
quantized GGUFs (the shipped Q4_1 base, a q4_k_m made by our exporter) decoding through it."""

import logging

import pytest

from node0_ops.models import llama_open
from node0_ops.models.cpu import parse_cpuinfo
from node0_ops.models.llama_open import ENV_VAR, choose_settings, llama_settings

AMD = "model name\t: AMD EPYC 9R14\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"
SAPPHIRE = ("model name\t: Intel(R) Xeon(R) Platinum 8488C\n"
            "flags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni amx_bf16 amx_tile amx_int8\n")
AMX_INT8_ONLY = "model name\t: Intel AMX int8 part\nflags\t\t: fpu avx2 amx_tile amx_int8\n"
OLD = "model name\t: Intel(R) Xeon(R) CPU E5-2680\nflags\t\t: fpu avx avx2\n"


def test_amx_cpu_turns_extra_buffer_types_off():
    s = choose_settings(parse_cpuinfo(SAPPHIRE, "x86_64"))
    assert s.use_extra_bufts is False
    assert "AMX" in s.reason and "Xeon" in s.cpu
    assert choose_settings(parse_cpuinfo(AMX_INT8_ONLY)).use_extra_bufts is False


def test_cpus_without_amx_keep_llama_cpp_default():
    assert choose_settings(parse_cpuinfo(AMD, "x86_64")).use_extra_bufts is True
    assert choose_settings(parse_cpuinfo(OLD)).use_extra_bufts is True
    assert choose_settings(parse_cpuinfo("")).use_extra_bufts is True  # unreadable /proc/cpuinfo


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("ON", True), ("0", False), ("no", False)])
def test_env_override_wins_over_the_probe(value, expected):
    for text in (AMD, SAPPHIRE):
        s = choose_settings(parse_cpuinfo(text), value)
        assert s.use_extra_bufts is expected and ENV_VAR in s.reason


def test_bad_override_names_the_variable():
    with pytest.raises(ValueError, match=ENV_VAR):
        choose_settings(parse_cpuinfo(AMD), "maybe")


def test_llama_settings_reads_env_and_logs_once(monkeypatch, caplog):
    llama_open._settings_for.cache_clear()
    monkeypatch.setenv(ENV_VAR, "0")
    with caplog.at_level(logging.INFO, logger="node0_ops.models.llama_open"):
        first, second = llama_settings(), llama_settings()
    assert first.use_extra_bufts is False and first == second
    assert len(caplog.records) == 1 and "use_extra_bufts=False" in caplog.records[0].getMessage()
    monkeypatch.setenv(ENV_VAR, "1")
    assert llama_settings().use_extra_bufts is True
    monkeypatch.delenv(ENV_VAR)
    assert llama_settings() == choose_settings(llama_open.cpu_features())
    assert set(llama_settings().to_dict()) == {"use_extra_bufts", "reason", "cpu"}


def test_open_llama_refuses_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.gguf"):
        llama_open.open_llama(tmp_path / "nope.gguf", n_ctx=256, n_threads=1)


def _decode(path, n: int = 8) -> tuple[str, int, object]:
    llm = llama_open.open_llama(path, n_ctx=512, n_threads=1, seed=0)
    try:
        out = llm.create_chat_completion(messages=[{"role": "user", "content": "Say hello to the mayor."}],
                                         temperature=0.0, top_k=1, max_tokens=n)
        return out["choices"][0]["message"]["content"], out["usage"]["completion_tokens"], llm
    finally:
        llm.close()


@pytest.mark.slow
@pytest.mark.native
def test_real_q4_1_and_q4_k_m_decode_through_the_opener(tmp_path):
    """The CPU CI has decides the setting; both quantized files must answer with it (a crash here is
    reported by the native-test runner as a failed test naming the signal)."""
    pytest.importorskip("llama_cpp")
    from node0_ops.export.gguf_writer import quantize_gguf, write_gguf
    from node0_ops.models.base import preset_gguf, resolve_base

    try:
        q4_1 = preset_gguf("smollm2-135m")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    f16 = write_gguf(resolve_base("smollm2-135m"), tmp_path / "smol-f16.gguf", "f16")
    q4km = quantize_gguf(f16, tmp_path / "smol-q4_k_m.gguf", "q4_k_m")
    expected = llama_settings()
    for path in (q4_1, q4km):
        text, n_tokens, llm = _decode(path)
        assert llm.gtft_settings == expected
        assert llm.model_params.use_extra_bufts is expected.use_extra_bufts  # what llama.cpp loaded with
        assert n_tokens >= 3 and any(c.isalpha() for c in text), f"{path.name} answered {text!r} ({n_tokens} tokens)"
