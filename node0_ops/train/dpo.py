"""DPO on preference pairs for a LoRA adapter, with our own loss.

Loss (Rafailov et al. 2023, "Direct Preference Optimization: Your Language Model is Secretly a
Reward Model", arXiv:2305.18290, eq. 7)::

    L = -log sigmoid( beta * [ (log pi(y_w|x) - log ref(y_w|x)) - (log pi(y_l|x) - log ref(y_l|x)) ] )

with sequence log-probabilities summed over the completion tokens. The implicit reward of a
completion is ``beta * (log pi - log ref)``; we report the mean reward margin
(chosen - rejected) and the reward accuracy (fraction of pairs with margin > 0) on held-out pairs
before and after training, plus ``logp_accuracy`` (the policy gives the chosen completion the
higher log-probability).

Policy = base + the trainable adapter (initialised from the role adapter). Reference:
``reference=base`` runs the same model under ``with model.disable_adapter():`` (no second copy
of the weights; TRL's default for PEFT models); ``reference=role`` loads the role adapter a
second time, frozen, as adapter ``reference`` and switches to it for the reference pass (the
paper's pi_ref = pi_SFT). Reference log-probs are computed once before training.

Chosen and rejected go through the model in one packed row (position ids restart, no padding).

Usage::

    pairs, report = tokenize_pairs(rows, tok, cfg)            # rows: prompt/chosen/rejected
    obj = DPOObjective(cfg, reference="base")
    Trainer(policy_model, cfg, pairs, val_pairs, objective=obj).train()
"""

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from node0_ops.train.data import IGNORE, DataReport, TokenizedExample, build_row, tokenize_chat


@dataclass
class TokenizedPair:
    """One preference pair: chosen/rejected token sequences sharing the prompt, plus reference
    sequence log-probs (filled by :meth:`DPOObjective.prepare`)."""

    chosen: TokenizedExample
    rejected: TokenizedExample
    pair_id: str = ""
    ref_chosen: float | None = None
    ref_rejected: float | None = None


def _completion(value, field: str) -> list[dict]:
    if isinstance(value, str):
        return [{"role": "assistant", "content": value}]
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        return value
    if isinstance(value, dict):
        return [value]
    raise ValueError(f"{field} must be a string or a list of assistant messages, got {type(value).__name__}")


def _truncate(ex: TokenizedExample, max_seq_len: int, max_prompt_len: int) -> TokenizedExample:
    start = next((i for i, x in enumerate(ex.labels) if x != IGNORE), len(ex))
    prompt_ids, prompt_lab = ex.input_ids[:start], ex.labels[:start]
    if len(prompt_ids) > max_prompt_len:
        prompt_ids, prompt_lab = prompt_ids[-max_prompt_len:], prompt_lab[-max_prompt_len:]
    room = max_seq_len - len(prompt_ids)
    return TokenizedExample(prompt_ids + ex.input_ids[start:start + room],
                            prompt_lab + ex.labels[start:start + room], ex.example_id)


def tokenize_pairs(rows: Sequence[dict], tokenizer, cfg) -> tuple[list[TokenizedPair], DataReport]:
    """Tokenize ``{"prompt": [messages], "chosen": str|[messages], "rejected": ...}`` rows.

    Labels cover only the completion; prompts longer than ``cfg.max_prompt_len`` keep their last
    tokens and completions are cut to fit ``cfg.max_seq_len``. Bad rows are dropped and named.
    """
    report = DataReport()
    out = []
    for n, row in enumerate(rows):
        report.n_in += 1
        rid = str(row.get("pair_id") or row.get("example_id") or f"row:{n}")
        try:
            prompt = row["prompt"]
            if isinstance(prompt, str):
                prompt = [{"role": "user", "content": prompt}]
            seqs = []
            for key in ("chosen", "rejected"):
                ex = tokenize_chat(list(prompt) + _completion(row[key], key), tokenizer,
                                   first_labelled_turn=len(prompt))
                ex.example_id = f"{rid}:{key}"
                if len(ex) > cfg.max_seq_len:
                    report.n_truncated += 1
                ex = _truncate(ex, cfg.max_seq_len, cfg.max_prompt_len)
                if sum(1 for x in ex.labels[1:] if x != IGNORE) == 0:
                    raise ValueError(f"{key} has no completion tokens within max_seq_len")
                seqs.append(ex)
        except (KeyError, ValueError, TypeError) as exc:
            report.add_problem(f"{rid}: {exc}")
            continue
        if seqs[0].input_ids == seqs[1].input_ids:
            report.add_problem(f"{rid}: chosen and rejected tokenize identically")
            continue
        out.append(TokenizedPair(seqs[0], seqs[1], rid))
        report.n_used += 1
        report.n_tokens += len(seqs[0]) + len(seqs[1])
        report.n_label_tokens += seqs[0].n_labels + seqs[1].n_labels
    return out, report


def dpo_loss(pol_c: torch.Tensor, pol_r: torch.Tensor, ref_c: torch.Tensor, ref_r: torch.Tensor,
             beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 7 of Rafailov et al. 2023 per pair.

    Args:
        pol_c, pol_r, ref_c, ref_r: sequence log-probs [n_pairs] (float32) of chosen/rejected
            under policy and reference.
    Returns:
        ``(losses [n], chosen_rewards [n], rejected_rewards [n])`` with rewards ``beta * (pol - ref)``.
    """
    rc = beta * (pol_c - ref_c)
    rr = beta * (pol_r - ref_r)
    return -F.logsigmoid(rc - rr), rc.detach(), rr.detach()


class DPOObjective:
    """DPO for :class:`node0_ops.train.trainer.Trainer`: one pair per micro-batch, both
    completions in one packed row, the LM head only on completion positions."""

    def __init__(self, cfg, device: str = "cpu", autocast_dtype: torch.dtype | None = None,
                 reference: str = "base", policy_adapter: str = "policy", reference_adapter: str = "reference"):
        self.cfg, self.device, self.autocast_dtype = cfg, device, autocast_dtype
        self.reference, self.policy_adapter, self.reference_adapter = reference, policy_adapter, reference_adapter

    def plan(self, data: Sequence[TokenizedPair], epoch: int, seed: int) -> list[list[int]]:
        import random

        order = list(range(len(data)))
        random.Random(f"dpo:{seed}:{epoch}").shuffle(order)
        return [[i] for i in order]

    def weight(self, items) -> float:
        return float(len(items))

    def _autocast(self):
        if self.autocast_dtype is None:
            return torch.autocast(device_type="cpu", enabled=False)
        return torch.autocast(device_type=self.device, dtype=self.autocast_dtype)

    def sequence_logps(self, model, pair: TokenizedPair) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Summed completion log-probs ``(chosen, rejected)`` (0-d float32 tensors) and tokens run."""
        row = build_row([pair.chosen, pair.rejected]).to(self.device)
        tgt = row.targets[0]
        keep = (tgt != IGNORE).nonzero().squeeze(1)
        with self._autocast():
            out = model(input_ids=row.input_ids, position_ids=row.position_ids, use_cache=False, logits_to_keep=keep)
        logp = torch.log_softmax(out.logits[0].float(), dim=-1).gather(1, tgt[keep].unsqueeze(1)).squeeze(1)
        in_chosen = keep < len(pair.chosen)
        return logp[in_chosen].sum(), logp[~in_chosen].sum(), row.n_tokens

    @torch.no_grad()
    def _reference_logps(self, model, pairs: Sequence[TokenizedPair]) -> None:
        was = model.training
        model.eval()
        try:
            if self.reference == "base":
                with model.disable_adapter():
                    for p in pairs:
                        c, r, _ = self.sequence_logps(model, p)
                        p.ref_chosen, p.ref_rejected = float(c), float(r)
            else:
                active = list(model.base_model.active_adapters)
                model.base_model.set_adapter(self.reference_adapter)
                try:
                    for p in pairs:
                        c, r, _ = self.sequence_logps(model, p)
                        p.ref_chosen, p.ref_rejected = float(c), float(r)
                finally:
                    model.base_model.set_adapter(active)
                    model.base_model.set_requires_grad(self.reference_adapter, requires_grad=False)
        finally:
            model.train(was)

    def prepare(self, model, train, val) -> None:
        todo = [p for p in list(train) + list(val) if p.ref_chosen is None]
        if todo:
            self._reference_logps(model, todo)

    def loss(self, model, items: Sequence[TokenizedPair]):
        total = torch.zeros((), device=self.device)
        tokens = 0
        margins, acc = [], []
        for p in items:
            c, r, n = self.sequence_logps(model, p)
            losses, rc, rr = dpo_loss(c.unsqueeze(0), r.unsqueeze(0), torch.tensor([p.ref_chosen], device=self.device),
                                      torch.tensor([p.ref_rejected], device=self.device), self.cfg.beta)
            total = total + losses.sum()
            tokens += n
            margins.append(float(rc - rr))
            acc.append(float(rc > rr))
        return total, tokens, {"reward_margin": sum(margins), "reward_accuracy": sum(acc)}

    @torch.no_grad()
    def evaluate(self, model, data: Sequence[TokenizedPair]) -> dict:
        if not data:
            return {}
        self.prepare(model, [], data)
        losses, margins, acc, lp_acc = [], [], [], []
        for p in data:
            c, r, _ = self.sequence_logps(model, p)
            loss, rc, rr = dpo_loss(c.view(1), r.view(1), torch.tensor([p.ref_chosen], device=self.device),
                                    torch.tensor([p.ref_rejected], device=self.device), self.cfg.beta)
            losses.append(float(loss))
            margins.append(float(rc - rr))
            acc.append(float(rc > rr))
            lp_acc.append(float(c > r))
        n = len(data)
        return {"val_loss": sum(losses) / n, "reward_margin": sum(margins) / n,
                "reward_accuracy": sum(acc) / n, "logp_accuracy": sum(lp_acc) / n}
