"""Variable-length ("varlen") SDPA attention for packed rows on any device, flash-attn not needed.

A packed row holds several examples with ``position_ids`` restarting at 0. transformers' own
sdpa path turns that into a block-diagonal mask over the whole row (correct, but every
row x row score is computed and then masked). This attention instead runs
``scaled_dot_product_attention(is_causal=True)`` once per example segment, so the work is
``sum(l_i^2)`` instead of ``T^2`` and no score crosses an example boundary by construction.

Registered under :data:`NAME` in transformers' ``AttentionInterface``; its mask function is
transformers' flash-attention one (no 4D mask is built; a 2D padding mask is passed through when
there is padding). Anything that is not a packed training forward (a KV cache with
``q_len != kv_len``, batch > 1, a padding mask) falls back to stock sdpa with an explicit mask.

Usage::

    from node0_ops.train.varlen_attention import NAME, register
    register()
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation=NAME)
"""

import torch
import torch.nn.functional as F

NAME = "gastown_varlen_sdpa"
_registered = False


def segments(position_ids: torch.Tensor) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` of the examples in a packed row (position id 0 starts one).

    Args:
        position_ids: LongTensor [1, T] or [T].
    """
    pos = position_ids.reshape(-1)
    starts = (pos == 0).nonzero().flatten().tolist()
    if not starts or starts[0] != 0:
        starts = [0] + starts
    return list(zip(starts, starts[1:] + [int(pos.numel())]))


def _fallback(module, query, key, value, attention_mask, dropout, scaling):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    q_len, kv_len = query.shape[2], key.shape[2]
    mask = None
    if q_len > 1 or attention_mask is not None:
        # causal with the queries aligned to the end of the keys (KV cache), plus padding if given
        mask = torch.ones(q_len, kv_len, dtype=torch.bool, device=query.device).tril(kv_len - q_len)[None, None]
        if attention_mask is not None:
            pad = attention_mask[:, None, None, -kv_len:] if attention_mask.dim() == 2 else attention_mask
            mask = mask & pad.bool()
    return sdpa_attention_forward(module, query, key, value, mask, dropout=dropout, scaling=scaling, is_causal=False)


def varlen_sdpa_attention(module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                          attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                          position_ids: torch.Tensor | None = None, **kwargs):
    """transformers attention function: ``query`` [B, Hq, T, D], ``key``/``value`` [B, Hkv, T, D]
    -> ``(output [B, T, Hq, D], None)``."""
    if (position_ids is None or query.shape[0] != 1 or attention_mask is not None
            or query.shape[2] != key.shape[2]):
        return _fallback(module, query, key, value, attention_mask, dropout, scaling)
    gqa = query.shape[1] != key.shape[1]
    p = dropout if module.training else 0.0
    segs = segments(position_ids)
    if len(segs) == 1:
        out = F.scaled_dot_product_attention(query, key, value, is_causal=True, scale=scaling, dropout_p=p, enable_gqa=gqa)
    else:
        out = torch.cat([F.scaled_dot_product_attention(query[:, :, s:e], key[:, :, s:e], value[:, :, s:e], is_causal=True,
                                                        scale=scaling, dropout_p=p, enable_gqa=gqa)
                         for s, e in segs], dim=2)
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    """Register :data:`NAME` with transformers (idempotent); returns the name."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, flash_attention_mask

        AttentionInterface.register(NAME, varlen_sdpa_attention)
        ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, flash_attention_mask)
        _registered = True
    return NAME
