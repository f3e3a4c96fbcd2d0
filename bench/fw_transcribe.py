#!/usr/bin/env python3
"""Transcribe stereo calls with faster-whisper the way the throughput issue
measures it (float32, greedy, its VAD on, both channels: left = agent, right =
customer) and store callqa transcripts (schema callqa.transcript/1), so callqa
can score them and bench/wer.py can compare them.

usage: fw_transcribe.py MODEL_DIR OUT_DIR THREADS CALL...
Prints one line of JSON: audio seconds and wall seconds (model load included).
"""
import hashlib
import json
import sys
import time
from pathlib import Path

from faster_whisper import WhisperModel
from faster_whisper.audio import decode_audio

SR = 16000


def main(model_dir, out_dir, threads, calls):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    model = WhisperModel(model_dir, device="cpu", compute_type="float32", cpu_threads=int(threads))
    audio_total = 0.0
    for call in map(Path, calls):
        channels = decode_audio(str(call), sampling_rate=SR, split_stereo=True)
        duration = len(channels[0]) / SR
        audio_total += duration
        segments = []
        for speaker, pcm in zip(("agent", "customer"), channels):
            found, _ = model.transcribe(pcm, language="ru", beam_size=1, vad_filter=True)
            segments += [
                {"start": s.start, "end": s.end, "speaker": speaker, "text": s.text.strip()}
                for s in found
            ]
        segments.sort(key=lambda s: s["start"])
        transcript = {
            "schema": "callqa.transcript/1",
            "source": {
                "path": call.name,
                "sha256": hashlib.sha256(call.read_bytes()).hexdigest(),
                "duration": duration,
                "channels": 2,
                "sample_rate": SR,
                "codec": "decoded by faster-whisper",
            },
            "recognition": {
                "model": "faster-whisper " + Path(model_dir).name,
                "model_sha256": "",
                "language": "ru",
                "settings": "float32, greedy, vad_filter",
            },
            "segments": segments,
        }
        (out / f"{call.stem}.json").write_text(json.dumps(transcript, ensure_ascii=False, indent=1))
    print(json.dumps({"audio_s": audio_total, "wall_s": time.monotonic() - started}))


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
