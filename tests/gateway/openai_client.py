"""Drives `invoke serve` with the `openai` Python package, as a chat
front-end or an agent framework would: models, a chat completion, a
streamed one with usage, embeddings. Prints one JSON object of what it saw;
exits non-zero (with the reason) when something is not as expected.

Usage: openai_client.py BASE_URL TOKEN
"""
import json, sys

try:
    import openai
except ImportError:
    sys.stderr.write("the openai package is missing: python3 -m pip install openai\n")
    sys.exit(3)

base, token = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base + "/v1", api_key=token, max_retries=0, timeout=20)

seen = {}
models = [m.id for m in client.models.list()]
seen["models"] = models

done = client.chat.completions.create(
    model="Haiku",
    messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello from the openai client"},
    ],
    max_tokens=100,
)
seen["chat"] = {
    "text": done.choices[0].message.content,
    "finish_reason": done.choices[0].finish_reason,
    "usage": done.usage.model_dump(),
}

stream = client.chat.completions.create(
    model="Haiku",
    messages=[
        {"role": "user", "content": "first turn"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": "stream this please"},
    ],
    stream=True,
    stream_options={"include_usage": True},
)
pieces, finish, usage, chunks = [], None, None, 0
for chunk in stream:
    chunks += 1
    if chunk.usage:
        usage = chunk.usage.model_dump()
    for choice in chunk.choices:
        if choice.delta.content:
            pieces.append(choice.delta.content)
        if choice.finish_reason:
            finish = choice.finish_reason
seen["stream"] = {"text": "".join(pieces), "finish_reason": finish, "usage": usage, "chunks": chunks}

import base64
png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(8)).decode()
img = client.chat.completions.create(
    model="Haiku",
    messages=[{"role": "user", "content": [
        {"type": "text", "text": "describe"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + png}},
    ]}],
)
seen["image"] = img.choices[0].message.content

emb = client.embeddings.create(
    model="amazon.titan-embed-text-v2:0",
    input=["the cat sat on the mat", "the cat sat on the rug"],
    dimensions=256,
)
seen["embeddings"] = {"count": len(emb.data), "dims": [len(d.embedding) for d in emb.data]}

try:
    client.chat.completions.create(model="Haiku", messages=[{"role": "assistant", "content": "x"}])
    seen["bad_request"] = None
except openai.BadRequestError as e:
    seen["bad_request"] = e.status_code

print(json.dumps(seen))
