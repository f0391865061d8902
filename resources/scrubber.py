"""Scrubber resource: presidio-based secret/PII scrubbing (built lazily, once per process)."""

import os

import dagster as dg


class ScrubberResource(dg.ConfigurableResource):
    """presidio no-model engine + custom recognizers; ``use_ner`` adds spaCy PERSON detection."""

    use_ner: bool = False

    def build(self):
        os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
        from node0_ops.corpus.scrub import Scrubber

        return Scrubber(use_ner=self.use_ner)
