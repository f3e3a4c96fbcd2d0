#!/usr/bin/env python3
"""Render the sample call scripts in samples/dialogs/*.yaml into audio files
stored the way a call recorder stores them, plus exact ground truth.

Standard library only.  External tools: festival (text2wave) with the
festvox-ru voice, sox, and lame (for the MP3 sample).

Per turn:   text2wave (16 kHz) -> sox (voice colour, 8 kHz, peak gain) -> cache
Per call:   turns laid on a timeline (pause / overlap), line noise added with a
            fixed seed, written as a 16-bit master, converted by sox / lame to
            the stored format, moved into place atomically.

Ground truth (samples/truth/<stem>.json) gives, for every turn, the first and
last sample of the turn's speech in the final audio (the synthesised clip is
trimmed to where its level first/last exceeds 2 % of its peak, with a short
quiet margin kept around it), so start/end are exact to one sample (125 us).

Usage: python3 samples/make_samples.py [--only NAME ...] [--cache DIR]
"""

import argparse
import array
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import wave
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DIALOG_DIR = os.path.join(HERE, "dialogs")
AUDIO_DIR = os.path.join(HERE, "audio")
TRUTH_DIR = os.path.join(HERE, "truth")

RATE = 8000                 # the timeline, masters and all WAV outputs
DEFAULT_PAUSE = 0.6         # seconds of silence before a turn
TAIL = 0.8                  # seconds of line noise after the last turn
MARGIN = 0.010              # quiet clip audio kept around the speech bounds
TRIM_REL = 0.02             # speech bound: |x| > 2 % of the clip peak
NOISE_RMS = 40.0            # int16 units, about -58 dBFS: a hissing line
CACHE_VERSION = 2           # bump when the per-turn chain changes

FESTIVAL_VOICE = "(voice_msu_ru_nsh_clunits)"

# How each party sounds.  The festvox-ru voice is one male speaker; the
# customer is pitched down two semitones and slowed so the two are easy to
# tell apart.  (-300 cents was tried: Whisper base then misheard noticeably
# more customer words; -200 recognises about as well as the plain voice.)
VOICES = {
    "agent": {"pitch": 0, "tempo": 1.0, "peak_db": -3.0},
    "customer": {"pitch": -200, "tempo": 0.95, "peak_db": -5.0},
    # another person on the customer's side (e.g. a secretary)
    "customer_alt": {"pitch": 200, "tempo": 1.0, "peak_db": -5.0},
}

# Stored formats.  `sox` is the output-encoding part of a sox command line.
FORMATS = {
    "wav-pcm16-stereo-8k": {"ext": "wav", "channels": 2,
                            "sox": ["-e", "signed-integer", "-b", "16"]},
    "wav-ulaw-stereo-8k": {"ext": "wav", "channels": 2,
                           "sox": ["-e", "u-law", "-b", "8"]},
    "wav-alaw-stereo-8k": {"ext": "wav", "channels": 2,
                           "sox": ["-e", "a-law", "-b", "8"]},
    "wav-ulaw-mono-8k": {"ext": "wav", "channels": 1,
                         "sox": ["-e", "u-law", "-b", "8"]},
    "wav-alaw-mono-8k": {"ext": "wav", "channels": 1,
                         "sox": ["-e", "a-law", "-b", "8"]},
    # MPEG-2 layer III, 16 kHz, joint stereo, 48 kbit/s CBR, encoded by lame.
    # At 32 kbit/s the LAME/Info tag (encoder delay + padding, needed for
    # gapless decoding) does not fit in an MPEG-2 frame and lame drops it.
    "mp3-stereo-16k": {"ext": "mp3", "channels": 2, "mp3_rate": 16000,
                       "mp3_kbps": 48},
}

BUCKETS = (("short", 40.0), ("medium", 300.0), ("long", float("inf")))

TOP_KEYS = {"name", "file", "format", "bucket", "description", "turns"}
TURN_KEYS = {"speaker", "text", "pause", "overlap", "voice"}
FILE_RE = re.compile(r"^(in|out)-\d{11}-\d{3}-\d{8}-\d{6}$")


class SampleError(Exception):
    pass


# --------------------------------------------------------------------------
# A strict reader for the YAML subset the dialog files use:
#   key: scalar                 (top level)
#   turns:                      followed by block-sequence items
#     - key: scalar
#       key: scalar
# Scalars: "double quoted" (JSON escapes), numbers, or plain words.
# Full-line comments (#) and blank lines are ignored.  Anything else is an
# error with file and line, so a dialog never renders half-understood.

def _scalar(raw, where):
    raw = raw.strip()
    if not raw:
        raise SampleError(f"{where}: empty value")
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise SampleError(f"{where}: unterminated string")
        try:
            return json.loads(raw)
        except ValueError as e:
            raise SampleError(f"{where}: bad string: {e}") from None
    if raw.startswith(("'", "{", "[", "|", ">", "&", "*", "!")):
        raise SampleError(f"{where}: unsupported YAML value {raw[:10]!r}")
    if re.fullmatch(r"-?\d+(\.\d+)?", raw):
        return float(raw) if "." in raw else int(raw)
    if " #" in raw:
        raise SampleError(f"{where}: trailing comment not supported")
    return raw


def read_dialog(path):
    doc = {}
    turns = None
    cur = None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for no, line in enumerate(lines, 1):
        where = f"{path}:{no}"
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "\t" in line:
            raise SampleError(f"{where}: tab in indentation")
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        if indent == 0:
            m = re.fullmatch(r"([a-z_]+):(.*)", body)
            if not m:
                raise SampleError(f"{where}: expected 'key: value'")
            key, rest = m.group(1), m.group(2)
            if key not in TOP_KEYS:
                raise SampleError(f"{where}: unknown key {key!r}")
            if key in doc:
                raise SampleError(f"{where}: duplicate key {key!r}")
            if key == "turns":
                if rest.strip():
                    raise SampleError(f"{where}: 'turns:' takes a block list")
                turns = doc["turns"] = []
                cur = None
            else:
                doc[key] = _scalar(rest, where)
                turns = None
            continue
        if turns is None:
            raise SampleError(f"{where}: unexpected indentation")
        if body.startswith("- "):
            cur = {}
            turns.append((cur, no))
            body = body[2:].strip()
        elif cur is None:
            raise SampleError(f"{where}: expected '- ' list item")
        m = re.fullmatch(r"([a-z_]+):(.*)", body)
        if not m:
            raise SampleError(f"{where}: expected 'key: value'")
        key, rest = m.group(1), m.group(2)
        if key not in TURN_KEYS:
            raise SampleError(f"{where}: unknown turn key {key!r}")
        if key in cur:
            raise SampleError(f"{where}: duplicate key {key!r}")
        cur[key] = _scalar(rest, where)

    for key in ("name", "file", "format", "bucket", "description", "turns"):
        if key not in doc:
            raise SampleError(f"{path}: missing top-level key {key!r}")
    if doc["format"] not in FORMATS:
        raise SampleError(f"{path}: unknown format {doc['format']!r}")
    if doc["bucket"] not in {b for b, _ in BUCKETS}:
        raise SampleError(f"{path}: unknown bucket {doc['bucket']!r}")
    if not FILE_RE.match(str(doc["file"])):
        raise SampleError(f"{path}: file must look like "
                          "in-79161234567-101-20241105-103000")
    out = []
    for t, no in doc["turns"]:
        where = f"{path}:{no}"
        if t.get("speaker") not in ("agent", "customer"):
            raise SampleError(f"{where}: speaker must be agent or customer")
        if not isinstance(t.get("text"), str) or not t["text"].strip():
            raise SampleError(f"{where}: turn without text")
        voice = t.get("voice", t["speaker"])
        if voice not in VOICES:
            raise SampleError(f"{where}: unknown voice {voice!r}")
        pause = t.get("pause", DEFAULT_PAUSE)
        overlap = t.get("overlap")
        if not isinstance(pause, (int, float)) or pause < 0:
            raise SampleError(f"{where}: pause must be a number >= 0")
        if overlap is not None:
            if "pause" in t:
                raise SampleError(f"{where}: give pause or overlap, not both")
            if not isinstance(overlap, (int, float)) or overlap <= 0:
                raise SampleError(f"{where}: overlap must be a number > 0")
            if not out:
                raise SampleError(f"{where}: first turn cannot overlap")
        out.append({"speaker": t["speaker"], "voice": voice,
                    "text": t["text"], "pause": float(pause),
                    "overlap": None if overlap is None else float(overlap),
                    "where": where})
    if not out:
        raise SampleError(f"{path}: no turns")
    doc["turns"] = out
    return doc


# --------------------------------------------------------------------------
# Audio helpers

def run(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       **kw)
    if p.returncode != 0:
        raise SampleError(f"command failed ({p.returncode}): {' '.join(cmd)}\n"
                          f"{p.stderr.decode('utf-8', 'replace')}")
    return p


def read_wav16(path):
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise SampleError(f"{path}: expected mono 16-bit")
        rate = w.getframerate()
        a = array.array("h")
        a.frombytes(w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        a.byteswap()
    return rate, a


def write_wav16(path, channels, frames):
    """frames: array('h') interleaved."""
    data = frames
    if sys.byteorder == "big":
        data = array.array("h", frames)
        data.byteswap()
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(data.tobytes())


def tts_text(text):
    """festvox-ru's letter-to-sound rules reject some punctuation (guillemets,
    dashes, quotes, brackets): the turn then comes out silent.  Drop them."""
    t = re.sub(r"[«»\"“”„()\[\]]", "", text)
    t = re.sub(r"\s[—–-]\s", ", ", t)
    t = t.replace("…", ",").replace("...", ",")
    return re.sub(r"\s+", " ", t).strip()


def render_turn(text, voice, cache_dir):
    """Return the clip (array('h'), 8 kHz mono), rendered or from the cache."""
    params = VOICES[voice]
    spoken = tts_text(text)
    key = hashlib.sha256(json.dumps(
        [CACHE_VERSION, FESTIVAL_VOICE, spoken, params, RATE],
        ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()[:24]
    cached = os.path.join(cache_dir, key + ".wav")
    if not os.path.exists(cached):
        with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
            txt = os.path.join(tmp, "turn.txt")
            raw = os.path.join(tmp, "raw.wav")
            out = os.path.join(tmp, "out.wav")
            with open(txt, "w", encoding="utf-8") as f:
                f.write(spoken + "\n")
            p = run(["text2wave", "-eval", FESTIVAL_VOICE, "-o", raw, txt])
            err = p.stderr.decode("utf-8", "replace")
            if "no rule matches" in err or not os.path.exists(raw):
                raise SampleError(f"festival could not say {spoken!r}:\n{err}")
            chain = ["sox", "-R", "-D", raw, "-c", "1", "-b", "16",
                     "-e", "signed-integer", out, "highpass", "80"]
            if params["pitch"]:
                chain += ["pitch", str(params["pitch"])]
            if params["tempo"] != 1.0:
                chain += ["tempo", "-s", str(params["tempo"])]
            chain += ["rate", "-v", str(RATE), "gain", "-n",
                      str(params["peak_db"])]
            run(chain)
            os.replace(out, cached)
    rate, clip = read_wav16(cached)
    if rate != RATE:
        raise SampleError(f"{cached}: rate {rate}, expected {RATE}")
    return clip


def speech_bounds(clip):
    peak = max((abs(x) for x in clip), default=0)
    if peak < 1000:
        raise SampleError("synthesised clip is (nearly) silent")
    thr = peak * TRIM_REL
    first = next(i for i, x in enumerate(clip) if abs(x) > thr)
    last = next(i for i in range(len(clip) - 1, -1, -1) if abs(clip[i]) > thr)
    return first, last + 1


def bucket_of(seconds):
    for name, limit in BUCKETS:
        if seconds < limit:
            return name
    return BUCKETS[-1][0]


def atomic_write_text(path, text):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)            # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------

def build_call(doc, cache_dir, workdir):
    fmt = FORMATS[doc["format"]]
    margin = round(MARGIN * RATE)

    # 1. clips and their speech bounds
    placed = []
    for t in doc["turns"]:
        clip = render_turn(t["text"], t["voice"], cache_dir)
        s0, s1 = speech_bounds(clip)
        lo, hi = max(0, s0 - margin), min(len(clip), s1 + margin)
        placed.append((t, clip[lo:hi], s0 - lo, s1 - s0))

    # 2. timeline, in samples; `start`/`end` are the speech bounds
    turns, last_end = [], 0
    for t, clip, lead, n in placed:
        if t["overlap"] is not None:
            start = last_end - round(t["overlap"] * RATE)
            if turns and start <= turns[-1]["_start"]:
                raise SampleError(f"{t['where']}: overlap longer than the "
                                  "previous turn")
        else:
            start = last_end + round(t["pause"] * RATE)
        start = max(start, lead)          # the clip margin must fit
        turns.append({"_t": t, "_clip": clip, "_lead": lead,
                      "_start": start, "_end": start + n})
        last_end = max(last_end, start + n)
    total = last_end + round(TAIL * RATE)
    for tr in turns:
        total = max(total, tr["_start"] - tr["_lead"] + len(tr["_clip"]))

    # 3. mix: one track per party, line noise with a fixed seed
    tracks = {"agent": [0] * total, "customer": [0] * total}
    for tr in turns:
        buf = tracks[tr["_t"]["speaker"]]
        off = tr["_start"] - tr["_lead"]
        for i, x in enumerate(tr["_clip"]):
            buf[off + i] += x
    rng = random.Random(zlib.crc32(doc["file"].encode("ascii")))
    gauss = rng.gauss

    def noisy(buf):
        out = array.array("h", bytes(2 * total))
        for i, x in enumerate(buf):
            v = int(round(x + gauss(0.0, NOISE_RMS)))
            out[i] = 32767 if v > 32767 else (-32768 if v < -32768 else v)
        return out

    if fmt["channels"] == 2:
        left, right = noisy(tracks["agent"]), noisy(tracks["customer"])
        frames = array.array("h", bytes(4 * total))
        frames[0::2] = left
        frames[1::2] = right
    else:
        a, c = tracks["agent"], tracks["customer"]
        frames = noisy([a[i] + c[i] for i in range(total)])

    master = os.path.join(workdir, doc["file"] + ".master.wav")
    write_wav16(master, fmt["channels"], frames)

    # 4. stored format, then atomic move into samples/audio
    name = f"{doc['file']}.{fmt['ext']}"
    final = os.path.join(AUDIO_DIR, name)
    tmp_out = os.path.join(AUDIO_DIR, f".tmp-{name}")
    try:
        if fmt["ext"] == "mp3":
            up = os.path.join(workdir, doc["file"] + ".16k.wav")
            run(["sox", "-R", "-D", master, "-b", "16", up,
                 "rate", "-v", str(fmt["mp3_rate"])])
            run(["lame", "--quiet", "--noreplaygain", "-m", "j", "--cbr",
                 "-b", str(fmt["mp3_kbps"]), up, tmp_out])
        else:
            run(["sox", "-R", "-D", master] + fmt["sox"] +
                ["-t", "wav", tmp_out])
        os.replace(tmp_out, final)
    finally:
        if os.path.exists(tmp_out):
            os.unlink(tmp_out)

    # 5. ground truth
    truth = {
        "audio": name,
        "duration": round(total / RATE, 3),
        "channels": fmt["channels"],
        "turns": [{"speaker": tr["_t"]["speaker"],
                   "start": round(tr["_start"] / RATE, 3),
                   "end": round(tr["_end"] / RATE, 3),
                   "text": tr["_t"]["text"]} for tr in turns],
    }
    atomic_write_text(os.path.join(TRUTH_DIR, doc["file"] + ".json"),
                      json.dumps(truth, ensure_ascii=False, indent=2) + "\n")
    return name, truth


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", default=None,
                    help="render only these dialog names")
    ap.add_argument("--cache", default=os.environ.get(
        "CALLQA_TTS_CACHE", os.path.join(tempfile.gettempdir(),
                                         "callqa-tts-cache")),
                    help="per-turn clip cache (default /tmp/callqa-tts-cache)")
    args = ap.parse_args()

    os.makedirs(args.cache, exist_ok=True)
    os.makedirs(AUDIO_DIR, exist_ok=True)
    os.makedirs(TRUTH_DIR, exist_ok=True)

    paths = sorted(os.path.join(DIALOG_DIR, p) for p in os.listdir(DIALOG_DIR)
                   if p.endswith(".yaml"))
    docs = [read_dialog(p) for p in paths]
    seen = {}
    for d in docs:
        for key in ("name", "file"):
            if d[key] in seen.setdefault(key, set()):
                raise SampleError(f"duplicate {key} {d[key]!r}")
            seen[key].add(d[key])

    produced = set()
    with tempfile.TemporaryDirectory(prefix="callqa-mix-") as work:
        for d in docs:
            if args.only is not None and d["name"] not in args.only:
                produced.add(f"{d['file']}.{FORMATS[d['format']]['ext']}")
                produced.add(d["file"] + ".json")
                continue
            name, truth = build_call(d, args.cache, work)
            got = bucket_of(truth["duration"])
            if got != d["bucket"]:
                raise SampleError(f"{d['name']}: rendered {truth['duration']} s"
                                  f" is {got}, dialog says {d['bucket']}")
            produced.update({name, d["file"] + ".json"})
            print(f"{name:44} {truth['duration']:8.3f} s  {d['format']:20} "
                  f"{len(truth['turns']):3} turns  {d['bucket']}", flush=True)

    # drop outputs of dialogs that no longer exist (renamed or removed)
    for folder in (AUDIO_DIR, TRUTH_DIR):
        for f in os.listdir(folder):
            if f not in produced and (FILE_RE.match(f.rsplit(".", 1)[0])
                                      or f.startswith(".tmp-")):
                os.unlink(os.path.join(folder, f))
                print(f"removed stale {os.path.join(folder, f)}")


if __name__ == "__main__":
    try:
        main()
    except SampleError as e:
        sys.exit(f"make_samples: {e}")
