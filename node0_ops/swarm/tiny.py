"""A tiny random LoRA model and random token data: swarm smoke runs and tests without a base model.

The base is a randomly initialised ``LlamaForCausalLM`` (hidden 32, 2 layers, vocab 200) built
from a fixed seed, so every peer holds bit-identical frozen weights; peft LoRA (r=4 on q/v) is
added on top. Data is a fixed random token set; a peer trains its ``shard = (index, count)``
(every ``count``-th batch starting at ``index``), like the trainer's ``shard`` hook.

Usage::

    model = tiny_lora_model(lora_seed=0)
    batches = random_token_batches(n_batches=64, batch_size=2, seq_len=16, shard=(0, 2))
    loss = model(**batches[0]).loss
"""

import torch

TINY_SPEC = {"arch": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 200,
             "max_position_embeddings": 64}
TINY_LORA = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "lora_dropout": 0.0}


def tiny_lora_model(base_seed: int = 0, lora_seed: int = 0):
    """peft LoRA model over a random tiny Llama (fp32, CPU, ~30k frozen + 1k LoRA parameters).

    ``base_seed`` fixes the frozen base (keep it equal on all peers); ``lora_seed`` the LoRA init.
    """
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    spec = {k: v for k, v in TINY_SPEC.items() if k != "arch"}
    torch.manual_seed(base_seed)
    base = LlamaForCausalLM(LlamaConfig(**spec, tie_word_embeddings=False))
    torch.manual_seed(lora_seed)
    model = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", **TINY_LORA))
    model.train()
    return model


def random_token_batches(n_batches: int = 64, batch_size: int = 2, seq_len: int = 16, vocab_size: int = 200,
                         seed: int = 0, shard: tuple[int, int] = (0, 1)) -> list[dict]:
    """This shard of a fixed random dataset: dicts ``input_ids``/``labels``, int64 ``[batch_size, seq_len]``.

    Raises:
        ValueError: ``shard`` is not ``(index, count)`` with ``0 <= index < count``, or leaves no batch.
    """
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f"shard={shard} must be (index, count) with 0 <= index < count")
    gen = torch.Generator().manual_seed(seed)
    data = torch.randint(0, vocab_size, (n_batches, batch_size, seq_len), generator=gen)
    batches = [{"input_ids": data[i], "labels": data[i].clone()} for i in range(index, n_batches, count)]
    if not batches:
        raise ValueError(f"shard={shard} of {n_batches} batches is empty; use more batches or fewer shards")
    return batches
