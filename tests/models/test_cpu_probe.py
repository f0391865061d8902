"""CPU feature probe: parses both CPU kinds this project runs on, and this machine's own."""

from node0_ops.models.cpu import cpu_features, parse_cpuinfo

AMD = """processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"""
INTEL = """processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"""
OLD = """model name\t: Intel(R) Xeon(R) CPU E5-2680\nflags\t\t: fpu avx avx2\n"""


def test_amd_epyc_has_avx512_bf16_without_amx():
    f = parse_cpuinfo(AMD, "x86_64")
    assert (f.model_name, f.has_amx_bf16, f.has_avx512_bf16, f.native_bf16) == ("AMD EPYC", False, True, True)
    assert f.bf16_path == "avx512_bf16"


def test_sapphire_rapids_has_amx():
    f = parse_cpuinfo(INTEL, "x86_64")
    assert f.has_amx_bf16 and f.bf16_path == "amx_bf16"
    assert "Xeon" in f.summary() and "amx_bf16" in f.summary()


def test_cpu_without_bf16_falls_back():
    f = parse_cpuinfo(OLD)
    assert not f.native_bf16 and f.bf16_path == "none"
    assert parse_cpuinfo("").flags == frozenset()


def test_this_machine_matches_proc_cpuinfo():
    text = open("/proc/cpuinfo").read()
    f = cpu_features()
    assert f.has_avx512_bf16 == (" avx512_bf16" in text)
    assert f.has_amx_bf16 == (" amx_bf16" in text and " amx_tile" in text)
