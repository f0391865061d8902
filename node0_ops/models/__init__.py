"""Base models: presets, GGUF -> HF conversion cache, device/dtype choice.

    from node0_ops.models.base import resolve_base, load_base, pick_device
    folder = resolve_base("smollm2-135m")       # cached HF folder, no download
    model, tok = load_base("smollm2-135m")
"""
