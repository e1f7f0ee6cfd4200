"""Drives `invoke serve` with the `openai` Python package, as a chat
front-end or an agent framework would: models, a chat completion, a
streamed one with usage, tool calls (whole and streamed), embeddings. Prints one JSON object of what it saw;
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

# Tools, as an agent framework uses them: the model asks for calls, the
# client runs them and sends the results back, the model answers from them.
tools = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}}},
]
ask = [{"role": "user", "content": "Use get_weather and get_time for Paris"}]


def results(calls):
    return [{"role": "tool", "tool_call_id": c["id"],
             "content": "%s says 18 degrees at noon" % c["name"]} for c in calls]


first = client.chat.completions.create(model="Haiku", messages=ask, tools=tools)
message = first.choices[0].message
calls = [{"id": c.id, "name": c.function.name, "arguments": json.loads(c.function.arguments)}
         for c in message.tool_calls or []]
answer = client.chat.completions.create(
    model="Haiku", tools=tools,
    messages=ask + [message.model_dump(exclude_none=True)] + results(calls))
seen["tools"] = {"finish_reason": first.choices[0].finish_reason, "content": message.content,
                 "calls": calls, "answer": answer.choices[0].message.content,
                 "answer_finish_reason": answer.choices[0].finish_reason}

# The same, streamed: the calls come as numbered pieces to put together.
stream = client.chat.completions.create(model="Haiku", messages=ask, tools=tools, stream=True)
parts, finish, text = {}, None, []
for chunk in stream:
    for choice in chunk.choices:
        if choice.delta.content:
            text.append(choice.delta.content)
        for c in choice.delta.tool_calls or []:
            part = parts.setdefault(c.index, {"id": None, "name": None, "arguments": ""})
            if c.id:
                part["id"] = c.id
            if c.function and c.function.name:
                part["name"] = c.function.name
            if c.function and c.function.arguments:
                part["arguments"] += c.function.arguments
        if choice.finish_reason:
            finish = choice.finish_reason
streamed = [{"id": p["id"], "name": p["name"], "arguments": json.loads(p["arguments"])}
            for _, p in sorted(parts.items())]
assistant = {"role": "assistant", "content": "".join(text),
             "tool_calls": [{"id": c["id"], "type": "function",
                             "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
                            for c in streamed]}
answer = client.chat.completions.create(
    model="Haiku", tools=tools, stream=True,
    messages=ask + [assistant] + results(streamed))
said = "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
seen["streamed_tools"] = {"finish_reason": finish, "calls": streamed, "answer": said}

forced = client.chat.completions.create(
    model="Haiku", messages=[{"role": "user", "content": "what now"}], tools=tools,
    tool_choice={"type": "function", "function": {"name": "get_time"}})
seen["forced_tool"] = {"calls": [c.function.name for c in forced.choices[0].message.tool_calls or []],
                       "content": forced.choices[0].message.content}

try:
    client.chat.completions.create(model="Haiku", messages=[{"role": "assistant", "content": "x"}])
    seen["bad_request"] = None
except openai.BadRequestError as e:
    seen["bad_request"] = e.status_code

print(json.dumps(seen))
