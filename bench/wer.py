#!/usr/bin/env python3
"""Word error rate per speaker of callqa transcripts against the sample
generator's truth files (samples/truth/*.json). Standard library only.

usage: wer.py TRANSCRIPT.json [TRANSCRIPT.json ...]
Prints one line per transcript and speaker, and the totals.
"""
import json
import re
import sys
from pathlib import Path

TRUTH = Path(__file__).resolve().parent.parent / "samples" / "truth"


def words(text):
    text = text.lower().replace("ё", "е")
    return re.findall(r"\w+", text)


def distance(ref, hyp):
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def main(paths):
    totals = {}
    for p in paths:
        t = json.load(open(p, encoding="utf-8"))
        stem = Path(t["source"]["path"]).stem
        truth = json.load(open(TRUTH / f"{stem}.json", encoding="utf-8"))
        mono = truth["channels"] == 1
        for who in (["unknown"] if mono else ["agent", "customer"]):
            ref = [w for turn in truth["turns"] if mono or turn["speaker"] == who for w in words(turn["text"])]
            hyp = [w for s in t["segments"] if s["speaker"] == who for w in words(s["text"])]
            d = distance(ref, hyp)
            e, n = totals.get(who, (0, 0))
            totals[who] = (e + d, n + len(ref))
            print(f"{stem} {who:8} WER {100 * d / max(1, len(ref)):5.1f}%  ({d} errors / {len(ref)} words)")
    for who, (e, n) in totals.items():
        print(f"TOTAL {who:8} WER {100 * e / max(1, n):5.1f}%  ({e} / {n})")


if __name__ == "__main__":
    main(sys.argv[1:])
