"""Hivemind swarm: data-parallel LoRA fine-tuning across peers (Pluralis node0-style join procedure).

Modules:
    swarm_config  ``SwarmConfig`` (validated dataclass, node0-style YAML) and ``derive_run_id``.
    auth          run key file (``SwarmKey``) and ``SharedKeyAuthorizer`` (HMAC tokens; DHT traffic only).
    peer          ``start_dht`` (loopback-safe), ``make_swarm_optimizer`` (hivemind.Optimizer + barrier).
    loop          ``swarm_train``: minimal training loop over any LoRA model.
    tiny          tiny random LoRA model and random token batches (smoke runs, tests).
    trainer_bridge  ``SwarmOptimizerFactory`` / ``sft_run_id``: the swarm inside ``node0_ops.train``.
    cli           ``node0-finetune swarm start|join|dht|status``.

Usage::

    from node0_ops.swarm.swarm_config import SwarmConfig, derive_run_id
    from node0_ops.swarm.peer import start_dht, make_swarm_optimizer

This package never imports dagster; importing it does not import hivemind or torch (submodules do).
"""
