#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into fuzz/corpus/<target>/ from the
project's own fixtures and test bodies (run from the repository root; see README.md).
The committed corpora (fuzz/corpus/) started from these seeds and were minimised with
`cargo fuzz cmin` after the long runs."""
import glob, hashlib, json, os, re, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


def raw_strings(paths):
    """Raw string literals (r#"…"#) of the given Rust sources."""
    out = []
    for p in paths:
        text = open(p, encoding="utf-8").read()
        out += re.findall(r'r#"(.*?)"#', text, re.S)
    return out


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def frame(payload):
    return struct.pack("<II", len(payload), crc32c(payload)) + payload


rust = glob.glob(os.path.join(ROOT, "gateway/src/**/*.rs"), recursive=True) + glob.glob(
    os.path.join(ROOT, "switchyard/tests/*.rs")
) + glob.glob(os.path.join(ROOT, "testkit/src/*.rs")) + glob.glob(os.path.join(ROOT, "config/src/**/*.rs"), recursive=True)
strings = raw_strings(rust)
json_bodies = []
for s in strings:
    try:
        v = json.loads(s)
    except ValueError:
        continue
    if isinstance(v, dict):
        json_bodies.append(s)
fixtures = {p: read(p) for p in sorted(glob.glob("gateway/fixtures/*", root_dir=ROOT))}

# scan: chat/completions/messages/embeddings bodies.
for b in json_bodies:
    if '"model"' in b:
        put("scan", b)
put("scan", '{"messages":[{"role":"user","content":"hi \\"model\\""}],"model":"demo","stream":true,"user":"u1"}')
put("scan", '{"model":"a\\u0062c","stream":null,"user":null}')
put("scan", ' \n{"input":["a","b"],"model":"emb"}')

# sse: [n cuts][cuts][stream]
for p, b in fixtures.items():
    if p.endswith(".sse"):
        put("sse", b"\x00" + b)
        put("sse", b"\x03\x10\x80\xf0" + b)
put("sse", b"\x01\x7fevent: message_start\r\ndata: {\"a\":1}\r\n\r\n: comment\n\ndata: x\ndata: y\n\nevent: ping\ndata: {}\n")

# anthropic_convert: Anthropic and OpenAI requests, responses, errors, and streams.
for p, b in fixtures.items():
    if "anthropic" in p or p.endswith(".sse"):
        put("anthropic_convert", b)
for b in json_bodies:
    if any(k in b for k in ('"messages"', '"choices"', '"content"', '"error"')):
        put("anthropic_convert", b)
put("anthropic_convert", '{"type":"error","error":{"type":"overloaded_error","message":"busy"}}')
put("anthropic_convert", '{"error":{"message":"bad key","type":"invalid_request_error"}}')
put("anthropic_convert", 'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"hi","tool_calls":[{"index":0,"id":"t","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\ndata: [DONE]\n\n')

# oip: [method][path]\n[body]
oip_body = fixtures.get("gateway/fixtures/oip_infer_explained.json", b"{}")
infer = b'{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}'
for m, path in [(1, b"/v2/models/g/infer"), (1, b"/v2/models/g/versions/1/infer"), (0, b"/v2"), (0, b"/v2/health/live"),
                (0, b"/v2/health/ready"), (0, b"/v2/models/g"), (0, b"/v2/models/g/ready"), (1, b"/v1/chat/completions"),
                (0, b"/v1/models"), (1, b"/v2/models/a%2Fb/infer"), (2, b"/v2/models/g/infer")]:
    put("oip", bytes([m]) + path + b"\n" + infer)
put("oip", b"\x01/v2/models/g/infer\n" + oip_body)
put("oip", b'\x01/v2/models/g/infer\n{"saliencies":{"predict":{"perFeatureImportance":[{"featureName":"a","score":0.3}]}}}')

# config: every YAML the project ships or tests with.
for p in ["config/src/quickstart.yaml", "deploy/switchyard.example.yaml", "deploy/compose/switchyard.yaml",
          "deploy/docker/switchyard.yaml"]:
    if os.path.exists(os.path.join(ROOT, p)):
        put("config", read(p))
for s in strings:
    if "groups:" in s or "providers:" in s:
        put("config", s)

# spool_frame: [flags][ledger offset u16][segment]
feedback = json.dumps({"f": {"feedback_id": "f1", "request_id": "r1", "timestamp_ms": 1700000000000, "metric": "thumbs_up",
                             "value": 1.0, "tenant": "t", "client": "c"}}).encode()
inference = json.dumps({"i": {
    "request_id": "r1", "client_request_id": "", "timestamp_ms": 1700000000000, "tenant": "t", "client": "c",
    "group": "g", "member": "m", "role": "champion", "provider": "p", "provider_kind": "openai",
    "upstream_model": "gpt", "assignment": "sticky", "sticky_key_hash": 42, "weight": 0.9, "config_version": 3,
    "endpoint": "chat.completions", "stream": True, "status": 200, "error_class": "", "total_us": 1000,
    "upstream_us": 900, "overhead_us": 100, "ttft_us": 500, "input_tokens": 10, "output_tokens": 20,
    "request_body": "{}", "response_body": None,
    "attributions": {"names": ["a", "b"], "values": [0.5, -0.25], "base_value": 0.1, "method": "shap"}}}).encode()
seg = frame(inference) + frame(feedback) + frame(b"")
put("spool_frame", b"\x00\x00\x00" + seg)
put("spool_frame", b"\x01" + struct.pack("<H", len(frame(inference))) + seg)
put("spool_frame", b"\x02\x00\x00" + seg)
put("spool_frame", b"\x04\x00\x00" + seg + b"\x05\x00\x00")
put("spool_frame", b"\x00\x00\x00" + frame(feedback)[:-1] + b"X")

# browser_query: the query strings of the browser's tests and SPEC.
for q in ["group=demo&member=m1&status=5xx&since=1700000000000&until=1800000000000&limit=10",
          "status=502", "status=error&cursor=MTcwMDAwMDAwMDAwMDpyZXEtMQ", "status=ok&limit=0",
          "client_request_id=abc%20def&limit=1000", "cursor=%%%", "since=-1&until=abc", "1700000000000|req-1"]:
    put("browser_query", q)
print("seeds written to", OUT, file=sys.stderr)
