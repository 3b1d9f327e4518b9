#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/<target>/ (committed; run again after
changing this file). Valid inputs as the real peers send them, and known-bad ones,
including every input of the 2026-12-07 review that reached a parser."""
import hashlib
import hmac
import json
import os
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent
CORPUS = ROOT / "corpus"
REPO = ROOT.parent.parent
SEEDS = {}


def seed(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    SEEDS.setdefault(target, {})[name] = data


def chat(text="hi", **extra):
    body = {"messages": [{"role": "user", "content": text}]}
    body.update(extra)
    return json.dumps(body)


# --- http_server: raw requests ------------------------------------------------------
H = "Host: localhost\r\n"
body = chat()
seed("http_server", "get_healthz", f"GET /healthz HTTP/1.1\r\n{H}\r\n")
seed("http_server", "post_content_length",
     f"POST /v1/chat/completions HTTP/1.1\r\n{H}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}")
seed("http_server", "post_chunked_trailer",
     f"POST /hooks/a HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n")
seed("http_server", "pipelined",
     f"GET /healthz HTTP/1.1\r\n{H}\r\nPOST /stream HTTP/1.1\r\n{H}Content-Length: 2\r\n\r\nhiGET /nope HTTP/1.1\r\n{H}\r\n")
seed("http_server", "expect_continue",
     f"POST /hooks/x HTTP/1.1\r\n{H}Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc")
seed("http_server", "http10_head", "HEAD /healthz HTTP/1.0\r\n\r\n")
seed("http_server", "method_not_allowed", f"DELETE /healthz HTTP/1.1\r\n{H}\r\n")
seed("http_server", "websocket_upgrade",
     f"GET /ws HTTP/1.1\r\n{H}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
     "Sec-WebSocket-Version: 13\r\n\r\n\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58")
seed("http_server", "ws_without_upgrade", f"GET /ws HTTP/1.1\r\n{H}\r\n")
seed("http_server", "host_not_allowed", "GET /healthz HTTP/1.1\r\nHost: evil.example\r\n\r\n")
seed("http_server", "obs_fold", f"GET /healthz HTTP/1.1\r\n{H}X-A: a\r\n b\r\n\r\n")
# The review: C1 (a 64 KiB trailer field), H1 (chunk extensions, trailers), M2 (smuggling),
# L1 (invalid UTF-8 target), L4 (chunk sizes beyond 64 bits, negative).
seed("http_server", "review_c1_trailer_64k",
     f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + "a" * 65536 + "\r\n\r\n")
seed("http_server", "review_c1_healthz_trailer",
     f"GET /healthz HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n0\r\nX: " + "a" * 65534 + "\r\n\r\n")
seed("http_server", "review_h1_chunk_extension",
     f"POST /hooks/e HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n5;e=" + "e" * 20000 + "\r\nhello\r\n0\r\n\r\n")
seed("http_server", "review_h1_many_trailers",
     f"POST /hooks/t HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n" + "X-T: aaaa\r\n" * 2000 + "\r\n")
seed("http_server", "review_m2_xchunked",
     f"POST /v1/chat/completions HTTP/1.1\r\n{H}Transfer-Encoding: xchunked\r\nContent-Length: {len(body)}\r\n\r\n{body}")
seed("http_server", "review_m2_chunked_identity",
     f"POST /v1/chat/completions HTTP/1.1\r\n{H}Transfer-Encoding: chunked, identity\r\nContent-Length: 46\r\n\r\n{body}"
     f"GET /healthz HTTP/1.1\r\n{H}\r\n")
seed("http_server", "review_m2_te_and_cl",
     f"POST /hooks/s HTTP/1.1\r\n{H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
seed("http_server", "review_l1_invalid_utf8", b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n")
seed("http_server", "review_l4_chunk_overflow",
     f"POST /hooks/o HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n0\r\n\r\n")
seed("http_server", "review_l4_chunk_negative",
     f"POST /hooks/n HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n-5\r\nabc\r\n0\r\n\r\n")
seed("http_server", "review_l3_half_close", f"POST /v1/chat/completions HTTP/1.1\r\n{H}Content-Length: {len(body)}\r\n\r\n{body}")
seed("http_server", "too_large_declared", f"POST /hooks/big HTTP/1.1\r\n{H}Content-Length: 99999999\r\n\r\nabc")


# --- WebSocket frames ---------------------------------------------------------------
def frame(opcode, payload, fin=True, mask=True):
    if isinstance(payload, str):
        payload = payload.encode()
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", first, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, m | 126, n)
    else:
        head = struct.pack("!BBQ", first, m | 127, n)
    if not mask:
        return head + payload
    key = b"\x37\xfa\x21\x3d"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


for target, masked in (("websocket_server", True), ("websocket_client", False)):
    cdp = json.dumps({"id": 1, "method": "Page.navigate", "params": {"url": "https://intranet.corp.example/"}})
    event = json.dumps({"method": "Page.loadEventFired", "params": {"timestamp": 1.5}, "sessionId": "AB12"})
    seed(target, "text", frame(1, cdp, mask=masked))
    seed(target, "event_with_session", frame(1, event, mask=masked))
    seed(target, "ping_pong_close", frame(9, "p", mask=masked) + frame(10, "", mask=masked) +
         frame(8, struct.pack("!H", 1000) + b"bye", mask=masked))
    seed(target, "fragmented", frame(1, '{"id":2,', fin=False, mask=masked) + frame(9, "", mask=masked) +
         frame(0, '"result":{}}', mask=masked))
    seed(target, "binary", frame(2, b"\x00\x01\x02", mask=masked))
    seed(target, "too_big_declared", struct.pack("!BBQ", 0x81, (0x80 if masked else 0) | 127, 1 << 40))
    seed(target, "bad_close_code", frame(8, struct.pack("!H", 999), mask=masked))
    seed(target, "invalid_utf8_text", frame(1, b"\xff\xfe", mask=masked))
    seed(target, "unmasked_for_server" if masked else "masked_for_client", frame(1, "x", mask=not masked))

# --- http_client: raw responses (first byte: 0 whole, 1 streamed) --------------------------
def response(mode, raw):
    return bytes([mode]) + (raw.encode() if isinstance(raw, str) else raw)


answer = json.dumps({"choices": [{"message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 3, "completion_tokens": 1}})
sse_body = "".join("data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": w}}]}) + "\n\n"
                   for w in ("Hel", "lo")) + "data: [DONE]\n\n"
chunked_sse = f"{len(sse_body):x}\r\n{sse_body}\r\n0\r\n\r\n"
seed("http_client", "whole_json",
     response(0, f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(answer)}\r\n\r\n{answer}"))
seed("http_client", "streamed_sse_chunked",
     response(1, f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n{chunked_sse}"))
seed("http_client", "streamed_until_close", response(1, f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n{sse_body}"))
seed("http_client", "rate_limited",
     response(0, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 2\r\n\r\n{}"))
seed("http_client", "continue_then_ok", response(0, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
seed("http_client", "bad_status_line", response(0, "HTTP/9 xx\r\n\r\n"))
seed("http_client", "truncated_body", response(0, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"))
seed("http_client", "review_c1_trailer_70000",
     response(0, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Evil: " + "a" * 70000 + "\r\n\r\n"))
seed("http_client", "huge_declared_body", response(0, "HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\nabc"))

# --- backend_stream: the event stream after the head (first byte: 0 openai, 1 anthropic) --
tool_sse = "".join("data: " + json.dumps(c) + "\n\n" for c in [
    {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                        "function": {"name": "get_weather", "arguments": ""}}]}}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":\"Oslo\"}"}}]}}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 5, "completion_tokens": 7}},
]) + "data: [DONE]\n\n"
seed("backend_stream", "openai_text", b"\x00" + sse_body.encode())
seed("backend_stream", "openai_tool_call", b"\x00" + tool_sse.encode())
seed("backend_stream", "openai_error_midstream", b"\x00" + ('data: {"choices":[{"delta":{"content":"a"}}]}\n\n'
                                                            'data: {"error":{"message":"overloaded"}}\n\n').encode())


def anthropic_events(events):
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


anthropic_text = anthropic_events([
    {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
                                          "model": "claude", "usage": {"input_tokens": 9, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1,
     "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"Oslo\"}"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 12}},
    {"type": "message_stop"},
])
seed("backend_stream", "anthropic_text_and_tool", b"\x01" + anthropic_text.encode())
seed("backend_stream", "anthropic_error", b"\x01" + anthropic_events([
    {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 1}}},
    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}]).encode())

# --- sse ---------------------------------------------------------------------------------
seed("sse", "split_crlf", b"\x05" + b"event: a\r\ndata: x\r\n\r\n")
seed("sse", "bom_retry_id", b"\x02" + "\ufeffid: 7\nretry: 1500\ndata: a\ndata: b\n\n: comment\n\n".encode())
seed("sse", "cr_only", b"\x01" + b"data: one\rdata: two\r\r")
seed("sse", "openai", b"\x10" + sse_body.encode())

# --- openai_chunk and api_request ------------------------------------------------------------
seed("openai_chunk", "delta", json.dumps({"id": "c", "object": "chat.completion.chunk",
                                          "choices": [{"index": 0, "delta": {"content": "Hi"}}]}))
seed("openai_chunk", "answer", answer)
seed("openai_chunk", "tool_delta", tool_sse.split("\n\n")[0][6:])
seed("openai_chunk", "n_choices", json.dumps({"choices": [{"index": 1, "delta": {"content": "b"}},
                                                          {"index": 0, "delta": {"content": "a"}}]}))
seed("openai_chunk", "error_string", '{"error":"bad things"}')
seed("openai_chunk", "usage_cached", json.dumps({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2,
                                                                          "prompt_tokens_details": {"cached_tokens": 1}}}))

api = {
    "plain": chat("hello", model="assistant", stream=True, stream_options={"include_usage": True}, user="ada",
                  max_tokens=64, temperature=0.25),
    "tools": json.dumps({"model": "a", "messages": [
        {"role": "system", "content": "terse"},
        {"role": "user", "content": [{"type": "text", "text": "weather?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        "tool_choice": "auto", "parallel_tool_calls": False, "response_format": {"type": "json_object"},
        "stop": ["\n\n"], "n": 2}),
    "review_float_max_tokens": '{"max_tokens":1.5,"messages":[{"role":"user","content":"hi"}]}',
    "review_temp_1e999": '{"temperature":1e999,"messages":[{"role":"user","content":"hi"}]}',
    "review_lone_surrogate": '{"messages":[{"role":"user","content":"\\ud800"}]}',
    "review_dup_keys": '{"messages":[{"role":"user","content":"first"}],"messages":[{"role":"user","content":"second"}]}',
    "review_trailing_garbage": '{"messages":[{"role":"user","content":"hi"}]} xyz',
    "review_content_object": '{"messages":[{"role":"user","content":{"a":1}}]}',
    "review_stream_options_bad": '{"stream":true,"stream_options":{"include_usage":"x"},"messages":[{"role":"user","content":"hi"}]}',
    "deep_nesting": '{"messages":' + "[" * 5000 + "]" * 5000 + "}",
}
for name, text in api.items():
    seed("api_request", name, text)
seed("api_request", "review_invalid_utf8", b'{"messages":[{"role":"user","content":"hi \xff\xfe"}]}')
seed("api_request", "review_raw_nul", b'{"messages":[{"role":"user","content":"h\x00i"}]}')
seed("api_request", "review_bom", b'\xef\xbb\xbf{"messages":[{"role":"user","content":"hi"}]}')

# --- signed channels ---------------------------------------------------------------------------
def hex_hmac(key, text):
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


slack_events = {
    "app_mention": {"type": "event_callback", "team_id": "T1", "event_id": "Ev1", "event_time": 1700000000,
                    "event": {"type": "app_mention", "user": "U0ALLOWED", "text": "<@UBOT> hello", "ts": "1700000000.000100",
                              "channel": "C1", "event_ts": "1700000000.000100"}},
    "dm_in_thread": {"type": "event_callback", "event_id": "Ev2",
                     "event": {"type": "message", "channel_type": "im", "user": "U0ALLOWED", "text": "hi",
                               "ts": "1700000001.000200", "thread_ts": "1700000000.000100", "channel": "D1"}},
    "bot_message": {"type": "event_callback", "event": {"type": "message", "subtype": "bot_message", "bot_id": "B1",
                                                        "text": "x", "channel": "C1", "ts": "1.2"}},
    "url_verification": {"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"},
    "message_changed": {"type": "event_callback", "event": {"type": "message", "subtype": "message_changed",
                                                            "message": {"text": "new"}, "channel": "C1"}},
}
for name, payload in slack_events.items():
    text = json.dumps(payload)
    ts = "1700000000"
    seed("slack_event", name, f"{ts}\nv0={hex_hmac('8f742231b10e8888abcd99yyyzzz85a5', 'v0:' + ts + ':' + text)}\n\n{text}")
seed("slack_event", "unsigned", "\n\n" + json.dumps(slack_events["app_mention"]))
# Socket Mode: envelopes as Slack sends them over the WebSocket, and a slash command's form.
seed("slack_event", "socket_events_api", "\n\n" + json.dumps(
    {"envelope_id": "57d6a792-4d35-4d0b-b6aa-3361493e1caf", "payload": slack_events["app_mention"],
     "type": "events_api", "accepts_response_payload": False, "retry_attempt": 1, "retry_reason": "timeout"}))
seed("slack_event", "socket_slash_command", "\n\n" + json.dumps(
    {"envelope_id": "e2", "type": "slash_commands", "accepts_response_payload": True,
     "payload": {"token": "t", "team_id": "T1", "channel_id": "C1", "user_id": "U0ALLOWED", "command": "/ask",
                 "text": "hello", "response_url": "https://hooks.slack.com/commands/T1/1/x", "trigger_id": "1.2.3"}}))
seed("slack_event", "socket_disconnect", "\n\n" + json.dumps({"type": "disconnect", "reason": "refresh_requested"}))
seed("slack_event", "command_form", "1700000000\nv0=00\n\ntoken=t&team_id=T1&channel_id=C1&user_id=U1&command=%2Fask"
     "&text=what+is+it%3F&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1%2F2&trigger_id=1.2.3")

for name, event in {"full": {"event_id": "e1", "text": "hello", "sender": "ada", "conversation": "c1", "thread": "t",
                             "group": True},
                    "minimal": {"event_id": "e2", "text": "hi"},
                    "wrong_types": {"event_id": 5, "text": ["x"], "group": "yes"}}.items():
    text = json.dumps(event)
    seed("webhook_event", name, f"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W\n1700000000\nv1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=\n"
         f"sha256={hex_hmac('hermes-webhook-secret', text)}\n\n{text}")
seed("webhook_event", "multiple_signatures", "id\n1700000000\nv1,AAAA v1a,BBBB v2,CCCC\n\n{}")

wa_message = {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
    "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550000000", "phone_number_id": "PHONE1"},
    "contacts": [{"profile": {"name": "Ana"}, "wa_id": "15551234567"}],
    "messages": [{"from": "15551234567", "id": "wamid.HBgL", "timestamp": "1700000000", "type": "text",
                  "text": {"body": "hello"}, "context": {"from": "15550000000", "id": "wamid.prev"}}]}}]}]}
wa_status = {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
    "messaging_product": "whatsapp", "metadata": {"phone_number_id": "PHONE1"},
    "statuses": [{"id": "wamid.out", "status": "failed", "timestamp": "1700000005", "recipient_id": "15551234567",
                  "errors": [{"code": 131047, "title": "Re-engagement message"}]},
                 {"id": "wamid.out2", "status": "read", "timestamp": "1700000006", "recipient_id": "15551234567"}]}}]}]}
wa_media = json.loads(json.dumps(wa_message))
wa_media["entry"][0]["changes"][0]["value"]["messages"][0] = {"from": "1555", "id": "wamid.img", "timestamp": "1",
                                                             "type": "image", "image": {"id": "MEDIA1", "mime_type": "image/jpeg"}}
for name, payload in {"text_message": wa_message, "statuses": wa_status, "image": wa_media}.items():
    text = json.dumps(payload)
    seed("whatsapp_payload", name, f"sha256={hex_hmac('meta-app-secret', text)}\n\n{text}")

# --- email ---------------------------------------------------------------------------------------
mail = ("From: Ana <ana@customer.example>\r\nTo: support@corp.example\r\nSubject: =?UTF-8?B?SGVsbG8gd8O2cmxk?=\r\n"
        "Message-ID: <m1@customer.example>\r\nIn-Reply-To: <r0@corp.example>\r\nReferences: <a@x> <r0@corp.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b1\r\n\r\n--b1\r\n"
        "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        "Gr=FC=DFe, my invoice?\r\n\r\nOn Mon, Bob wrote:\r\n> old\r\n-- \r\nAna\r\n--b1\r\nContent-Type: text/html\r\n\r\n"
        "<p>Gr&uuml;&szlig;e</p>\r\n--b1--\r\n")
html_mail = ("From: x@y.example\r\nTo: support@corp.example\r\nSubject: html\r\nContent-Type: text/html; charset=utf-8\r\n"
             "Content-Transfer-Encoding: base64\r\n\r\n" +
             __import__("base64").b64encode(b"<html><body><h1>Hi</h1><ul><li>a</li></ul><a href='https://x'>x</a>"
                                            b"<script>alert(1)</script></body></html>").decode() + "\r\n")
report = ("From: MAILER-DAEMON@corp.example\r\nTo: support@corp.example\r\nSubject: Undelivered\r\nAuto-Submitted: auto-replied\r\n"
          "Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\n"
          "failed\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n--r--\r\n")
nested = "From: a@b\r\nContent-Type: multipart/mixed; boundary=n0\r\n\r\n" + "".join(
    f"--n{i}\r\nContent-Type: multipart/mixed; boundary=n{i + 1}\r\n\r\n" for i in range(40)) + "x\r\n"
attachment = ("From: a@b.example\r\nTo: support@corp.example\r\nList-Id: <l.example>\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n"
              "--z\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n--z\r\nContent-Type: application/pdf\r\n"
              "Content-Disposition: attachment; filename=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--z--\r\n")
for name, text in {"alternative_qp": mail, "html_base64": html_mail, "report": report, "nested_40": nested,
                   "attachment_list": attachment, "no_headers": "just text\r\n"}.items():
    seed("mime", name, text)
seed("html", "page", "<html><head><style>p{}</style></head><body><p>a<br>b</p><blockquote>q</blockquote>"
                     "<ol><li>1</li></ol><table><tr><td>c</td></tr></table></body></html>")
seed("html", "broken", "<p><b><i>unclosed <a href=javascript:alert(1)>x</a> &#xFFFFFF; &bogus;")
seed("html", "deep", "<div>" * 3000)

lmtp = ("LHLO mta.corp.example\r\nMAIL FROM:<ana@customer.example> SIZE=500 BODY=8BITMIME\r\n"
        "RCPT TO:<support@corp.example>\r\nRCPT TO:<BILLING@corp.example>\r\nRCPT TO:<nobody@corp.example>\r\nDATA\r\n" +
        mail.replace("\r\n.", "\r\n..") + ".\r\nRSET\r\nNOOP\r\nQUIT\r\n")
seed("lmtp", "session", lmtp)
seed("lmtp", "starttls_then_lhlo", "LHLO a\r\nSTARTTLS\r\nLHLO a\r\nMAIL FROM:<>\r\nRCPT TO:<support@corp.example>\r\nDATA\r\nx\r\n.\r\n")
seed("lmtp", "errors", "EHLO a\r\nHELO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<@relay:support@corp.example>\r\nDATA\r\n"
                       "VRFY root\r\nAUTH PLAIN AAAA\r\n" + "X" * 3000 + "\r\n")
seed("lmtp", "bare_lf_and_nul", "LHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<support@corp.example>\r\nDATA\r\nbare\nlf\x00\r\n.\r\n")

smtp_ok = ("220 relay.corp.example ESMTP Postfix\r\n"
           "250-relay.corp.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
           "250-AUTH PLAIN LOGIN\r\n250 ENHANCEDSTATUSCODES\r\n"
           "235 2.7.0 Authentication successful\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
           "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as 4Xyz\r\n221 2.0.0 Bye\r\n")
seed("smtp_reply", "postfix_session", smtp_ok)
seed("smtp_reply", "auth_login", smtp_ok.replace("250-AUTH PLAIN LOGIN", "250-AUTH LOGIN").replace(
    "235 2.7.0", "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0"))
seed("smtp_reply", "greylisted", "220 mx ESMTP\r\n250 mx\r\n451 4.7.1 Greylisted, try later\r\n")
seed("smtp_reply", "rcpt_refused", smtp_ok.replace("250 2.1.5 Ok\r\n250 2.1.5 Ok", "550 5.1.1 No such user\r\n250 2.1.5 Ok"))
seed("smtp_reply", "multiline_errors", "220-first\r\n220-second\r\n220 third\r\n250-x\r\n250-SIZE abc\r\n250 AUTH\r\n"
     "535 5.7.8 Error: authentication failed\r\n")
seed("smtp_reply", "garbage", "HTTP/1.1 400 Bad Request\r\n\r\n")

# --- cdp ---------------------------------------------------------------------------------------
for name, text in {
    "navigate": 'https://intranet.corp.example/page?q=secret#f\n{"id":3,"method":"Page.navigate","params":{"url":"https://x"}}',
    "response": 'about:blank\n{"id":1073741830,"result":{"targetInfos":[]},"sessionId":"S1"}',
    "event": 'javascript:alert(1)\n{"method":"Target.attachedToTarget","params":{"sessionId":"S2"}}',
    "denied": 'file:///etc/passwd\n{"id":4,"method":"Network.getAllCookies"}',
    "backslash": 'https://intranet.corp.example\\@evil.example/\n{"method":"Fetch.enable","id":5}',
    "deep": 'http://127.0.0.1:9222/x\n' + '{"a":' * 100 + "1" + "}" * 100,
}.items():
    seed("cdp_message", name, text)

# --- config_yaml: the shipped configs and the review's YAML bombs -----------------------------
for path in [REPO / "config" / "hermes.yaml", *sorted((REPO / "config" / "examples").glob("*.yaml"))]:
    seed("config_yaml", "config_" + path.stem, path.read_bytes())
bombs = pathlib.Path("/work/shared/security-review-2026-12-07/yaml-bombs")
if bombs.is_dir():
    for path in sorted(bombs.glob("*.yaml")):
        if path.stat().st_size <= 256 * 1024:
            seed("config_yaml", "review_" + path.stem, path.read_bytes())
seed("config_yaml", "anchors_and_refs", "x: &a [1, 2]\ny: *a\nlisteners:\n  - {name: l, bind: loopback, port: 8080}\n"
                                         "channels:\n  - {name: api, type: api, listener: l, keys: [{name: k, key: \"${env:HERMES_KEY}\"}]}\n")

for target, seeds in SEEDS.items():
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    for name, data in seeds.items():
        (directory / name).write_bytes(data)
print(f"wrote {sum(len(s) for s in SEEDS.values())} seeds for {len(SEEDS)} targets")
