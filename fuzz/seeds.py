#!/usr/bin/env python3
"""Writes the seed inputs of each fuzz target into fuzz/corpus/<target>/seed-*.

Seeds come from the protocol captures in ../shared/spec/frames/ (when present), the
example configs, and small hand-made cases of each format. The fuzzers grow the
corpora from here; what they find is committed next to the seeds.
  python3 fuzz/seeds.py
"""
import hashlib
import json
import pathlib

root = pathlib.Path(__file__).resolve().parent
repo = root.parent
corpus = root / "corpus"


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    (d / ("seed-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)


# frame: every client->server frame of the captured sessions, plus edge cases.
frames = repo.parent / "shared" / "spec" / "frames"
for f in sorted(frames.glob("*.json")) if frames.is_dir() else []:
    doc = json.loads(f.read_text())
    for fr in doc.get("frames", []) if isinstance(doc, dict) else doc:
        if fr.get("dir") == "client->server" and "frame" in fr:
            put("frame", json.dumps(fr["frame"]))
for s in [
    '{"type":"req","id":"1","method":"health"}',
    '{"type":"req","id":"2","method":"connect","params":{"minProtocol":3,"maxProtocol":3,'
    '"client":{"id":"cli","version":"1","platform":"linux","mode":"cli"},"auth":{"token":"t"}}}',
    '{"type":"req","id":"3","method":"config.set","params":{"raw":"{}"}}',
    '{"type":"event","id":"","method":7,"extra":null}',
    "[]", "nope", '{"type":"req","id":"\\u00e9","method":"agent.wait","params":{"runId":"x"}}',
]:
    put("frame", s)

# config: the examples, and includes across the fuzzer's files (main\0a\0b\0c\0env).
for f in sorted((repo / "examples").glob("*.json*")):
    put("config", f.read_text())
put("config", '{ $include: "a.json5", gateway: { port: 18789 } }\0{ agents: { defaults: { model: "${MODEL}" } } }\0\0\0MODEL=anthropic/claude')
put("config", '{ $include: ["a.json5", "b.json5"] }\0{ $include: "sub/c.json5" }\0{ x: [1] }\0{ $include: "../a.json5" }\0')
put("config", '// c\n{ env: { vars: { K: "v" } }, channels: { telegram: { botToken: "${K}", }, }, }')
put("config", "{ a: 'x', b: +Infinity, c: 0x1F, d: .5, 'e': [,], }")

# telegram: getUpdates answers \0 inbox file \0 offset file.
upd = {"ok": True, "result": [
    {"update_id": 10, "message": {"message_id": 1, "text": "hi @MyBot", "chat": {"id": 5, "type": "private"},
                                  "from": {"id": 12345, "username": "ann", "first_name": "Ann"}}},
    {"update_id": 11, "message": {"message_id": 2, "caption": "pic", "chat": {"id": -7, "type": "supergroup", "title": "G"},
                                  "from": {"id": 9}, "reply_to_message": {"from": {"id": 1}}}}]}
put("telegram", json.dumps(upd) + "\0" + json.dumps({"version": 1, "updates": [upd["result"][0]], "lastUpdateId": 10}) + "\0" + json.dumps({"version": 1, "lastUpdateId": 9}))
put("telegram", '{"ok":false,"error_code":409,"description":"Conflict: terminated by other getUpdates request"}')
put("telegram", "\x01<html>502 Bad Gateway</html>")
put("telegram", '{"ok":true,"result":[{"update_id":9223372036854775807,"message":{"text":"x","chat":{"id":1}}}]}\0{"version":1,"updates":[],"lastUpdateId":9223372036854775806}')

# discord: section \0 MESSAGE_CREATE \0 target \0 inbox file.
dmsg = {"id": "5000000000000000001", "channel_id": "3200000000000000001", "guild_id": "3100000000000000001", "type": 0,
        "content": "<@1100000000000000001> hello", "author": {"id": "4100000000000000001", "username": "ann", "global_name": "Ann"},
        "mentions": [{"id": "1100000000000000001"}]}
put("discord", json.dumps({"guilds": {"3100000000000000001": {"requireMention": True, "users": ["ann"], "channels": {"*": {"allow": True}}}}}) + "\0" + json.dumps(dmsg) + "\0channel:3200000000000000001\0" + json.dumps({"version": 1, "updates": [dmsg], "lastUpdateId": 5000000000000000001, "recent": [5000000000000000001]}))
put("discord", json.dumps({"dm": {"policy": "allowlist", "allowFrom": ["user:4100000000000000001", "<@!4100000000000000001>"]}}) + "\0" + json.dumps({**dmsg, "guild_id": None, "type": 19, "referenced_message": {"author": {"id": "1100000000000000001"}}}) + "\0<@!4100000000000000001>")
put("discord", "{}\0" + json.dumps({**dmsg, "id": "../../x"}) + "\0channel:../x\0{\"recent\": [1, \"x\"]}")

# sse: 8 bytes of chunk sizes, then a stream of each provider.
def sse(events):
    return "".join(f"event: {n}\ndata: {json.dumps(d)}\n\n" if n else f"data: {d if isinstance(d, str) else json.dumps(d)}\n\n" for n, d in events)
put("sse", "\x03\x07\x01\x40\x02\x09\x05\x11" + sse([
    ("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 3}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
    ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t1", "name": "exec"}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"command\":"}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"ls\"}"}}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
    ("message_stop", {"type": "message_stop"})]))
put("sse", "\x10\x10\x10\x10\x10\x10\x10\x10" + sse([
    (None, {"choices": [{"delta": {"content": "Hel"}}]}),
    (None, {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{}"}}]}, "finish_reason": "tool_calls"}]}),
    (None, {"usage": {"prompt_tokens": 1, "completion_tokens": 2}, "choices": []}),
    (None, "[DONE]")]))
put("sse", "\x00\x00\x00\x00\x00\x00\x00\x00: ping\r\n\r\nevent: error\r\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\r\n\r\n")

# markdown: one byte of chunk limit, then a reply.
for md in [
    "# Title\nSome **bold**, *it*, _it_, __b__, ~~s~~, `code` and [a link](https://example.com/a_(b)).",
    "```rust\nfn main() {\n    println!(\"<&>\");\n}\n```\nafter",
    "para one\n\npara two " + "word " * 300 + "\n```\n" + "x\n" * 400 + "```",
    "\\*x\\* [t](javascript:alert(1)) <b>raw</b> & ** ** _ _ [x](",
]:
    put("markdown", "\x00" + md)
    put("markdown", "\xff" + md)
