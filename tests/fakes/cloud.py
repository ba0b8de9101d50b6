"""Local stand-ins that speak the cloud providers' wire protocols, for the real SDKs to call.

One :class:`FakeCloud` (a ``ThreadingHTTPServer`` on 127.0.0.1, optionally TLS) answers:

* OpenAI ``POST /v1/chat/completions`` (``response_format`` JSON schema) and ``/v1/audio/speech``;
* Anthropic ``POST /v1/messages`` (forced tool use), with ``x-api-key`` or ``Authorization: Bearer``;
* ElevenLabs ``POST /v1/text-to-speech/{voice}/with-timestamps``;
* Google OAuth ``POST /token`` (refresh-token grant);
* YouTube resumable upload (initiation → ``Location``; ``PUT`` with ``Content-Range`` → 308 with
  ``Range`` … → 200 video JSON; an empty ``PUT`` with ``bytes */<total>`` asks where a session
  stands), ``videos.list/update/delete``, ``thumbnails.set`` and ``captions.list/insert/update``.
  :attr:`FakeCloud.videos` is the channel (a video exists once its upload completed);
  :attr:`FakeCloud.units` counts quota units at Google's documented prices (:data:`QUOTA_COSTS`).

Answers to structured-output requests are generated from the request (every segment gets exactly
its word budget), so the SDKs' parsing and our validation run for real. Faults are queued per
route with :meth:`FakeCloud.fail` (status + headers + body; ``"drop"``: take the body and
close the connection without an answer; ``"drop_answer"``: do the work, then close without an
answer; ``"hold"``: signal :attr:`FakeCloud.holding` and wait for :attr:`FakeCloud.release`, then
drop); every request is logged in :attr:`FakeCloud.requests`.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import email
import functools
import io
import ipaddress
import json
import math
import re
import socket
import ssl
import subprocess
import threading
import time
import uuid
import wave
from collections import defaultdict, deque
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

API_KEY = "test-key"
CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN = "client-id", "client-secret", "refresh-token"
ACCESS_TOKEN = "access-token"
SCOPES = ("https://www.googleapis.com/auth/youtube.upload",
          "https://www.googleapis.com/auth/youtube.force-ssl")
KNOWN_VOICES = {"alloy", "voice-rachel"}
SPEECH_RATE = 24000
WORD_GAP = 0.08  # seconds of silence between spoken words
# YouTube Data API quota units per call (Google's documented costs; videos.insert as in the
# older docs, 1600). Injected faults cost nothing.
QUOTA_COSTS = {
    "upload_start": 1600, "videos_list": 1, "videos_update": 50, "videos_delete": 50,
    "thumbnail": 50, "caption": 400, "caption_list": 50, "caption_update": 450,
}


def youtube_error(status: int, reason: str, message: str = "") -> dict:
    """An error body in the YouTube Data API's format."""
    return {"error": {"code": status, "message": message or reason,
                      "errors": [{"reason": reason, "domain": "youtube.quota"}]}}


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: Message  # case-insensitive, as HTTP headers are
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class Upload:
    metadata: dict
    total: int
    data: bytearray
    video_id: str


class FakeCloud:
    """Start with ``with FakeCloud() as cloud:``; ``cloud.url`` is its base URL."""

    def __init__(self, tls_dir: Path | None = None) -> None:
        self.requests: list[Request] = []
        self.faults: dict[str, deque] = defaultdict(deque)
        self.uploads: dict[str, Upload] = {}
        self.thumbnails: dict[str, bytes] = {}
        self.captions: list[tuple[dict, bytes]] = []  # every captions.insert
        self.tracks: dict[str, dict] = {}  # caption track id -> {"snippet", "body"}
        self.videos: dict[str, dict] = {}  # the channel: video id -> {"snippet", "status", "data"}
        self.deleted: list[str] = []
        self.units = 0
        self.holding, self.release = threading.Event(), threading.Event()
        self.returned_privacy: str | None = None  # e.g. "private", as unaudited projects get
        self.chat_replies: deque[str] = deque()  # raw answers served before generated ones
        self.delay = 0.0  # seconds every request takes, to observe concurrency
        self.inflight = self.max_inflight = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.scheme = "http"
        self.ca_file: Path | None = None
        if tls_dir is not None:
            cert, key = self_signed_cert(Path(tls_dir))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme, self.ca_file = "https", cert
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeCloud":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        """Forget every request, fault, upload and canned answer (between tests)."""
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.uploads.clear()
            self.thumbnails.clear()
            self.captions.clear()
            self.tracks.clear()
            self.videos.clear()
            self.deleted.clear()
            self.units = 0
            self.holding.clear()
            self.release.clear()
            self.chat_replies.clear()
            self.returned_privacy = None
            self.delay, self.max_inflight = 0.0, 0

    def fail(self, route: str, status: int | str, times: int = 1, *, after: int = 0,
             headers: dict | None = None, body: dict | None = None) -> None:
        """Answer ``times`` requests on ``route`` with ``status`` (or ``"drop"``), after letting
        ``after`` requests through."""
        self.faults[route].extend([(None, {}, None)] * after)
        for _ in range(times):
            self.faults[route].append((status, headers or {}, body))

    def quota_exceeded(self, route: str = "upload_start", times: int = 1, *,
                       reason: str = "quotaExceeded") -> None:
        """Refuse ``times`` requests on ``route`` as YouTube does when the day's quota is gone;
        the next ones pass, as after the reset at midnight Pacific."""
        self.fail(route, 403, times, body=youtube_error(
            403, reason, "The request cannot be completed because you have exceeded your quota."))

    def hits(self, route: str) -> list[Request]:
        return [r for r in self.requests if _route(r.method, r.path, r.query) == route]


def _route(method: str, path: str, query: dict) -> str:
    """A stable name per endpoint: ``chat``, ``messages``, ``speech``, ``elevenlabs``, ``token``,
    ``upload_start``, ``upload_put``, ``videos_list``, ``videos_update``, ``videos_delete``,
    ``thumbnail``, ``caption``, ``caption_list``, ``caption_update`` or ``other``."""
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/v1/messages"):
        return "messages"
    if path.endswith("/audio/speech"):
        return "speech"
    if "/text-to-speech/" in path:
        return "elevenlabs"
    if path.endswith("/token"):
        return "token"
    if path.endswith("/upload/youtube/v3/videos"):
        return "upload_put" if method == "PUT" else "upload_start"
    if path.endswith("/youtube/v3/videos"):
        return {"GET": "videos_list", "PUT": "videos_update", "DELETE": "videos_delete"}.get(
            method, "other")
    if path.endswith("/thumbnails/set"):
        return "thumbnail"
    if path.endswith("/captions"):
        return {"GET": "caption_list", "PUT": "caption_update"}.get(method, "caption")
    return "other"


def _handler(cloud: FakeCloud):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            route = _route(self.command, parts.path, query)
            length = int(self.headers.get("Content-Length") or 0)
            with cloud.lock:
                fault = cloud.faults[route].popleft() if cloud.faults[route] else None
            if fault and fault[0] is None:
                fault = None
            if fault and fault[0] == "hold":
                cloud.holding.set()
                cloud.release.wait(60)
                fault = ("drop", {}, None)
            if fault and fault[0] == "drop":
                # The body arrives (and is thrown away), then the line goes dead before any answer.
                self.rfile.read(length)
                cloud.requests.append(Request(self.command, parts.path, query, self.headers, b""))
                self.close_connection = True
                with contextlib.suppress(OSError):  # the client may have given up already
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            body = self.rfile.read(length)
            request = Request(self.command, parts.path, query, self.headers, body)
            cloud.requests.append(request)
            self.mute = bool(fault and fault[0] == "drop_answer")
            if fault and not self.mute:
                status, headers, payload = fault
                return self._send(status, payload or {"error": {"message": f"injected {status}"}},
                                  headers)
            handler = getattr(self, f"_{route}", None)
            if handler is None:
                return self._send(404, {"error": {"message": f"no route {parts.path}"}})
            with cloud.lock:
                cloud.inflight += 1
                cloud.max_inflight = max(cloud.max_inflight, cloud.inflight)
                cloud.units += QUOTA_COSTS.get(route, 0)
            try:
                time.sleep(cloud.delay)
                handler(request)
            finally:
                with cloud.lock:
                    cloud.inflight -= 1
            if self.mute:  # the work is done, the answer is lost on the way
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

        # ---- helpers
        def _send(self, status: int, payload, headers: dict | None = None,
                  content_type: str = "application/json") -> None:
            if getattr(self, "mute", False):
                return
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _bearer_ok(self, request: Request, token: str) -> bool:
            if request.headers.get("Authorization") == f"Bearer {token}":
                return True
            self._send(401, {"error": {"message": "Incorrect API key provided",
                                       "type": "invalid_request_error", "code": "invalid_api_key"}})
            return False

        # ---- OpenAI
        def _chat(self, request: Request) -> None:
            if not self._bearer_ok(request, API_KEY):
                return
            body = request.json()
            schema = body["response_format"]["json_schema"]["name"]
            user = body["messages"][-1]["content"]
            text = next(part["text"] for part in user if part["type"] == "text")
            images = sum(part["type"] == "image_url" for part in user)
            content = _next_reply(cloud) or json.dumps(answer_for(schema, text, images))
            self._send(200, {
                "id": "chatcmpl-1", "object": "chat.completion", "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": len(text) // 4, "completion_tokens": len(content) // 4,
                          "total_tokens": (len(text) + len(content)) // 4},
            })

        def _speech(self, request: Request) -> None:
            if not self._bearer_ok(request, API_KEY):
                return
            body = request.json()
            if body["voice"] not in KNOWN_VOICES:
                return self._send(400, {"error": {"message": f"Invalid voice {body['voice']}",
                                                  "type": "invalid_request_error"}})
            samples = speech_samples(body["input"])
            if body.get("response_format") == "pcm":
                return self._send(200, samples.astype("<i2").tobytes(), content_type="audio/pcm")
            self._send(200, wav_bytes(samples), content_type="audio/wav")

        # ---- Anthropic
        def _messages(self, request: Request) -> None:
            key = request.headers.get("x-api-key") or request.headers.get(
                "Authorization", "").removeprefix("Bearer ")
            if key != API_KEY or "anthropic-version" not in request.headers:
                return self._send(401, {"type": "error", "error": {
                    "type": "authentication_error", "message": "invalid x-api-key"}})
            body = request.json()
            tool = body["tools"][0]
            content = body["messages"][-1]["content"]
            text = next(part["text"] for part in content if part["type"] == "text")
            images = sum(part["type"] == "image" for part in content)
            schema = tool["input_schema"].get("title", "")
            reply = _next_reply(cloud)
            answer = json.loads(reply) if reply else answer_for(schema, text, images)
            self._send(200, {
                "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
                "content": [{"type": "tool_use", "id": "toolu_1", "name": tool["name"],
                             "input": answer}],
                "stop_reason": "tool_use", "stop_sequence": None,
                "usage": {"input_tokens": len(text) // 4, "output_tokens": 50},
            })

        # ---- ElevenLabs
        def _elevenlabs(self, request: Request) -> None:
            if request.headers.get("xi-api-key") != API_KEY:
                return self._send(401, {"detail": {"status": "invalid_api_key"}})
            voice = request.path.split("/text-to-speech/")[1].split("/")[0]
            if voice not in KNOWN_VOICES:
                return self._send(404, {"detail": {"status": "voice_not_found"}})
            text = request.json()["text"]
            samples, spans = speech(text)
            starts, ends = char_times(text, spans)
            self._send(200, {
                "audio_base64": base64.b64encode(samples.astype("<i2").tobytes()).decode(),
                "alignment": {
                    "characters": list(text),
                    "character_start_times_seconds": starts,
                    "character_end_times_seconds": ends,
                },
            })

        # ---- Google OAuth + YouTube
        def _token(self, request: Request) -> None:
            form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
            if (form.get("grant_type"), form.get("refresh_token"), form.get("client_id"),
                    form.get("client_secret")) != ("refresh_token", REFRESH_TOKEN, CLIENT_ID,
                                                   CLIENT_SECRET):
                return self._send(400, {"error": "invalid_grant",
                                        "error_description": "Token has been expired or revoked."})
            self._send(200, {"access_token": ACCESS_TOKEN, "expires_in": 3600,
                             "token_type": "Bearer", "scope": " ".join(SCOPES)})

        def _upload_start(self, request: Request) -> None:
            if not self._bearer_ok(request, ACCESS_TOKEN):
                return
            upload_id = uuid.uuid4().hex
            cloud.uploads[upload_id] = Upload(request.json(), int(
                request.headers["X-Upload-Content-Length"]), bytearray(), "vid" + upload_id[:8])
            location = f"{cloud.url}{request.path}?uploadType=resumable&upload_id={upload_id}"
            self._send(200, b"", {"Location": location})

        def _upload_put(self, request: Request) -> None:
            upload = cloud.uploads.get(request.query["upload_id"])
            if upload is None:  # an expired or unknown session
                return self._send(404, youtube_error(404, "notFound", "upload session not found"))
            match = re.fullmatch(r"bytes (\*|(\d+)-(\d+))/(\d+)", request.headers["Content-Range"])
            if match[2] is not None and int(match[2]) == len(upload.data):
                upload.data += request.body
            if len(upload.data) < upload.total:
                headers = {"Range": f"bytes=0-{len(upload.data) - 1}"} if upload.data else {}
                return self._send(308, b"", headers)
            with cloud.lock:
                if upload.video_id not in cloud.videos:  # the upload completes: a video exists
                    status = dict(upload.metadata.get("status") or {})
                    if cloud.returned_privacy:
                        status["privacyStatus"] = cloud.returned_privacy
                    cloud.videos[upload.video_id] = {"snippet": upload.metadata.get("snippet"),
                                                     "status": status, "data": bytes(upload.data)}
                video = cloud.videos.get(upload.video_id)
            if video is None:
                return self._send(404, youtube_error(404, "videoNotFound"))
            self._send(200, self._video(upload.video_id, video))

        def _video(self, video_id: str, video: dict) -> dict:
            return {"kind": "youtube#video", "id": video_id, "snippet": video["snippet"],
                    "status": video["status"]}

        def _videos_list(self, request: Request) -> None:
            if not self._bearer_ok(request, ACCESS_TOKEN):
                return
            ids = [i for i in request.query.get("id", "").split(",") if i in cloud.videos]
            self._send(200, {"kind": "youtube#videoListResponse",
                             "items": [self._video(i, cloud.videos[i]) for i in ids]})

        def _videos_update(self, request: Request) -> None:
            if not self._bearer_ok(request, ACCESS_TOKEN):
                return
            body = request.json()
            video = cloud.videos.get(body.get("id"))
            if video is None:
                return self._send(404, youtube_error(404, "videoNotFound"))
            for part in request.query["part"].split(","):
                if part in body:
                    video[part] = body[part]
            if cloud.returned_privacy:
                video["status"]["privacyStatus"] = cloud.returned_privacy
            self._send(200, self._video(body["id"], video))

        def _videos_delete(self, request: Request) -> None:
            if not self._bearer_ok(request, ACCESS_TOKEN):
                return
            if cloud.videos.pop(request.query.get("id"), None) is None:
                return self._send(404, youtube_error(404, "videoNotFound"))
            cloud.deleted.append(request.query["id"])
            self._send(204, b"")

        def _thumbnail(self, request: Request) -> None:
            if not self._bearer_ok(request, ACCESS_TOKEN):
                return
            if request.query["videoId"] not in cloud.videos:
                return self._send(404, youtube_error(404, "videoNotFound"))
            cloud.thumbnails[request.query["videoId"]] = request.body
            self._send(200, {"kind": "youtube#thumbnailSetResponse", "items": [{}]})

        def _caption(self, request: Request) -> None:
            if not self._bearer_ok(request, ACCESS_TOKEN):
                return
            metadata, media = _multipart(request)
            cloud.captions.append((metadata, media))
            track = "cap" + uuid.uuid4().hex[:8]
            cloud.tracks[track] = {"snippet": metadata.get("snippet"), "body": media}
            self._send(200, {"kind": "youtube#caption", "id": track,
                             "snippet": metadata.get("snippet")})

        def _caption_list(self, request: Request) -> None:
            if not self._bearer_ok(request, ACCESS_TOKEN):
                return
            video = request.query.get("videoId")
            self._send(200, {"kind": "youtube#captionListResponse", "items": [
                {"kind": "youtube#caption", "id": track, "snippet": t["snippet"]}
                for track, t in cloud.tracks.items() if t["snippet"].get("videoId") == video]})

        def _caption_update(self, request: Request) -> None:
            if not self._bearer_ok(request, ACCESS_TOKEN):
                return
            metadata, media = _multipart(request)
            track = cloud.tracks.get(metadata.get("id"))
            if track is None:
                return self._send(404, youtube_error(404, "captionNotFound"))
            track["snippet"] = {**track["snippet"], **(metadata.get("snippet") or {})}
            track["body"] = media
            self._send(200, {"kind": "youtube#caption", "id": metadata["id"],
                             "snippet": track["snippet"]})

    return Handler


def _next_reply(cloud: FakeCloud) -> str | None:
    with cloud.lock:
        return cloud.chat_replies.popleft() if cloud.chat_replies else None


def answer_for(schema: str, prompt: str, images: int) -> dict:
    """A valid answer for our structured-output schemas, generated from the prompt."""
    if schema == "ScriptAnswer":
        segments, _ = json.JSONDecoder().raw_decode(prompt.split("Segments:\n", 1)[1])
        return {"segments": [
            {"id": seg["id"], "text": written_text(index, seg["word_budget"])}
            for index, seg in enumerate(segments)
        ]}
    if schema == "MetadataAnswer":
        return {"title": "A cloud written title", "summary": "A summary from the model.",
                "tags": ["dashboard", "tour", "cloud"]}
    if schema == "KeyframeDescription":
        return {"description": f"A screen with charts ({images} image)."}
    raise AssertionError(f"no canned answer for schema {schema!r}")


WRITTEN = (
    "The team opens the weekly report and checks how many orders came in since Monday. "
    "Sales grew in the north region while support tickets dropped after the new release. "
    "Next the manager filters the list by customer and exports a summary for the board. "
    "Finally everyone reviews the open tasks and plans the work for the coming sprint."
).split()


def written_text(index: int, budget: int) -> str:
    """``budget`` words of plain English (a different slice per segment), the way a model's
    narration reads: a speech recogniser hears it back, where a repeated stock word would make
    Whisper discard the whole passage as a hallucination."""
    start = (index * 11) % len(WRITTEN)
    words = [WRITTEN[(start + i) % len(WRITTEN)] for i in range(max(1, budget))]
    return " ".join(words).rstrip(".") + "."


def speech(text: str) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The text really spoken (espeak-ng, word by word, 24 kHz int16) and each word's span.

    Real speech, so that a speech recogniser over the final video (QC) hears what was asked
    for; word by word, so that the alignment the fake ElevenLabs returns is exact.
    """
    pieces, spans, at = [], [], 0
    gap = np.zeros(int(WORD_GAP * SPEECH_RATE), dtype=np.int16)
    for word in text.split() or ["."]:
        voiced = _spoken_word(word)
        spans.append((at / SPEECH_RATE, (at + len(voiced)) / SPEECH_RATE))
        pieces += [voiced, gap]
        at += len(voiced) + len(gap)
    return np.concatenate(pieces[:-1]), spans  # no gap after the last word


@functools.lru_cache(maxsize=4096)
def _spoken_word(word: str) -> np.ndarray:
    wav = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "170", "--stdout", word],
                         check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        rate = reader.getframerate()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    loud = np.flatnonzero(np.abs(samples) > 300)
    if len(loud):
        samples = samples[loud[0]:loud[-1] + 1]
    t = np.arange(math.ceil(len(samples) * SPEECH_RATE / rate)) * rate / SPEECH_RATE
    return np.interp(t, np.arange(len(samples)), samples).astype(np.int16)


def char_times(text: str, spans: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """ElevenLabs-style alignment: every character of ``text`` (spaces too) with its start/end,
    the characters of word *i* spread evenly over its spoken span, a space over the gap."""
    starts, ends = [], []
    words = list(re.finditer(r"\S+", text))
    word_of = {}
    for index, match in enumerate(words):
        for position in range(match.start(), match.end()):
            word_of[position] = index
    last_end = 0.0
    for position in range(len(text)):
        index = word_of.get(position)
        if index is None:  # whitespace: from the last word's end to the next word's start
            following = next((spans[i][0] for i, m in enumerate(words) if m.start() > position),
                             last_end)
            starts.append(round(last_end, 3))
            ends.append(round(max(last_end, following), 3))
            continue
        match, (start, end) = words[index], spans[index]
        per_char = (end - start) / (match.end() - match.start())
        offset = position - match.start()
        starts.append(round(start + offset * per_char, 3))
        ends.append(round(start + (offset + 1) * per_char, 3))
        last_end = ends[-1]
    return starts, ends


def speech_samples(text: str) -> np.ndarray:
    return speech(text)[0]


def wav_bytes(samples: np.ndarray, rate: int = SPEECH_RATE) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def _multipart(request: Request) -> tuple[dict, bytes]:
    """The JSON metadata part and the media part of a ``multipart/related`` body."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = email.message_from_bytes(head + request.body)
    metadata, media = message.get_payload()
    return json.loads(metadata.get_payload(decode=True)), media.get_payload(decode=True)


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and localhost) and its key, generated now."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_path, key_path
