"""Structured answers from a chat model: OpenAI chat completions or Anthropic messages.

:meth:`ChatClient.ask` sends a system prompt, a user prompt and optional JPEG images, asks for
JSON matching a pydantic model (OpenAI: ``response_format`` with a JSON schema; Anthropic: one
forced tool whose ``input_schema`` is that schema) and returns the validated model. An answer that
does not validate is sent back once with the validation error; a second bad answer is a
RetryableError. SDKs are imported when a client is built.

The OpenAI client talks to any OpenAI-compatible server (Ollama, vLLM, …) when the connection's
host is set: it becomes the SDK's ``base_url``.
"""

from __future__ import annotations

import base64
import json
from abc import ABC, abstractmethod
from typing import ClassVar, Sequence, TypeVar

from pydantic import BaseModel, ValidationError

from include.core.errors import FatalError, RetryableError
from include.core.usage import Usage
from include.providers.cloud import ProviderConfig, installed, sdk_errors

M = TypeVar("M", bound=BaseModel)
MAX_OUTPUT_TOKENS = 4096


class ChatClient(ABC):
    """One chat model behind one provider SDK."""

    name: ClassVar[str]
    service: ClassVar[str]
    module: ClassVar[str]  # the SDK's import name

    def __init__(self, config: ProviderConfig, usage: Usage) -> None:
        if not installed(self.module):
            raise FatalError(f"{self.service} needs the '{self.module}' package on this worker.")
        if not config.model:
            raise FatalError(f"no {self.service} model is configured; set the model param.")
        self.config, self.usage = config, usage
        self.client = self._client(config.require_key(self.service))

    def ask(self, system: str, prompt: str, schema: type[M], images: Sequence[bytes] = ()) -> M:
        """The model's answer to ``prompt`` as a validated ``schema`` instance."""
        raw = self._complete(system, prompt, schema, images)
        try:
            return schema.model_validate_json(raw)
        except ValidationError as exc:
            repair = (
                f"{prompt}\n\nYour previous answer was not valid JSON for the schema:\n{raw[:4000]}\n"
                f"Problems: {_problems(exc)}\nAnswer again with JSON that matches the schema."
            )
        raw = self._complete(system, repair, schema, images)
        try:
            return schema.model_validate_json(raw)
        except ValidationError as exc:
            raise RetryableError(
                f"{self.service} model {self.config.model} twice returned JSON that does not "
                f"match the {schema.__name__} schema ({_problems(exc)})."
            ) from None

    @abstractmethod
    def _client(self, api_key: str): ...

    @abstractmethod
    def _complete(self, system: str, prompt: str, schema: type[BaseModel],
                  images: Sequence[bytes]) -> str:
        """One request; the answer's JSON text (possibly invalid)."""

    def _errors(self):
        return sdk_errors(self.module, self.service, self.config.conn_id)


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, err['loc'])) or 'answer'}: {err['msg']}" for err in exc.errors()[:5]
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def strict_schema(schema: type[BaseModel]) -> dict:
    """The model's JSON schema with every object closed, as strict structured output requires."""
    doc = schema.model_json_schema()

    def close(node):
        if isinstance(node, dict):
            if node.get("type") == "object":
                node["additionalProperties"] = False
                node["required"] = list(node.get("properties", {}))
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(doc)
    return doc


class OpenAIChat(ChatClient):
    name = "openai"
    service = "OpenAI"
    module = "openai"

    def _client(self, api_key: str):
        import openai

        return openai.OpenAI(
            api_key=api_key, base_url=self.config.base_url or None,
            timeout=self.config.timeout, max_retries=self.config.max_retries,
        )

    def _complete(self, system, prompt, schema, images) -> str:
        content = [{"type": "text", "text": prompt}] + [
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{_b64(jpeg)}"}}
            for jpeg in images
        ]
        with self._errors():
            response = self.client.chat.completions.create(
                model=self.config.model,
                max_completion_tokens=MAX_OUTPUT_TOKENS,
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": content},
                ],
                response_format={
                    "type": "json_schema",
                    "json_schema": {
                        "name": schema.__name__, "schema": strict_schema(schema), "strict": True,
                    },
                },
            )
        usage = response.usage
        self.usage.add(
            requests=1,
            input_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            output_tokens=getattr(usage, "completion_tokens", 0) or 0,
        )
        message = response.choices[0].message
        if getattr(message, "refusal", None):
            raise FatalError(f"OpenAI model {self.config.model} refused: {message.refusal}")
        return message.content or ""


class AnthropicChat(ChatClient):
    name = "anthropic"
    service = "Anthropic"
    module = "anthropic"
    tool = "answer"

    def _client(self, api_key: str):
        import anthropic

        return anthropic.Anthropic(
            api_key=api_key, base_url=self.config.base_url or None,
            timeout=self.config.timeout, max_retries=self.config.max_retries,
        )

    def _complete(self, system, prompt, schema, images) -> str:
        content = [
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg",
                                         "data": _b64(jpeg)}}
            for jpeg in images
        ] + [{"type": "text", "text": prompt}]
        with self._errors():
            response = self.client.messages.create(
                model=self.config.model,
                max_tokens=MAX_OUTPUT_TOKENS,
                system=system,
                messages=[{"role": "user", "content": content}],
                tools=[{
                    "name": self.tool,
                    "description": f"Give the answer as a {schema.__name__} object.",
                    "input_schema": schema.model_json_schema(),
                }],
                tool_choice={"type": "tool", "name": self.tool},
            )
        self.usage.add(
            requests=1,
            input_tokens=response.usage.input_tokens or 0,
            output_tokens=response.usage.output_tokens or 0,
        )
        for block in response.content:
            if block.type == "tool_use":
                return json.dumps(block.input)
        return "".join(getattr(block, "text", "") for block in response.content)


CHAT_CLIENTS: dict[str, type[ChatClient]] = {
    OpenAIChat.name: OpenAIChat,
    AnthropicChat.name: AnthropicChat,
}


def chat_client(name: str, config: ProviderConfig, usage: Usage) -> ChatClient:
    cls = CHAT_CLIENTS.get(name)
    if cls is None:
        raise FatalError(f"unknown chat provider {name!r}; choose one of: {', '.join(CHAT_CLIENTS)}.")
    return cls(config, usage)
