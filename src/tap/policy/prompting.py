"""How a prompt reaches the model: the tokenizer's chat template (with a system prompt) or plain text.

One `PromptFormat` is shared by rollouts, features, the probe and the TRL label runs, so every stage
feeds the model the same tokens. With the chat template, TRL gets conversational rows (a list of
messages) and applies the same template with the same `chat_template_kwargs`; without it, plain
strings tokenized with the tokenizer's special tokens, as TRL does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PromptFormat:
    chat: bool = False
    system_prompt: str = ""
    template_kwargs: dict = field(default_factory=dict, hash=False)

    @classmethod
    def for_tokenizer(
        cls, tokenizer, mode: str = "auto", system_prompt: str = "", template_kwargs: dict | None = None
    ) -> "PromptFormat":
        """`mode` auto: the chat template when the tokenizer has one; on: required; off: plain text."""
        has_template = bool(getattr(tokenizer, "chat_template", None))
        if mode == "on" and not has_template:
            from tap.errors import TapInputError

            raise TapInputError("policy.chat_template = 'on' but the tokenizer has no chat template")
        return cls(
            chat=has_template and mode != "off",
            system_prompt=system_prompt,
            template_kwargs=dict(template_kwargs or {}),
        )

    def messages(self, prompt: str) -> list[dict]:
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return system + [{"role": "user", "content": prompt}]

    def trl_prompt(self, prompt: str):
        """The dataset row TRL gets: a conversation with the chat template, else the plain string."""
        return self.messages(prompt) if self.chat else prompt

    def encode(self, tokenizer, prompts: Sequence[str]) -> list[list[int]]:
        """Token ids of each prompt, exactly as TRL builds them for the same row (each distinct prompt
        encoded once: a GRPO group repeats its prompt G times)."""
        distinct = list(dict.fromkeys(prompts))
        if not self.chat:
            encoded = tokenizer(distinct, add_special_tokens=True)["input_ids"] if distinct else []
        else:
            encoded = [
                tokenizer.apply_chat_template(
                    self.messages(prompt),
                    add_generation_prompt=True,
                    tokenize=True,
                    return_dict=True,
                    **self.template_kwargs,
                )["input_ids"]
                for prompt in distinct
            ]
        ids = dict(zip(distinct, encoded))
        return [list(ids[prompt]) for prompt in prompts]

    def settings(self) -> dict:
        """What a label depends on (goes into the label hash)."""
        return {"chat": self.chat, "system_prompt": self.system_prompt, "template_kwargs": self.template_kwargs}


def answer_ids(tokenizer, answers: Sequence[str], eos_id: int) -> list[list[int]]:
    """Token ids of each answer as the policy would end it: the text's tokens, then the end token."""
    encoded = tokenizer([str(a) for a in answers], add_special_tokens=False)["input_ids"] if len(answers) else []
    return [list(ids) + [eos_id] for ids in encoded]


def completion_text(completion) -> str:
    """TRL hands a reward function strings, or message lists for conversational rows."""
    if isinstance(completion, str):
        return completion
    return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """The text before the first stop string, and whether one was found."""
    hits = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[: min(hits)], True) if hits else (text, False)
