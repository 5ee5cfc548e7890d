"""Chat messages for each task: the one place where a dataset row becomes model input.

Generation and feature extraction both call ``build_messages`` so the weak model's
activations are taken on exactly the prompt it answered.
"""

from __future__ import annotations

import string
from typing import Any, Sequence

SYSTEM_PROMPT = "You are a helpful assistant."

# Direct-answer styles keep generations short (cheap on CPU) and leave a real gap between
# a 0.5B and a 1.5B model; "cot" styles are for GPU runs that mirror the papers.
STYLES: dict[str, dict[str, str]] = {
    "direct": {
        "math": "{prompt} Reply with only the final answer.",
        "mc": "{prompt}\n\n{options}\n\nReply with only the letter of the correct option.",
        "qa": "{prompt}\n\nReply with only the answer, as short as possible.",
        "code": "Complete the following Python function. Reply with the complete function in a ```python block.\n\n{prompt}",
        "open": "{prompt}",
    },
    "cot": {
        "math": "{prompt}\n\nThink step by step, then give the final answer as \\boxed{{...}}.",
        "mc": "{prompt}\n\n{options}\n\nThink briefly, then finish with 'Answer: X' where X is the letter.",
        "qa": "{prompt}\n\nThink briefly, then finish with 'Answer: ...'.",
        "code": "Complete the following Python function. Reply with the complete function in a ```python block.\n\n{prompt}",
        "open": "{prompt}",
    },
}

# The assistant turn starts with this text, and the model continues it. Small instruct models
# asked for "only the final answer" still open with "To determine ..." about half the time
# (cut by the few new tokens a direct answer gets, then scored wrong for the format, not the
# answer); starting their turn at "Answer:" (the evaluation-harness convention) makes them
# answer. Measured on the default (0.5B, 40 arithmetic / 32 choice): accuracy 0.05 -> 0.30 and
# 0.25 -> 0.34. Features are taken on the same text, so the last position is the answer's.
ANSWER_PREFIXES: dict[str, dict[str, str]] = {
    "direct": {"math": "Answer:", "mc": "Answer:", "qa": "Answer:"},
}


def format_options(choices: Sequence[str]) -> str:
    return "\n".join(f"{string.ascii_uppercase[i]}. {c}" for i, c in enumerate(choices))


def user_message(row: dict[str, Any], style: str = "direct") -> str:
    try:
        template = STYLES[style][row["task"]]
    except KeyError:
        raise ValueError(
            f"row {row.get('id')!r}: no prompt template for style={style!r}, task={row.get('task')!r}; "
            f"styles: {sorted(STYLES)}, tasks: {sorted(STYLES['direct'])}"
        ) from None
    choices = row.get("choices")
    choices = list(choices) if choices is not None else []
    return template.format(prompt=row["prompt"], options=format_options(choices))


def answer_prefix(row: dict[str, Any], style: str = "direct") -> str:
    """The text the assistant turn starts with for this row ("" for none)."""
    return ANSWER_PREFIXES.get(style, {}).get(row["task"], "")


def build_messages(row: dict[str, Any], style: str = "direct", system: str | None = SYSTEM_PROMPT,
                   prefill: bool = True) -> list[dict]:
    """System, user and (``prefill`` and the style has one) the assistant turn's opening."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user_message(row, style)})
    prefix = answer_prefix(row, style) if prefill else ""
    if prefix:
        messages.append({"role": "assistant", "content": prefix})
    return messages


def chat_text(tokenizer, messages: list[dict]) -> str:
    """Render messages with the tokenizer's own chat template.

    A final assistant message is an opening the model continues (no end-of-turn after it);
    otherwise the generation prompt is appended.
    """
    continues = messages[-1]["role"] == "assistant"
    if getattr(tokenizer, "chat_template", None):
        if continues:
            return tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True)
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # Base models without a template: plain concatenation, the common fallback.
    text = "\n\n".join(m["content"] for m in messages)
    return text if continues else text + "\n\n"


def query_text(row: dict[str, Any]) -> str:
    """The query as the classifier reads it: the prompt, plus lettered options for multiple choice."""
    choices = row.get("choices")
    choices = list(choices) if choices is not None else []
    return f"{row['prompt']}\n{format_options(choices)}" if choices else str(row["prompt"])
