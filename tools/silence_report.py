#!/usr/bin/env python3
"""The face of a model in digital silence and room noise, with every emotion held
(``emotalk_ros/training/silence.py``): prints the table, writes JSON.

    .venv/bin/python tools/silence_report.py models/emotalk_default.onnx --out runs/eval/x.json
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from emotalk_ros.generator.loading import load_predictor  # noqa: E402
from emotalk_ros.training.silence import report_markdown, silence_report  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    backend = "onnxruntime" if a.model.endswith(".onnx") else "torch"
    rep = silence_report(load_predictor(a.model, backend, fps=60.0))
    sys.stdout.write(report_markdown(rep))
    print(json.dumps(rep["worst"]), "PASS" if rep["pass"] else "FAIL")
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(rep, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
