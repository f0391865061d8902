"""The model must learn to stop: the chat template's end-of-turn token closes every assistant
turn inside the loss mask (a known cause of fine-tuned models that never stop)."""

from node0_ops.train.chat_template import END_OF_TURN
from node0_ops.train.data import IGNORE, tokenize_chat, tokenize_examples

MULTI = [
    {"role": "system", "content": "You are the deacon."},
    {"role": "user", "content": "Patrol step: health-scan. $ gt polecat list\nfizz  working  5m"},
    {"role": "assistant", "content": '{"action": "continue", "reason": "fizz is working"}'},
    {"role": "user", "content": "And now?"},
    {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
        "name": "bash", "arguments": {"command": "gt nudge gastown/fizz 'status?'"}}}]},
    {"role": "tool", "content": "nudged"},
    {"role": "assistant", "content": "Done."},
]


def _assistant_turn_ends(ids, labels, eot_id):
    """Indexes of the end-of-turn tokens that close labelled (assistant) runs."""
    return [i for i, t in enumerate(ids) if t == eot_id and labels[i] != IGNORE]


def test_end_of_turn_is_labelled_for_every_assistant_turn(tokenizer):
    eot_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    assert isinstance(eot_id, int) and eot_id != tokenizer.unk_token_id
    ex = tokenize_chat(MULTI, tokenizer)
    n_assistant = sum(m["role"] == "assistant" for m in MULTI)
    closing = _assistant_turn_ends(ex.input_ids, ex.labels, eot_id)
    assert len(closing) == n_assistant
    # every labelled run ends exactly on an end-of-turn token; system/user/tool end-of-turns stay unlabelled
    runs_end = [i for i in range(len(ex.labels)) if ex.labels[i] != IGNORE
                and (i + 1 == len(ex.labels) or ex.labels[i + 1] == IGNORE)]
    assert runs_end == closing
    all_eot = [i for i, t in enumerate(ex.input_ids) if t == eot_id]
    assert len(all_eot) == len(MULTI)                     # one per message
    assert sum(ex.labels[i] != IGNORE for i in all_eot) == n_assistant


def test_end_of_turn_survives_truncation_of_long_examples(tokenizer):
    eot_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    rows = [{"messages": MULTI[:3]}]
    (ex,), _ = tokenize_examples(rows, tokenizer, max_seq_len=512)
    assert ex.labels[-1] == eot_id                        # the last trained token is the stop token
