#!/usr/bin/env python3
"""Stage outcomes of sample calls: write reference transcripts from the
sample truth, and compare results.json files against the reference.

usage: stages.py truth OUT_DIR CALL...        reference transcripts of CALLs
       stages.py compare REF.json NAME=RESULTS.json...
Standard library only.
"""
import json
import sys
from pathlib import Path

TRUTH = Path(__file__).resolve().parent.parent / "samples" / "truth"


def truth_transcripts(out_dir, calls):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for call in map(Path, calls):
        truth = json.load(open(TRUTH / f"{call.stem}.json", encoding="utf-8"))
        mono = truth["channels"] == 1
        transcript = {
            "schema": "callqa.transcript/1",
            "source": {
                "path": call.name,
                "sha256": "",
                "duration": truth["duration"],
                "channels": truth["channels"],
                "sample_rate": 8000,
                "codec": "sample truth",
            },
            "segments": [
                {
                    "start": t["start"],
                    "end": t["end"],
                    "speaker": "unknown" if mono else t["speaker"],
                    "text": t["text"],
                }
                for t in sorted(truth["turns"], key=lambda t: t["start"])
            ],
        }
        (out / f"{call.stem}.json").write_text(json.dumps(transcript, ensure_ascii=False, indent=1))


def outcomes(path):
    results = json.load(open(path, encoding="utf-8"))
    return {
        (Path(c["call"]).stem, s["id"]): s["outcome"]
        for c in results["calls"]
        for s in c["stages"]
    }


def compare(ref_path, named):
    ref = outcomes(ref_path)
    for arg in named:
        name, path = arg.split("=", 1)
        got = outcomes(path)
        same = sum(1 for k, v in ref.items() if got.get(k) == v)
        print(f"{name:16} stage agreement with the sample truth: {same}/{len(ref)} ({100 * same / max(1, len(ref)):.0f}%)")
        for k, v in sorted(ref.items()):
            if got.get(k) != v:
                print(f"  {k[0]} {k[1]}: {got.get(k, 'missing')} (truth: {v})")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "truth":
        truth_transcripts(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) >= 4 and sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
