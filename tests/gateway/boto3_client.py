"""Drives the gateway's Bedrock-native routes with boto3's bedrock-runtime
client, as any AWS SDK would with a Bedrock API key: the gateway's URL as
the endpoint and a gateway token in AWS_BEARER_TOKEN_BEDROCK, no AWS
credentials. Prints one JSON object of what it saw.

Usage: boto3_client.py BASE_URL TOKEN
"""
import json, os, sys

base, token = sys.argv[1], sys.argv[2]
os.environ["AWS_BEARER_TOKEN_BEDROCK"] = token
for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
    os.environ.pop(name, None)
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def client():
    return boto3.client("bedrock-runtime", region_name="us-west-2", endpoint_url=base,
                        config=Config(retries={"max_attempts": 1, "mode": "standard"}))


c = client()
seen = {}
r = c.converse(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "hello from boto3"}]}],
               system=[{"text": "Be brief."}], inferenceConfig={"maxTokens": 100})
seen["converse"] = {"text": r["output"]["message"]["content"][0]["text"], "stop": r["stopReason"],
                    "usage": r["usage"]}

s = c.converse_stream(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "stream from boto3"}]}])
pieces, stop, usage = [], None, None
for event in s["stream"]:
    if "contentBlockDelta" in event:
        pieces.append(event["contentBlockDelta"]["delta"]["text"])
    if "messageStop" in event:
        stop = event["messageStop"]["stopReason"]
    if "metadata" in event:
        usage = event["metadata"]["usage"]
seen["converse_stream"] = {"text": "".join(pieces), "stop": stop, "usage": usage}

inv = c.invoke_model(modelId="amazon.titan-text-express-v1",
                     body=json.dumps({"inputText": "hello from invoke_model"}))
seen["invoke"] = json.loads(inv["body"].read())

body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
        "messages": [{"role": "user", "content": "hello from the stream"}]}
out = c.invoke_model_with_response_stream(modelId=HAIKU, body=json.dumps(body))
chunks = [json.loads(e["chunk"]["bytes"]) for e in out["body"] if "chunk" in e]
seen["invoke_stream"] = {"chunks": len(chunks),
                         "text": "".join(ch.get("delta", {}).get("text", "") for ch in chunks)}

try:
    c.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "x"}]}])
    seen["not_allowed"] = None
except ClientError as e:
    seen["not_allowed"] = e.response["Error"]["Code"]

try:
    c.converse(modelId=HAIKU, messages=[{"role": "assistant", "content": [{"text": "x"}]}])
    seen["bedrock_refusal"] = None
except ClientError as e:
    seen["bedrock_refusal"] = e.response["Error"]["Code"]

os.environ["AWS_BEARER_TOKEN_BEDROCK"] = "bpg_not-a-token"
try:
    client().converse(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "x"}]}])
    seen["wrong_token"] = None
except ClientError as e:
    seen["wrong_token"] = e.response["Error"]["Code"]

print(json.dumps(seen))
