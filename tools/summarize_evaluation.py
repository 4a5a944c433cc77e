#!/usr/bin/env python3
"""Write docs/EVALUATION.md (and docs/img/lookahead_curve.png) from the evaluation JSON files.

    .venv/bin/python tools/summarize_evaluation.py --spec runs/eval/summary_spec.json

The spec names the JSON results to read (all produced by ``emotalk evaluate``,
``tools/align_error.py`` and ``emotalk_ros.training.silence``)::

    {"shipped": {"name": "emotalk-default-4", "real": "...json", "flite": "...json",
                 "silence": "...json"},
     "lowlatency": {... same keys ...},
     "previous": {"name": "emotalk-default-3", "real": "...json", "flite": "...json",
                  "silence": "...json"},
     "candidate_a": {... same keys: a model measured and not shipped ...},
     "lookahead": {"0": {"real": "...", "flite": "..."}, "30": [{"seed": 7, "real": ...},
                   {"seed": 8, ...}], ...},        (one result, or one per seed)
     "seeds": {"7": {"real": "...", "flite": "..."}, "8": {...}},
     "align_error": "runs/align_error.json", "real_dev": "data/real_dev/meta.json",
     "real_train": "data/real_train/meta.json", "times": {...}, "notes": ["..."],
     "overview": {"title": "...", "text": ["..."], "real": "...json",
                  "synthetic": {"English (Flite voices, synthetic)": "...json"}},
     "include": [{"title": "...", "text": ["..."], "file": "...md", "demote": 1}],
     "sweep": {"title": "...", "text": ["..."], "rows": [{"name": "...", "recipe": "...",
               "real": "...json", "flite": "...json", "silence": "...json"}]}}

``overview`` puts every language of a real-speech result and any synthetic results in one
table with the issue's targets (model against the amplitude baseline and the teacher);
``include`` appends markdown files verbatim (headings demoted, the first title dropped);
``sweep`` is one row per model: pooled real-speech metrics, the Flite checks it fails and the
silence verdict.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

LANG_NAMES = {"en": "English", "cs": "Czech", "nl": "Dutch", "es": "Spanish", "fr": "French",
              "it": "Italian", "ru": "Russian"}


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def fmt(v, d=3):
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int,)):
        return str(v)
    return f"{v:.{d}f}"


def lip(res, system, eng):
    s = res["systems"][system]["lip"]
    return s["pooled"] if eng == "all" else s["per_engine"].get(eng)


def lang_of(eng):
    return eng.split(":")[-1]


def real_table(res, title_model):
    engines = list(res["engines"]) + ["all"]
    md = ["| language | system | clips | /p b m/ closure | open vowels | aperture corr. | "
          "corr. over baseline | pause opening | lag (frames) |",
          "|---|---|---|---|---|---|---|---|---|"]
    for eng in engines:
        base = lip(res, "baseline", eng)
        for sysname in ("model", "baseline", "teacher"):
            d = lip(res, sysname, eng)
            over = "" if sysname != "model" else fmt(
                d["aperture_correlation"] - base["aperture_correlation"])
            name = title_model if sysname == "model" else sysname
            lang = "**all**" if eng == "all" else LANG_NAMES.get(lang_of(eng), lang_of(eng))
            md.append(f"| {lang} | {name} | {d['n_utterances']} | "
                      f"{fmt(d['bilabial_closure'])} ({d['n_bilabial']}) | "
                      f"{fmt(d['open_vowel_opening'])} | {fmt(d['aperture_correlation'])} | "
                      f"{over} | {fmt(d['silence_closure'])} | "
                      f"{fmt(d.get('best_lag_frames'), 2)} |")
    return md


def checks_table(res):
    rows = res["real_checks"]
    names = [r["check"] for r in rows["all"]]
    md = ["| language | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for eng, rs in rows.items():
        lang = "**all**" if eng == "all" else LANG_NAMES.get(lang_of(eng), lang_of(eng))
        cells = []
        for r in rs:
            verdict = "-" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")
            cells.append(f"{fmt(r['value'], 3)} {verdict}")
        md.append(f"| {lang} | " + " | ".join(cells) + " |")
    return md


def overview_table(real, synthetic):
    """One row per language (every real-speech language, then each synthetic set): model,
    baseline and teacher side by side, and the model's verdict on the real-speech targets
    (``emotalk_ros.training.evaluate.real_checks``)."""
    from emotalk_ros.training.evaluate import real_checks

    sets = [(LANG_NAMES.get(lang_of(e), lang_of(e)), real, e) for e in real["engines"]]
    sets += [(label, res, "all") for label, res in synthetic]
    md = ["| language | clips | /p b m/ closure model / baseline / teacher | open vowels model / "
          "baseline | aperture corr. model / baseline / teacher | corr. over baseline | "
          "pause opening model / baseline | best lag (frames) model / baseline / teacher | "
          "targets missed |", "|---|---|---|---|---|---|---|---|---|"]
    for label, res, eng in sets:
        m, b, t = (lip(res, n, eng) for n in ("model", "baseline", "teacher"))
        checks = real_checks(res)["all" if eng == "all" else eng]
        missed = [r["check"] for r in checks if r["pass"] is False]
        md.append(f"| {label} | {m['n_utterances']} | {fmt(m['bilabial_closure'])} / "
                  f"{fmt(b['bilabial_closure'])} / {fmt(t['bilabial_closure'])} | "
                  f"{fmt(m['open_vowel_opening'])} / {fmt(b['open_vowel_opening'])} | "
                  f"{fmt(m['aperture_correlation'])} / {fmt(b['aperture_correlation'])} / "
                  f"{fmt(t['aperture_correlation'])} | "
                  f"{m['aperture_correlation'] - b['aperture_correlation']:+.3f} | "
                  f"{fmt(m['silence_closure'])} / {fmt(b['silence_closure'])} | "
                  f"{fmt(m.get('best_lag_frames'), 2)} / {fmt(b.get('best_lag_frames'), 2)} / "
                  f"{fmt(t.get('best_lag_frames'), 2)} | {', '.join(missed) or 'none'} |")
    return md


def sweep_table(rows):
    """One row per model of a sweep: pooled real-speech metrics, failed Flite checks, silence."""
    md = ["| model | recipe | closure | open vowels | corr. (baseline) | pause | lag (frames) | "
          "Flite checks failed | silence |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        real = load(r["real"])
        m, b = lip(real, "model", "all"), lip(real, "baseline", "all")
        failed = "n/a"
        if r.get("flite"):
            fl = load(r["flite"])
            bad = [c for c in fl["checks"]["model"] if c["pass"] is False]
            failed = ", ".join(
                f"{c['check']} " + (c["value"] if isinstance(c["value"], str)
                                    else fmt(c["value"], 5)) for c in bad) or "none"
        sil = "n/a" if not r.get("silence") else ("PASS" if load(r["silence"])["pass"] else "FAIL")
        md.append(f"| {r['name']} | {r.get('recipe', '')} | {fmt(m['bilabial_closure'])} | "
                  f"{fmt(m['open_vowel_opening'])} | {fmt(m['aperture_correlation'])} "
                  f"({fmt(b['aperture_correlation'])}) | {fmt(m['silence_closure'])} | "
                  f"{fmt(m.get('best_lag_frames'), 2)} | {failed} | {sil} |")
    return md


def included(path, demote):
    """A markdown file's lines without its first title, headings demoted ``demote`` levels."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().rstrip("\n").split("\n")
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return [("#" * demote + ln) if ln.startswith("#") else ln for ln in lines]


def flite_row(res):
    chk = {r["check"]: r for r in res["checks"]["model"]}
    p = res["systems"]["model"]["lip"]["pooled"]
    return {"closure": p["bilabial_closure"], "open": p["open_vowel_opening"],
            "corr": p["aperture_correlation"], "silence": p["silence_closure"],
            "lag": p.get("best_lag_frames"), "jitter": res["systems"]["model"]["jitter"],
            "jitter_target": 1.5 * res["systems"]["teacher"]["jitter"],
            "emotion": chk["emotion response"]["value"],
            "continuity": chk["continuity"]["value"],
            "full": chk["closure at full intensity"]["value"],
            "all_pass": all(r["pass"] is not False for r in res["checks"]["model"])}


def curve_plot(points, path):
    """``points``: {look-ahead ms: {key: value or [value per seed]}} -> a two-panel figure:
    the mean over seeds, and their range as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    la = sorted(points)

    def series(key):
        vals = [points[x].get(key) for x in la]
        vals = [v if isinstance(v, list) else [v] for v in vals]
        ok = [i for i, v in enumerate(vals) if v and all(u is not None for u in v)]
        xs = [la[i] for i in ok]
        mean = np.array([np.mean(vals[i]) for i in ok])
        lo = mean - np.array([min(vals[i]) for i in ok])
        hi = np.array([max(vals[i]) for i in ok]) - mean
        return xs, mean, [lo, hi]

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for a, keys, ylabel in (
            (ax[0], (("real_closure", "closure, real speech", "o-"),
                     ("flite_closure", "closure, Flite", "s--")), "bilabial closure"),
            (ax[1], (("real_corr", "correlation, real speech", "o-"),
                     ("flite_corr", "correlation, Flite", "s--"),
                     ("real_base", "amplitude baseline, real", ":")), "aperture correlation")):
        for key, label, style in keys:
            xs, mean, err = series(key)
            if xs:
                a.errorbar(xs, mean, yerr=err, fmt=style, capsize=3, label=label)
        a.set_ylabel(ylabel)
        a.set_xlabel("look-ahead (ms)")
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle("Quality against look-ahead (mean of the seeds; bars: their range)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--spec", required=True)
    p.add_argument("--out", default="docs/EVALUATION.md")
    p.add_argument("--img", default="docs/img/lookahead_curve.png")
    a = p.parse_args(argv)
    spec = load(a.spec)
    md = ["# Evaluation", ""]
    md += spec.get("intro", [])
    summary = {}

    if "overview" in spec:
        o = spec["overview"]
        md += [f"## {o['title']}", ""] + o.get("text", []) + [""]
        md += overview_table(load(o["real"]), [(k, load(v)) for k, v in
                                               o.get("synthetic", {}).items()]) + [""]
        md += o.get("after", []) + ([""] if o.get("after") else [])

    candidates = sorted(k for k in spec if k.startswith("candidate"))
    for key in ("shipped", "lowlatency", "previous", *candidates):
        if key not in spec:
            continue
        s = spec[key]
        real = load(s["real"])
        summary[key] = {"name": s["name"], "real": {e: lip(real, "model", e) and {
            k: lip(real, "model", e)[k] for k in ("bilabial_closure", "open_vowel_opening",
                                                  "aperture_correlation", "silence_closure",
                                                  "best_lag_frames")}
            for e in list(real["engines"]) + ["all"]}}
        md += [f"## {s['title']}", ""] + s.get("text", []) + [""]
        md += real_table(real, s["name"]) + [""]
        md += ["Targets on the real-speech development set (every language and pooled):", ""]
        md += checks_table(real) + [""]
        if "flite" in s:
            fr = flite_row(load(s["flite"]))
            summary[key]["flite"] = fr
            md += [f"Held-out Flite voices (`{s['flite'].replace('.json', '.md')}`): closure "
                   f"{fmt(fr['closure'])}, open vowels {fmt(fr['open'])}, correlation "
                   f"{fmt(fr['corr'])}, silence {fmt(fr['silence'])}, lag "
                   f"{fmt(fr['lag'], 2)} frames, emotion response {fr['emotion']}, "
                   f"continuity {fr['continuity']}, closure at full intensity {fr['full']}, "
                   f"jitter {fmt(fr['jitter'], 5)} (target <= {fmt(fr['jitter_target'], 5)}); "
                   f"every Flite target {'passes' if fr['all_pass'] else 'does NOT pass'}.", ""]
        if "silence" in s:
            sil = load(s["silence"])
            w = sil["worst"]
            summary[key]["silence"] = w
            md += [f"Silence and room noise (3 s of digital silence and of -60/-50/-40 dBFS "
                   f"noise, neutral and every emotion at 1, no idle overlay; worst case): gaze "
                   f"{fmt(w['gaze'])} (<= 0.05), left/right asymmetry {fmt(w['asymmetry'])} "
                   f"(<= 0.05, contempt exempt), jaw sideways {fmt(w['jaw_sideways'])} "
                   f"(<= 0.03), held expression {fmt(w['held_ratio_min'], 2)}-"
                   f"{fmt(w['held_ratio_max'], 2)} of its strength in speech (0.8-1.2): "
                   f"{'PASS' if sil['pass'] else 'FAIL'}.", ""]

    if "lookahead" in spec:
        pts = {}
        md += ["## Quality against look-ahead", ""] + spec.get("lookahead_text", []) + [""]
        md += ["| look-ahead (ms) | seed | closure real | open real | corr. real | "
               "baseline corr. | pause real | lag real (frames) | closure Flite | corr. Flite "
               "| jitter Flite | every Flite target |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        keys = ("real_closure", "real_corr", "real_base", "flite_closure", "flite_corr")
        for la in sorted(spec["lookahead"], key=float):
            runs = spec["lookahead"][la]
            runs = runs if isinstance(runs, list) else [runs]
            pt = {k: [] for k in keys}
            for r in runs:
                real = load(r["real"])
                m, b = lip(real, "model", "all"), lip(real, "baseline", "all")
                fl = flite_row(load(r["flite"])) if r.get("flite") else None
                for k, v in zip(keys, (m["bilabial_closure"], m["aperture_correlation"],
                                       b["aperture_correlation"],
                                       fl["closure"] if fl else None,
                                       fl["corr"] if fl else None)):
                    pt[k].append(v)
                md.append(
                    f"| {la} | {r.get('seed', '')} | {fmt(m['bilabial_closure'])} | "
                    f"{fmt(m['open_vowel_opening'])} | {fmt(m['aperture_correlation'])} | "
                    f"{fmt(b['aperture_correlation'])} | {fmt(m['silence_closure'])} | "
                    f"{fmt(m.get('best_lag_frames'), 2)} | "
                    f"{fmt(fl['closure']) if fl else 'n/a'} | {fmt(fl['corr']) if fl else 'n/a'}"
                    f" | {fmt(fl['jitter'], 5) if fl else 'n/a'} | "
                    f"{('yes' if fl['all_pass'] else 'no') if fl else 'n/a'} |")
            pts[float(la)] = pt
        curve_plot(pts, a.img)
        summary["lookahead"] = pts
        rel = os.path.relpath(a.img, os.path.dirname(a.out))
        md += ["", f"![quality against look-ahead]({rel})", ""]

    if "seeds" in spec:
        md += ["## Seed-to-seed spread", ""] + spec.get("seeds_text", []) + [""]
        md += ["| seed | closure real | open real | corr. real | pause real | lag real | "
               "closure Flite | corr. Flite | jitter Flite |",
               "|---|---|---|---|---|---|---|---|---|"]
        vals = {}
        for seed, r in spec["seeds"].items():
            m = lip(load(r["real"]), "model", "all")
            fl = flite_row(load(r["flite"])) if r.get("flite") else None
            row = [m["bilabial_closure"], m["open_vowel_opening"], m["aperture_correlation"],
                   m["silence_closure"], m.get("best_lag_frames")]
            row += [fl["closure"], fl["corr"], fl["jitter"]] if fl else [None] * 3
            vals[seed] = row
            md.append(f"| {seed} | " + " | ".join(fmt(v, 5 if i == 7 else 3)
                                                  for i, v in enumerate(row)) + " |")
        cols = list(zip(*vals.values()))
        spread = [None if any(v is None for v in c) else max(c) - min(c) for c in cols]
        md.append("| spread | " + " | ".join(fmt(v, 5 if i == 7 else 3)
                                            for i, v in enumerate(spread)) + " |")
        summary["seeds"] = vals
        md += [""]

    if "align_error" in spec:
        ae = load(spec["align_error"])
        md += ["## Phone alignment of real speech", ""] + spec.get("align_text", []) + [""]
        md += ["| aligner | speech | boundaries | median | p90 | within 20 ms | within 50 ms |",
               "|---|---|---|---|---|---|---|"]
        for name, label in (("hmm", "phone classifier + Viterbi (used)"),
                            ("dtw", "DTW against espeak-ng")):
            for key, s in ae[name].items():
                md.append(f"| {label} | {key} | {s['n']} | {s['median_abs_ms']:.1f} ms | "
                          f"{s['p90_abs_ms']:.1f} ms | {s['within_20ms']:.2f} | "
                          f"{s['within_50ms']:.2f} |")
        md += [""]
        summary["align_error"] = ae

    for key in ("real_dev", "real_train"):
        if key in spec:
            m = load(spec[key])
            summary[key] = {"clips": m["clips"], "hours": m["hours"],
                            "per_speaker": m["per_speaker"], "rejected": len(m["rejected"])}
    if "real_dev" in spec:
        md += ["## The real-speech sets", ""] + spec.get("sets_text", []) + [""]
        md += ["| set | clips | hours | rejected (alignment cost or length) | speakers |",
               "|---|---|---|---|---|"]
        for key in ("real_dev", "real_train"):
            if key in summary:
                s = summary[key]
                md.append(f"| {key} | {s['clips']} | {s['hours']:.2f} | {s['rejected']} | "
                          + ", ".join(f"{k} ({v})" for k, v in sorted(s["per_speaker"].items()))
                          + " |")
        md += [""]
    if "sweep" in spec:
        sw = spec["sweep"]
        md += [f"## {sw['title']}", ""] + sw.get("text", []) + [""]
        md += sweep_table(sw["rows"]) + [""] + sw.get("after", []) + [""]
    for inc in spec.get("include", []):
        md += [f"## {inc['title']}", ""] + inc.get("text", []) + [""]
        md += included(inc["file"], inc.get("demote", 1)) + [""]
    md += spec.get("outro", [])
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.splitext(a.out)[0] + "_summary.json", "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
