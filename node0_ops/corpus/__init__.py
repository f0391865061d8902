"""Corpus pipeline: collect -> scrub -> format -> partition, each a plain function.

    from node0_ops.corpus.collect import collect_town
    from node0_ops.corpus.scrub import Scrubber
    from node0_ops.corpus.format_sft import build_examples
    from node0_ops.corpus.dpo import build_dpo_pairs
    from node0_ops.corpus.partition import partition_corpus

Data contracts between the stages live in :mod:`node0_ops.corpus.schema`. Sharing a corpus
without a GPU: :mod:`.contribute` (signed bundle out), :mod:`.contributions` (bundle in),
:mod:`.bundle` (the tar format), :mod:`.contributor_key` (the operator's Ed25519 key).
"""
