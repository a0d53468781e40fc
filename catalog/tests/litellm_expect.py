"""An independent reading of LiteLLM's catalog file for catalog/tests/litellm_file.rs.

Implements, separately from the Rust importer, the documented rules for which rows map
(catalog/src/litellm.rs and litellm/row.rs) and the expected fields of a few rows, using
Python's own JSON parser with prices read as exact decimals. Prints one JSON document:
{"rows": [[key, "mapped" | "skipped", reason]], "spot": {key: {field: value}}}.

    python3 litellm_expect.py FILE KEY...
"""
import json
import re
import sys
import unicodedata
from decimal import Decimal

OTHER_MODES = {"image_generation", "image_edit", "video_generation", "audio_transcription",
               "audio_speech", "moderation", "rerank", "search", "ocr", "realtime",
               "responses", "vector_store"}
KINDS = {"chat": "chat", "completion": "completion", "embedding": "embedding"}
PROVIDER = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")
THRESHOLD = re.compile(r"(input|output)_cost_per_token_above_[0-9]+k_tokens")
MODALITIES = {"text", "image", "audio", "video", "code", "embedding"}
BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
INVISIBLE = set("\u200b\u200c\u200d\u2060\ufeff")


def name_ok(name):
    if not 1 <= len(name) <= 256:
        return False
    for c in name:
        if c.isspace() or unicodedata.category(c) == "Cc" or c in BIDI or c in INVISIBLE or c in "?#%\\":
            return False
    return all(seg not in ("", ".", "..") for seg in name.split("/"))


def verdict(key, row):
    """(id or None, reason) for one row, before duplicates are resolved."""
    if not isinstance(row, dict):
        return None, "not-an-object"
    if key == "sample_spec":
        return None, "sample-spec"
    provider = row.get("litellm_provider")
    if not isinstance(provider, str) or not PROVIDER.fullmatch(provider):
        return None, "provider"
    mode = row.get("mode")
    if not isinstance(mode, str) or (mode not in KINDS and mode not in OTHER_MODES):
        return None, "mode"
    name = key[len(provider) + 1:] if key.startswith(provider + "/") else key
    if not name_ok(name):
        return None, "name"
    flat = row.get("input_cost_per_token") is not None or row.get("output_cost_per_token") is not None
    if row.get("tiered_pricing") is not None and not flat:
        return None, "tiered-only"
    return provider + "/" + name, ""


def count(v):
    if isinstance(v, bool) or not isinstance(v, (int, Decimal)):
        return None
    d = Decimal(v)
    return int(d) if d == d.to_integral_value() and d > 0 else None


def per_mtok(v):
    if v is None:
        return None
    return format((Decimal(v) * 1000000).normalize(), "f")


def expected(key, row):
    provider = row["litellm_provider"]
    mode = row["mode"]
    tiered = any(THRESHOLD.fullmatch(k) and row[k] is not None for k in row)
    has_price = row.get("input_cost_per_token") is not None or row.get("output_cost_per_token") is not None
    pricing = None
    if has_price and not tiered:
        pricing = {"input_per_mtok": per_mtok(row.get("input_cost_per_token")),
                   "output_per_mtok": per_mtok(row.get("output_cost_per_token")), "currency": "USD"}

    def mods(k):
        v = row.get(k)
        return v if isinstance(v, list) and set(v) <= MODALITIES else None

    flag = lambda k: row.get(k) if isinstance(row.get(k), bool) else None
    name = key[len(provider) + 1:] if key.startswith(provider + "/") else key
    return {
        "id": provider + "/" + name, "provider": provider, "name": name,
        "kind": KINDS.get(mode, "other"),
        "max_input_tokens": count(row.get("max_input_tokens")),
        "max_output_tokens": count(row.get("max_output_tokens")),
        "context_tokens": None, "pricing": pricing,
        "tools": flag("supports_function_calling"), "streaming": flag("supports_native_streaming"),
        "json_mode": True if row.get("supports_response_schema") is True else None,
        "input": mods("supported_modalities"), "output": mods("supported_output_modalities"),
    }


class Pairs(list):
    """A JSON object's members in file order (object_pairs_hook)."""


def main():
    path, spot_keys = sys.argv[1], sys.argv[2:]
    with open(path, "rb") as f:
        pairs = json.loads(f.read(), object_pairs_hook=Pairs, parse_float=Decimal)
    verdicts = [(k, *verdict(k, dict(v) if isinstance(v, Pairs) else v)) for k, v in pairs]
    # Duplicates: a provider-qualified key (key == id) wins, else the first in the file.
    keeper = {}
    for i, (key, eid, _) in enumerate(verdicts):
        if eid is None:
            continue
        if eid not in keeper or (key == eid and verdicts[keeper[eid]][0] != eid):
            keeper[eid] = i
    rows = []
    for i, (key, eid, reason) in enumerate(verdicts):
        if eid is not None and keeper[eid] != i:
            eid, reason = None, "duplicate"
        rows.append([key, "mapped" if eid else "skipped", reason])
    file = dict(pairs)
    spot = {k: expected(k, dict(file[k])) for k in spot_keys}
    json.dump({"rows": rows, "spot": spot}, sys.stdout)


main()
