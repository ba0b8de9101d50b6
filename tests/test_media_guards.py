"""The media doors of issue #10: ffmpeg/ffprobe read only the file they are handed.

Real ffmpeg throughout. "Never read" is proven with a FIFO as the file a hostile input points at:
opening a FIFO for writing blocks until some process opens it for reading, so a writer thread
that is still blocked after the probe shows that nobody opened the listed file. The same FIFO
test against a plain ``ffprobe`` (no policy) shows the attack is real.
"""

from __future__ import annotations

import http.server
import json
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from include.core import media
from include.core.errors import FatalError
from include.core.options import Settings
from include.stages import ingest

ACME = Settings(tenant="acme")
PROJECT = Path(__file__).resolve().parents[1]


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", *args], check=True)


def _ingest(path: Path, out_dir: Path, **kwargs) -> dict:
    with open(path, "rb") as fileobj:
        return ingest.run(fileobj, path.name, ACME, out_dir, **kwargs)


class Fifo:
    """A FIFO standing in for another tenant's ``final.mp4``; ``opened`` once anyone reads it."""

    def __init__(self, path: Path, payload: bytes = b""):
        self.path, self.payload = path, payload
        os.mkfifo(path)
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._write, daemon=True)
        self.thread.start()

    def _write(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)  # blocks until a reader opens the FIFO
        self.opened.set()
        try:
            os.write(fd, self.payload)
        except OSError:
            pass
        finally:
            os.close(fd)

    def close(self) -> None:
        if not self.opened.is_set():  # release the writer ourselves
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            self.thread.join(5)
            os.close(fd)
        self.thread.join(5)


@pytest.fixture
def victim(tmp_path, sample_clip):
    """Another tenant's rendered video, by absolute path, as a FIFO."""
    other = tmp_path / "tenants" / "globex" / "videos" / "globex-0123456789abcdef" / "render"
    other.mkdir(parents=True)
    fifo = Fifo(other / "final.mp4", sample_clip[0].read_bytes())
    yield fifo
    fifo.close()


def _hls(path: Path, listed: Path) -> Path:
    path.write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\n{listed}\n#EXT-X-ENDLIST\n"
    )
    return path


# --------------------------------------------------------------------------- playlists


def test_plain_ffprobe_really_reads_the_listed_file(tmp_path, victim):
    """The attack, without the policy: ffprobe follows the playlist into the other file."""
    playlist = _hls(tmp_path / "holiday.mp4", victim.path)
    proc = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
                           str(playlist)], capture_output=True, timeout=60)
    assert victim.opened.is_set()
    assert b"codec_name=h264" in proc.stdout  # the streams of the other tenant's video


def test_hls_playlist_saved_as_mp4_is_refused_without_reading_the_listed_file(tmp_path, victim):
    playlist = _hls(tmp_path / "holiday.mp4", victim.path)
    out = tmp_path / "out"
    with pytest.raises(FatalError, match=r"^source is an HLS playlist, not a video file: only "
                                         r"MP4/MOV, Matroska/WebM and AVI are accepted\.$"):
        _ingest(playlist, out)
    assert list(out.iterdir()) == []
    # ffprobe itself (no sniff in front of it) refuses the hls demuxer too
    with pytest.raises(media.InputRefused, match=r"^the file is an HLS playlist \(m3u8\), which is "
                                                 r"refused here: only MP4/MOV, Matroska/WebM"):
        media.ffprobe(playlist)
    # and so does every ffmpeg input made by user_input_args (analyze, render, thumbnail …)
    with pytest.raises(media.InputRefused, match="HLS playlist"):
        media.run_tool([media.FFMPEG, "-v", "error", *media.user_input_args(playlist),
                   "-f", "null", "-"], timeout=60)
    assert not victim.opened.is_set()


def test_concat_script_saved_as_mp4_is_refused(tmp_path, victim):
    script = tmp_path / "clip.mp4"
    script.write_text(f"ffconcat version 1.0\nfile '{victim.path}'\n")
    with pytest.raises(FatalError, match=r"^source is an ffconcat script, not a video file"):
        _ingest(script, tmp_path / "out")
    with pytest.raises(media.InputRefused, match=r"^the file is an ffconcat script, which is "
                                                 r"refused here"):
        media.ffprobe(script)
    assert not victim.opened.is_set()


def test_image_sequence_pattern_is_refused(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    _ffmpeg("-f", "lavfi", "-i", "color=red:s=32x32:d=0.2:r=10", str(frames / "f%03d.png"))
    assert (frames / "f001.png").is_file()
    pattern = frames / "f%03d.png"
    with pytest.raises(media.InputRefused, match=r"^the file is an image file or image sequence, "
                                                 r"which is refused here"):
        media.ffprobe(pattern)
    with pytest.raises(media.InputRefused, match="image sequence"):
        media.run_tool([media.FFMPEG, "-v", "error", *media.user_input_args(pattern),
                   "-f", "null", "-"], timeout=60)
    # a single PNG uploaded under a video name: the sniff, then the demuxer whitelist
    png = tmp_path / "still.mp4"
    png.write_bytes((frames / "f001.png").read_bytes())
    with pytest.raises(FatalError, match=r"^source is a PNG image, not a video file"):
        _ingest(png, tmp_path / "out")
    with pytest.raises(media.InputRefused, match=r"^the file is an image, which is refused"):
        media.ffprobe(png)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/final.mp4",
    "file:/etc/passwd",
    "concat:/a.mp4|/b.mp4",
    "subfile,,start,0,end,64,,:/etc/passwd",
    "pipe:0",
])
def test_urls_and_protocol_prefixes_are_not_media_inputs(url):
    with pytest.raises(FatalError, match=r"is not a local file path; URLs and protocol prefixes "
                                         r"are refused\.$"):
        media.user_input_args(url)
    with pytest.raises(FatalError, match="not a local file path"):
        media.ffprobe(url)


def test_protocol_whitelist_stops_a_nested_url(tmp_path):
    """The options every input gets refuse any protocol but file, whatever names the URL."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/final.mp4"
        with pytest.raises(media.InputRefused, match=r"^the file asks to open another resource "
                                                     r"over the 'http' protocol, which is refused"):
            media.run_tool([media.FFPROBE, "-v", "error", *media.input_options(), "-i", url],
                      timeout=60)
        # the check is a real one: the same probe without the options does reach the server
        subprocess.run([media.FFPROBE, "-v", "quiet", url], timeout=60)
        assert hits == ["/final.mp4"]
    finally:
        server.shutdown()


# --------------------------------------------------------------------------- decoder bombs


def _gray_jpeg(width: int, height: int) -> bytes:
    """A valid baseline grey JPEG of any size in ~width*height/256 bytes: every 8x8 block is
    flat (DC difference 0, then end-of-block), each coded as one bit."""
    def segment(marker: int, payload: bytes) -> bytes:
        return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload

    blocks = -(-width // 8) * -(-height // 8)
    return b"".join([
        b"\xff\xd8",
        segment(0xDB, b"\x00" + bytes([1] * 64)),
        segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"),
        segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00"),  # DC: '0' -> difference 0
        segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\x00"),  # AC: '0' -> end of block
        segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
        bytes(-(-blocks * 2 // 8)),
        b"\xff\xd9",
    ])


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """A 12000x12000 MJPEG AVI of 0.55 MB: one second, one frame of 144 megapixels."""
    d = tmp_path_factory.mktemp("bomb")
    (d / "frame.jpg").write_bytes(_gray_jpeg(12000, 12000))
    path = d / "bomb.avi"
    _ffmpeg("-f", "mjpeg", "-framerate", "1", "-i", str(d / "frame.jpg"), "-c", "copy",
            str(path))
    assert path.stat().st_size < 2**20
    return path


def _in_child(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line. Adds the peak RSS (MiB) of
    the child's own children (ffprobe / ffmpeg) and of the child itself."""
    wrapper = (
        "import json, resource, sys\n"
        "out = {}\n"
        f"exec({code!r})\n"
        "out['children_mib'] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "out['self_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True,
                          cwd=PROJECT, timeout=300, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_bomb_is_real_without_limits(bomb):
    """Decoding the one frame with plain ffmpeg allocates the whole 144 MP picture."""
    measured = _in_child(
        "import subprocess\n"
        f"subprocess.run(['ffmpeg', '-v', 'quiet', '-i', {str(bomb)!r}, '-f', 'null', '-'])\n"
    )
    assert measured["children_mib"] > 150, measured


def test_12000x12000_mjpeg_is_refused_at_ingest_without_allocating_it(bomb, tmp_path):
    out = tmp_path / "out"
    measured = _in_child(
        "from pathlib import Path\n"
        "from include.core.errors import FatalError\n"
        "from include.stages import ingest\n"
        "from include.core.options import Settings\n"
        "try:\n"
        f"    with open({str(bomb)!r}, 'rb') as f:\n"
        f"        ingest.run(f, 'bomb.avi', Settings(tenant='acme'), Path({str(out)!r}))\n"
        "except FatalError as exc:\n"
        "    out['error'] = str(exc)\n"
    )
    assert measured["error"] == (
        "source video is 12000x12000 (144.0 megapixels); at most 7680x4320 (33.2 megapixels) "
        "is accepted, so scale it down to 8K or less."
    )
    assert measured["children_mib"] < 100, measured  # ffprobe never held a 144 MP frame
    assert list(out.iterdir()) == []


def test_decoders_behind_ingest_refuse_the_bomb_too(bomb):
    """Defense in depth: any ffmpeg input made by user_input_args caps the frame size."""
    measured = _in_child(
        "import subprocess\n"
        "from include.core import media\n"
        f"cmd = [media.FFMPEG, '-v', 'error', *media.user_input_args({str(bomb)!r}), '-f', 'null', '-']\n"
        "proc = subprocess.run(cmd, capture_output=True, text=True)\n"
        "out['rc'], out['stderr'] = proc.returncode, proc.stderr\n"
    )
    assert measured["rc"] != 0
    assert "Picture size 12000x12000 exceeds specified max pixel count 33177600" in measured["stderr"]
    assert measured["children_mib"] < 100, measured


def test_too_many_streams(tmp_path):
    path = tmp_path / "tracks.mkv"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=d=1:s=64x48:r=10", "-f", "lavfi", "-i", "sine=d=1",
            "-map", "0:v", *["-map", "1:a"] * 16, "-c:v", "mjpeg", "-c:a", "pcm_s16le",
            str(path))
    with pytest.raises(FatalError, match=r"^source has 17 streams; at most 16 are accepted, so "
                                         r"export it with just its video and audio\.$"):
        _ingest(path, tmp_path / "out")


def test_frame_rate_limit(tmp_path):
    path = tmp_path / "fast.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=d=1:s=64x48:r=240", "-pix_fmt", "yuv420p", str(path))
    with pytest.raises(FatalError, match=r"^source video runs at 240 fps; at most 120 fps is "
                                         r"accepted, so re-encode it at a lower frame rate\.$"):
        _ingest(path, tmp_path / "out")


@pytest.mark.parametrize(("width", "height", "ok"), [
    (7680, 4320, True), (4320, 7680, True), (7681, 4320, False), (8192, 4320, False),
    (6000, 6000, False), (640, 0, None),
])
def test_frame_size_limits(width, height, ok):
    probe = {"streams": [{"codec_type": "video", "width": width, "height": height,
                          "avg_frame_rate": "30/1"}], "format": {"duration": "10"}}
    if ok:
        ingest._check_limits(probe, 3600)
    elif ok is None:  # a size the decoder refused to report is no size at all
        ingest._check_limits(probe, 3600, header_only=True)
        with pytest.raises(FatalError, match="no readable frame size"):
            ingest._check_limits(probe, 3600)
    else:
        with pytest.raises(FatalError, match=r"^source video is \d+x\d+ .* scale it down to 8K"):
            ingest._check_limits(probe, 3600)


# --------------------------------------------------------------------------- normal media


@pytest.mark.parametrize(("name", "args"), [
    ("clip.mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"]),
    ("clip.mov", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"]),
    ("clip.mkv", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "libopus"]),
    ("clip.webm", ["-c:v", "libvpx", "-b:v", "200k", "-c:a", "libopus"]),
    ("clip.avi", ["-c:v", "mjpeg", "-c:a", "pcm_s16le"]),
])
def test_normal_containers_still_ingest(tmp_path, name, args):
    path = tmp_path / name
    _ffmpeg("-f", "lavfi", "-i", "testsrc=d=1:s=160x120:r=25", "-f", "lavfi",
            "-i", "sine=d=1", "-shortest", *args, str(path))
    result = _ingest(path, tmp_path / "out")
    assert (result["width"], result["height"]) == (160, 120)
    assert result["has_audio"] and result["source_file"] == f"source{path.suffix}"


def test_music_and_voice_whitelists(tmp_path):
    """A music bed may be a plain audio file; the narration only our own WAV."""
    mp3, wav = tmp_path / "bed.mp3", tmp_path / "voice.wav"
    _ffmpeg("-f", "lavfi", "-i", "sine=d=1", str(mp3))
    _ffmpeg("-f", "lavfi", "-i", "sine=d=1", str(wav))
    assert media.ffprobe(mp3, formats=media.MUSIC_FORMATS)["format"]["format_name"] == "mp3"
    assert media.ffprobe(wav, formats=media.VOICE_FORMATS)["format"]["format_name"] == "wav"
    with pytest.raises(media.InputRefused, match=r"in the 'mp3' format, which is refused here: "
                                                 r"only WAV files are accepted"):
        media.ffprobe(mp3, formats=media.VOICE_FORMATS)
    with pytest.raises(media.InputRefused, match="only MP4/MOV, Matroska/WebM and AVI video"):
        media.ffprobe(mp3)


def test_studio_head_check_is_the_same_sniff():
    from fastapi import HTTPException

    from include.studio.uploads import check_video_head

    check_video_head(b"\x00\x00\x00\x20ftypisom" + bytes(52))
    check_video_head(b"\x1a\x45\xdf\xa3" + bytes(60))
    check_video_head(b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(48))
    for head in (b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n", b"ffconcat version 1.0\n",
                 b"\x89PNG\r\n\x1a\n" + bytes(56)):
        assert media.sniff_container(head) is None
        with pytest.raises(HTTPException):
            check_video_head(head)
