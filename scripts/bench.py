#!/usr/bin/env python3
"""Benchmarks invoke against the alternatives, on one machine, in one run.

Started by scripts/bench, which builds the release binaries and installs the
AWS CLI and boto3 in a virtual environment. Every contender talks to the
same local emulator: access keys assume a cross-account role, then a
ConverseStream (Converse for the AWS CLI) goes through the emulator as the
VPC endpoint. Each figure is a median over repeated runs, with min and max.

The main table is over HTTPS (the emulator in --tls mode, every contender
trusting its CA), because AWS is always HTTPS: a TLS handshake and its
first randomness are part of every real call. A second table repeats the
cold and warm calls over plain HTTP. Writes target/bench/results.json and
target/bench/results.md.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
OUT = os.path.join(ROOT, "target", "bench")
VENV_BIN = os.path.join(OUT, "venv", "bin")

AK, SK = "AKIA1111DEMOUSER0001", "demo+user+secret/for+the+local+emulator1"
ROLE = "arn:aws:iam::222222222222:role/BedrockCrossAccount"
EXTERNAL_ID = "workshop-demo-external-id"
MODEL = "amazon.titan-text-express-v1"
REGION = "us-west-2"
RUNS = int(os.environ.get("BENCH_RUNS", "20"))
SLOW_RUNS = int(os.environ.get("BENCH_SLOW_RUNS", "5"))


def start_emulator(tls, *args):
    """Starts the emulator; returns (process, URL, record file, CA file or None)."""
    record = tempfile.NamedTemporaryFile(prefix="bench-record-", suffix=".jsonl", delete=False).name
    ca = None
    if tls:
        ca = tempfile.NamedTemporaryFile(prefix="bench-ca-", suffix=".pem", delete=False).name
        args = ("--tls", "--ca-out", ca, *args)
    proc = subprocess.Popen([os.path.join(BIN, "bedrock-emulator"), "--record", record, *args],
                            stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    return proc, url, record, ca


def run(cmd, env=None):
    """Runs cmd; returns (wall seconds, peak RSS in KiB, stdout bytes, time of first stdout byte in ns).

    Peak memory comes from GNU time, a small parent: the RSS that wait4()
    reports for a child of this Python process would include the memory of
    the forked Python itself, before exec.
    """
    rss_file = tempfile.NamedTemporaryFile(prefix="bench-rss-", delete=False).name
    start = time.perf_counter()
    proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss_file, *cmd], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = bytearray()
    first = None
    while True:
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        if first is None:
            first = time.time_ns()
        out.extend(chunk)
    err = proc.stderr.read()
    status = proc.wait()
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{cmd[0]} failed: {err.decode(errors='replace')[-800:]}")
    with open(rss_file) as f:
        rss = int(f.read().strip().splitlines()[-1])
    os.remove(rss_file)
    return wall, rss, bytes(out), first


def stats(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def base_env(home):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": home, "LANG": "C.UTF-8"}
    return env


WRITTEN = []


def write_config(url, home, ca=None):
    plain = os.path.join(home, "plain.properties")
    with open(plain, "w") as f:
        f.write(f"""[default]
UseVPCe = true
GetCredentialsFrom = 2
Region = {REGION}
AccessKey = {AK}
SecretKey = {SK}
AssumeRoleARN = {ROLE}
ExternalId = {EXTERNAL_ID}
VPCEndpointURL = {url}
STSEndpointURL = {url}
ModelID = {MODEL}
""" + (f"CABundle = {ca}\n" if ca else ""))
    # A new name each time: a config resealed with another key at a path
    # seen before is refused, as a replaced file should be.
    WRITTEN.append(url)
    config = os.path.join(home, f"config-{len(WRITTEN)}.properties")
    subprocess.run([os.path.join(BIN, "encrypt-config"), plain, "-o", config, "--force"],
                   check=True, capture_output=True)
    os.remove(plain)
    return config


def invoke_cold(config, env):
    return run([os.path.join(BIN, "invoke"), "--config", config, "--no-cache", "--prompt", "hello"], env)


def curl_pair(url, env, ca=None):
    t1, r1, xml, _ = run(["curl", "-s", *cacert(ca), "--aws-sigv4", f"aws:amz:{REGION}:sts", "-u", f"{AK}:{SK}",
                          "-d", f"Action=AssumeRole&Version=2011-06-15&RoleArn={ROLE}"
                                f"&RoleSessionName=bench&ExternalId={EXTERNAL_ID}", url + "/"], env)
    text = xml.decode()
    field = lambda name: re.search(f"<{name}>(.*?)</{name}>", text).group(1)
    t2, r2, _, _ = curl_converse(url, env, field("AccessKeyId"), field("SecretAccessKey"),
                                 field("SessionToken"), ca)
    return t1 + t2, max(r1, r2), t2


def cacert(ca):
    return ["--cacert", ca] if ca else []


def curl_converse(url, env, ak, sk, token, ca=None):
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hello"}]}]})
    return run(["curl", "-s", *cacert(ca), "--aws-sigv4", f"aws:amz:{REGION}:bedrock", "-u", f"{ak}:{sk}",
                "-H", f"x-amz-security-token: {token}", "-H", "content-type: application/json",
                "-d", body, f"{url}/model/{MODEL}/converse-stream"], env)


def aws_cli_pair(url, env, ca=None):
    aws = os.path.join(VENV_BIN, "aws")
    if ca:
        env = dict(env, AWS_CA_BUNDLE=ca)
    e = dict(env, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION=REGION)
    t1, r1, out, _ = run([aws, "sts", "assume-role", "--endpoint-url", url, "--role-arn", ROLE,
                          "--role-session-name", "bench", "--external-id", EXTERNAL_ID, "--output", "json"], e)
    c = json.loads(out)["Credentials"]
    e2 = dict(env, AWS_ACCESS_KEY_ID=c["AccessKeyId"], AWS_SECRET_ACCESS_KEY=c["SecretAccessKey"],
              AWS_SESSION_TOKEN=c["SessionToken"], AWS_DEFAULT_REGION=REGION)
    t2, r2, _, _ = run([aws, "bedrock-runtime", "converse", "--endpoint-url", url, "--model-id", MODEL,
                        "--messages", json.dumps([{"role": "user", "content": [{"text": "hello"}]}])], e2)
    return t1 + t2, max(r1, r2)


BOTO3_SCRIPT = """
import sys, boto3
url = sys.argv[1]
sts = boto3.client("sts", region_name="%(region)s", endpoint_url=url,
                   aws_access_key_id="%(ak)s", aws_secret_access_key="%(sk)s")
c = sts.assume_role(RoleArn="%(role)s", RoleSessionName="bench", ExternalId="%(ext)s")["Credentials"]
br = boto3.client("bedrock-runtime", region_name="%(region)s", endpoint_url=url,
                  aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                  aws_session_token=c["SessionToken"])
r = br.converse_stream(modelId="%(model)s", messages=[{"role": "user", "content": [{"text": "hello"}]}])
for e in r["stream"]:
    d = e.get("contentBlockDelta")
    if d:
        sys.stdout.write(d["delta"]["text"])
print()
""" % {"region": REGION, "ak": AK, "sk": SK, "role": ROLE, "ext": EXTERNAL_ID, "model": MODEL}


def boto3_script(url, env, ca=None):
    if ca:
        env = dict(env, AWS_CA_BUNDLE=ca)
    t, r, _, _ = run([os.path.join(VENV_BIN, "python"), "-c", BOTO3_SCRIPT, url], env)
    return t, r


def cold_and_warm(tls, home, results, slow=True):
    """Cold calls of every contender, peak memory, and the warm call."""
    env = base_env(home)
    emu, url, record, ca = start_emulator(tls)
    try:
        config = write_config(url, home, ca)
        for _ in range(3):  # warm the page cache
            invoke_cold(config, env)
        cold = {"invoke": ([], []), "curl": ([], []), "aws-cli": ([], []), "boto3": ([], [])}
        single_curl = []
        # The contenders take turns, and the slow ones' runs are spread over
        # the rounds, so that every median comes from the same stretch of
        # time: this shared machine's speed drifts within minutes, and a
        # ratio of two figures taken minutes apart measured the drift.
        slow = slow and os.path.exists(os.path.join(VENV_BIN, "aws"))
        rounds = max(RUNS, SLOW_RUNS if slow else 0)
        spread = lambda n: {int((k + 0.5) * rounds / n) for k in range(n)}
        fast_rounds, slow_rounds = spread(RUNS), (spread(SLOW_RUNS) if slow else set())
        for i in range(rounds):
            if i in fast_rounds:
                t, rss, out, _ = invoke_cold(config, env)
                assert b"Reply from" in out, out
                cold["invoke"][0].append(t); cold["invoke"][1].append(rss)
                t, rss, t_bedrock = curl_pair(url, env, ca)
                cold["curl"][0].append(t); cold["curl"][1].append(rss); single_curl.append(t_bedrock)
            if i in slow_rounds:
                t, rss = aws_cli_pair(url, env, ca)
                cold["aws-cli"][0].append(t); cold["aws-cli"][1].append(rss)
                t, rss = boto3_script(url, env, ca)
                cold["boto3"][0].append(t); cold["boto3"][1].append(rss)
        results["cold_call_s"] = {k: stats(v[0]) for k, v in cold.items() if v[0]}
        results["peak_rss_kib"] = {k: stats(v[1]) for k, v in cold.items() if v[1]}
        results["single_curl_request_s"] = stats(single_curl)

        # Warm call: the credential cache skips STS.
        cache_env = dict(env, BEDROCK_PRIVATE_CACHE_DIR=os.path.join(home, "cache-" + ("tls" if tls else "plain")))
        invoke_args = [os.path.join(BIN, "invoke"), "--config", config, "--prompt", "hello"]
        run(invoke_args, cache_env)
        before = count_ops(record, "AssumeRole")
        warm = [run(invoke_args, cache_env)[0] for _ in range(RUNS)]
        results["warm_call_s"] = stats(warm)
        results["warm_call_sts_calls"] = count_ops(record, "AssumeRole") - before

        if tls:
            # Client cost under load, over one client's kept-alive connections.
            load = {}
            for c in (1, 8, 64):
                _, _, out, _ = run([os.path.join(BIN, "invoke"), "check", "--config", config, "--no-invoke",
                                    "--repeat", "2000", "--concurrency", str(c), "--output", "json"], env)
                step = next(s for s in json.loads(out)["steps"] if s["step"] == "load")
                d = step["details"]
                load[str(c)] = {"cpu_us_per_request": d["client_cpu_us_per_request"],
                                "requests_per_second": d["requests_per_second"], "latency_ms": d["latency_ms"],
                                "errors": d["errors"]}
            results["load"] = load
    finally:
        emu.terminate(); emu.wait()

    if tls:
        # Time to first token, with the emulator delaying its first byte.
        emu, url, record, ca = start_emulator(tls, "--first-byte-delay-ms", "100")
        try:
            config = write_config(url, home, ca)
            gaps = []
            for _ in range(RUNS):
                _, _, out, first = run([os.path.join(BIN, "invoke"), "--config", config, "--no-cache",
                                        "--prompt", "hello"], env)
                entries = json.load(urllib.request.urlopen(url + "/__emulator/requests", context=ssl_context(ca)))
                sent = [e for e in entries if e["service"] == "bedrock"][-1]["first_event_us"]
                gaps.append((first / 1000 - sent) / 1000)
            results["ttft_added_ms"] = stats(gaps)
        finally:
            emu.terminate(); emu.wait()


def ssl_context(ca):
    import ssl
    return ssl.create_default_context(cafile=ca) if ca else None


def main():
    os.makedirs(OUT, exist_ok=True)
    results = {"machine": {"cpus": os.cpu_count(), "kernel": os.uname().release}, "runs": RUNS,
               "invoke_binary_bytes": os.path.getsize(os.path.join(BIN, "invoke"))}
    build = os.path.join(OUT, "build-seconds")
    if os.path.exists(build):
        with open(build) as f:
            results["clean_release_build_s"] = float(f.read().strip())
    home = tempfile.mkdtemp(prefix="bench-home-")
    results["https"] = {}
    cold_and_warm(True, home, results["https"])
    results["http"] = {}
    cold_and_warm(False, home, results["http"], slow=False)

    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    table = render(results)
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write(table)
    print(table)


def count_ops(record, op):
    return sum(1 for l in open(record) if f'"operation":"{op}"' in l)


def render(results):
    r = results["https"]
    lines = ["## HTTPS (the emulator in --tls mode; every contender trusts its CA)", ""]
    lines += cold_table(r)
    w, s = r["warm_call_s"], r["single_curl_request_s"]
    lines += ["", "| other figures | median | min | max |", "|---|---|---|---|",
              f"| warm call, credential cache (ms; STS calls made: {r['warm_call_sts_calls']}) | {w['median']*1000:.1f} | {w['min']*1000:.1f} | {w['max']*1000:.1f} |",
              f"| one curl request, the warm floor (ms) | {s['median']*1000:.1f} | {s['min']*1000:.1f} | {s['max']*1000:.1f} |",
              f"| warm call / one curl request | {w['median']/s['median']:.2f} | | |",
              f"| time to first token added by invoke (ms) | {r['ttft_added_ms']['median']:.3f} | {r['ttft_added_ms']['min']:.3f} | {r['ttft_added_ms']['max']:.3f} |",
              "", "| load mode, 2000 calls | CPU us/request | req/s | p50 ms | p90 ms | p99 ms | max ms |",
              "|---|---|---|---|---|---|---|"]
    for c, d in r["load"].items():
        l = d["latency_ms"]
        lines.append(f"| concurrency {c} | {d['cpu_us_per_request']:.0f} | {d['requests_per_second']:.0f} | "
                     f"{l['p50']:.2f} | {l['p90']:.2f} | {l['p99']:.2f} | {l['max']:.2f} |")
    p = results["http"]
    pw, ps = p["warm_call_s"], p["single_curl_request_s"]
    lines += ["", "## Plain HTTP", ""] + cold_table(p)
    lines += ["", f"Warm call {pw['median']*1000:.1f} ms against {ps['median']*1000:.1f} ms for one curl request "
                  f"({pw['median']/ps['median']:.2f}x; STS calls made: {p['warm_call_sts_calls']})."]
    lines += ["", "## Against the targets (HTTPS)", "", "| target | measured | |", "|---|---|---|"]
    cold = r["cold_call_s"]
    inv = cold["invoke"]["median"]
    check = lambda ok: "holds" if ok else "**missed**"
    ratio = inv / cold["curl"]["median"]
    lines.append(f"| cold call at most 0.5x the curl pair | {ratio:.2f}x | {check(ratio <= 0.5)} |")
    wr = w["median"] / s["median"]
    lines.append(f"| warm call at most 1.0x one curl request, no STS call | {wr:.2f}x, {r['warm_call_sts_calls']} STS calls | "
                 f"{check(wr <= 1.0 and r['warm_call_sts_calls'] == 0)} |")
    for k, name in (("aws-cli", "AWS CLI"), ("boto3", "boto3")):
        if k in cold:
            x = cold[k]["median"] / inv
            lines.append(f"| at least 30x faster than the {name} | {x:.0f}x | {check(x >= 30)} |")
    rss = r["peak_rss_kib"]["invoke"]["median"] / 1024
    lines.append(f"| peak RSS at most 14 MiB for a cold call | {rss:.1f} MiB | {check(rss <= 14)} |")
    cpu = r["load"]["64"]["cpu_us_per_request"]
    lines.append(f"| at most 50 us client CPU per request at concurrency 64 | {cpu:.0f} us | {check(cpu <= 50)} |")
    if "clean_release_build_s" in results:
        b = results["clean_release_build_s"]
        lines.append(f"| clean release build at most 3 minutes | {b/60:.1f} min | {check(b <= 180)} |")
    size = results["invoke_binary_bytes"] / (1024 * 1024)
    lines.append(f"| release `invoke` binary size (reported) | {size:.1f} MiB | |")
    return "\n".join(lines) + "\n"


def cold_table(r):
    inv = r["cold_call_s"]["invoke"]["median"]
    lines = ["| cold call (AssumeRole + ConverseStream) | median ms | min ms | max ms | ratio to invoke | peak RSS MiB |",
             "|---|---|---|---|---|---|"]
    names = {"invoke": "invoke", "curl": "curl --aws-sigv4 (floor: the two requests)",
             "aws-cli": "AWS CLI (assume-role, then converse)", "boto3": "Python boto3 script"}
    for k, v in r["cold_call_s"].items():
        rss = r["peak_rss_kib"][k]["median"] / 1024
        lines.append(f"| {names[k]} | {v['median']*1000:.1f} | {v['min']*1000:.1f} | {v['max']*1000:.1f} | "
                     f"{v['median']/inv:.2f} | {rss:.1f} |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
