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


def build_messages(row: dict[str, Any], style: str = "direct", system: str | None = SYSTEM_PROMPT) -> list[dict]:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user_message(row, style)})
    return messages


def chat_text(tokenizer, messages: list[dict]) -> str:
    """Render messages with the tokenizer's own chat template (generation prompt appended)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # Base models without a template: plain concatenation, the common fallback.
    return "\n\n".join(m["content"] for m in messages) + "\n\n"
