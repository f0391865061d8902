"""Serve role models: an OpenAI-compatible server with hot-switched LoRA stacks, a terminal agent
for Gas Town tmux sessions, and a RAG-compacted role context ("smaller prime").

Modules (no dagster imports; see DEVELOPERS.md "Shape"):

- :mod:`.serve_config`, :mod:`.agent_config`  validated settings dataclasses
- :mod:`.models`     model reference / file paths -> :class:`~.models.ModelSpec`; adapter stacks
- :mod:`.engine`     one llama.cpp model, adapters loaded once, a lock around set-stack + generate
- :mod:`.prompting`  chat template rendering, tool-call parsing (Hermes, OpenAI JSON, ```bash, ``$ cmd``)
- :mod:`.app`        Starlette app + uvicorn runner (``/v1/chat/completions``, ``/v1/models``, ``/health``)
- :mod:`.policy`     which shell commands the agent may run (reuses :mod:`node0_ops.evals.checks`)
- :mod:`.transcript` Claude-Code-style JSONL session log
- :mod:`.backends`   model backends for the agent (in-process llama, HTTP server, scripted replies)
- :mod:`.agent`      the ``node0>`` terminal loop
- :mod:`.rag`        chromadb index over the town (incremental by content hash)
- :mod:`.prime`      compact role context, full-prime size, ``prime_reports`` lineage table
- :mod:`.prime_source` where the prime files are: a town, or a ``gt`` source checkout read in place
- :mod:`.tokens`     token counts with the SmolLM2 tokenizer
- :mod:`.cli`        ``node0-inference`` (``serve``, ``prime``, ``index``; no subcommand = agent)
"""
