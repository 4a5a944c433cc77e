"""Real-speech sources (asterisk prompts, fillets-ng dialogue), the speaker-held-out split,
and the aligned-corpus writer, on a small fake package tree."""

import gzip
import os
import shutil

import numpy as np
import pytest

from emotalk_ros.core.audio import write_wav
from emotalk_ros.errors import EmotalkError
from emotalk_ros.training import evaluate, realspeech
from emotalk_ros.training.synth.corpus import Corpus, build_real_corpus

LUA = '''
dialogId("let-m-divna", "font_small", "What kind of strange ship is that?")
dialogStr("Co je to za divnou lod?")

dialogId("let-v-vrak0", "font_big", "This is the wreck of the airplane.")
dialogStr("To je vrak dopravniho letadla.")

dialogId("let-x-mumble", "", "")
dialogStr("")
'''


def tone(path, seconds=1.2):
    t = np.arange(int(seconds * 16000)) / 16000
    x = np.where((t > 0.3) & (t < 0.9), 0.2 * np.sin(2 * np.pi * 200 * t), 0.0)
    write_wav(str(path), x.astype(np.float32), 16000)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    f = root / "usr/share/games/fillets-ng"
    (f / "script/airplane").mkdir(parents=True)
    (f / "script/airplane/dialogs_cs.lua").write_text(LUA, encoding="utf-8")
    (f / "script/airplane/dialogs_en.lua").write_text(LUA.replace('dialogStr("Co je to za '
                                                                  'divnou lod?")', ""))
    (f / "sound/airplane/cs").mkdir(parents=True)
    for cid in ("let-m-divna", "let-v-vrak0", "let-x-mumble"):
        tone(f / f"sound/airplane/cs/{cid}.ogg")          # ffmpeg probes the content
    doc = root / "usr/share/doc/asterisk-core-sounds-it"
    doc.mkdir(parents=True)
    with gzip.open(doc / "core-sounds-it.txt.gz", "wt", encoding="utf-8") as fh:
        fh.write("; Core Asterisk Sounds in Italian\n\nattivato: Attivato.\n"
                 "beep: [ tono ]\ndigits/1: uno\n")
    snd = root / "usr/share/asterisk/sounds/it_IT_m_Carlo"
    (snd / "digits").mkdir(parents=True)
    for name in ("attivato", "beep", "digits/1"):
        shutil.copy(f / "sound/airplane/cs/let-m-divna.ogg", snd / f"{name}.g722")
    return str(root)


def add_prompts(root, lang="fr", speaker_folder="fr", core_speaker="fr_CA_f_June"):
    """A core-sounds transcript and recordings of ``lang``, and the other speaker's GSM
    prompts: 'a' (a development text), 'b' (a training text), 'c' (no transcript)."""
    doc = os.path.join(root, f"usr/share/doc/asterisk-core-sounds-{lang}")
    os.makedirs(doc)
    with gzip.open(os.path.join(doc, f"core-sounds-{lang}.txt.gz"), "wt",
                   encoding="utf-8") as fh:
        fh.write("a: Bonjour.\nb: Au revoir.\nd: Merci.\n")
    src = os.path.join(root, "usr/share/asterisk/sounds/it_IT_m_Carlo/attivato.g722")
    core = os.path.join(root, "usr/share/asterisk/sounds", core_speaker)
    os.makedirs(core)
    shutil.copy(src, os.path.join(core, "a.g722"))   # the only development clip
    other = os.path.join(root, "usr/share/asterisk/sounds", speaker_folder)
    os.makedirs(other)
    for name in ("a", "b", "c"):
        shutil.copy(src, os.path.join(other, f"{name}.gsm"))
    os.makedirs(os.path.join(root, "usr/share/doc/asterisk-prompt-fr-armelle"))


def test_fillets_lines_have_speaker_text_and_audio(tree):
    clips = realspeech.fillets_clips(tree, "cs")
    assert [(c.clip_id, c.speaker, c.text) for c in clips] == [
        ("airplane/let-m-divna", "fillets-cs-font_small", "Co je to za divnou lod?"),
        ("airplane/let-v-vrak0", "fillets-cs-font_big", "To je vrak dopravniho letadla.")]
    assert realspeech.fillets_texts(tree, "cs", exclude={"Co je to za divnou lod?"}) == [
        "To je vrak dopravniho letadla."]


def test_asterisk_transcripts_skip_notes_and_english_is_refused(tree):
    clips = realspeech.asterisk_clips(tree, "it")
    assert [(c.clip_id, c.text, c.fmt) for c in clips] == [("attivato", "Attivato.", "g722"),
                                                            ("digits/1", "uno", "g722")]
    with pytest.raises(EmotalkError):
        realspeech.asterisk_transcripts(tree, "en")


def test_split_holds_out_the_big_fish_and_the_asterisk_speakers(tree):
    sp = realspeech.split_clips(tree)
    assert {c.speaker for c in sp["train"]} == {"fillets-cs-font_small"}
    assert {c.speaker for c in sp["dev"]} == {"fillets-cs-font_big", "it_IT_m_Carlo"}
    assert not {c.speaker for c in sp["train"]} & {c.speaker for c in sp["dev"]}
    assert realspeech.dev_texts(tree) >= {"To je vrak dopravniho letadla.", "uno"}


def test_other_speakers_prompts_train_unless_their_text_is_in_development(tree):
    with pytest.raises(EmotalkError, match="not installed"):
        realspeech.prompt_clips(tree, "fr")
    add_prompts(tree)
    clips = realspeech.prompt_clips(tree, "fr")
    assert [(c.clip_id, c.text, c.fmt, c.speaker) for c in clips] == [
        ("a", "Bonjour.", "gsm", "fr_FR_f_Armelle"), ("b", "Au revoir.", "gsm",
                                                      "fr_FR_f_Armelle")]
    with pytest.raises(EmotalkError, match="another speaker"):
        realspeech.prompt_clips(tree, "ru")
    assert not [c for c in realspeech.split_clips(tree)["train"] if c.lang == "fr"]  # opt-in
    sp = realspeech.split_clips(tree, prompts=True)
    train = {(c.speaker, c.text) for c in sp["train"]}
    assert ("fr_FR_f_Armelle", "Au revoir.") in train
    assert ("fr_FR_f_Armelle", "Bonjour.") not in train      # June says it in development
    assert {c.speaker for c in sp["dev"]} >= {"fr_CA_f_June"}
    assert not {c.speaker for c in sp["train"]} & {c.speaker for c in sp["dev"]}
    assert not {c.text for c in sp["train"]} & {c.text for c in sp["dev"]}


def test_italian_prompts_are_menardis_own_folder(tree):
    # asterisk-prompt-it-menardi itself is an empty transitional package: the GSM prompts
    # come in -gsm, under their own speaker folder, with the Italian core sounds' texts
    with pytest.raises(EmotalkError, match="asterisk-prompt-it-menardi-gsm is not installed"):
        realspeech.prompt_clips(tree, "it")
    os.makedirs(os.path.join(tree, "usr/share/doc/asterisk-prompt-it-menardi-gsm"))
    other = os.path.join(tree, "usr/share/asterisk/sounds/it_IT_f_Menardi")
    os.makedirs(os.path.join(other, "digits"))
    carlo = os.path.join(tree, "usr/share/asterisk/sounds/it_IT_m_Carlo")
    for name in ("attivato", "digits/1"):
        shutil.copy(os.path.join(carlo, f"{name}.g722"), os.path.join(other, f"{name}.gsm"))
    clips = realspeech.prompt_clips(tree, "it")
    assert [(c.clip_id, c.text, c.fmt, c.speaker) for c in clips] == [
        ("attivato", "Attivato.", "gsm", "it_IT_f_Menardi"),
        ("digits/1", "uno", "gsm", "it_IT_f_Menardi")]
    assert all(os.path.dirname(c.path).startswith(other) for c in clips)
    default = realspeech.split_clips(tree, dev_per_language=1, prompts=True)
    assert not [c for c in default["train"] if c.speaker == "it_IT_f_Menardi"]   # opt-in
    sp = realspeech.split_clips(tree, dev_per_language=1, prompts=True, prompt_langs=("it",))
    dev_it = [c.text for c in sp["dev"] if c.lang == "it"]
    train_it = [c.text for c in sp["train"] if c.speaker == "it_IT_f_Menardi"]
    assert len(dev_it) == 1 and train_it == [t for t in ("Attivato.", "uno") if t not in dev_it]


def test_the_development_spread_decides_which_prompt_texts_train(tree):
    add_prompts(tree)
    core = os.path.join(tree, "usr/share/asterisk/sounds/fr_CA_f_June")
    shutil.copy(os.path.join(core, "a.g722"), os.path.join(core, "b.g722"))
    shutil.copy(os.path.join(core, "a.g722"), os.path.join(core, "d.g722"))
    full = realspeech.split_clips(tree, prompts=True)
    assert not [c for c in full["train"] if c.speaker == "fr_FR_f_Armelle"]  # a, b both dev
    one = realspeech.split_clips(tree, dev_per_language=2, prompts=True)    # French dev: a and d
    assert [c.text for c in one["dev"] if c.lang == "fr"] == ["Bonjour.", "Merci."]
    assert [c.text for c in one["train"] if c.speaker == "fr_FR_f_Armelle"] == ["Au revoir."]


def test_a_gsm_prompt_decodes_at_16_khz(tmp_path):
    import subprocess

    t = np.arange(8000) / 8000
    x = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    wav = tmp_path / "x.wav"
    write_wav(str(wav), x, 8000)
    gsm = tmp_path / "x.gsm"
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(wav), "-ar", "8000",
                    "-ac", "1", "-f", "gsm", str(gsm)], check=True)
    y = realspeech.decode(str(gsm), "gsm")
    assert abs(y.size - 16000) <= 320                # 1 s at 16 kHz (GSM frames of 20 ms)
    assert 0.1 < np.sqrt(np.mean(y[1600:-1600] ** 2)) < 0.35   # the tone survives the codec


def test_clean_text():
    assert realspeech.clean_text("\u201cPour activer\u201d [bip] ok ") == "Pour activer ok"
    assert realspeech.clean_text("[ tono de error ]") == ""


def test_corpus_writer_round_trip_and_rejects_bad_alignments(tree, tmp_path):
    clips = realspeech.split_clips(tree)["dev"]
    al = {}
    for k, c in enumerate(clips):
        al[c.path] = {"phones": [[0.0, 0.3, "sil"], [0.3, 0.6, "aa"], [0.6, 0.9, "m"],
                                 [0.9, 1.2, "sil"]], "cost": 1.0 if k else 9.0, "seconds": 1.2}
    out = tmp_path / "dev"
    meta = build_real_corpus(clips, al, str(out), copies=2, augment=True, seed=0)
    assert meta["kind"] == "real" and len(meta["rejected"]) == 1
    corpus = Corpus(str(out))
    assert len(corpus) == 2 * (len(clips) - 1)
    c0, c1 = corpus.clip(0), corpus.clip(1)
    assert c0.meta["copy"] == 0 and c1.meta["copy"] == 1 and c0.meta["engine"].startswith("real:")
    assert c0.audio.shape == c1.audio.shape and c0.alpha.max() == 0.0
    assert c0.mel.shape[0] == c0.audio.size // 160
    assert evaluate.is_real_corpus(corpus)
    utts = evaluate.load_real_utterances(corpus, None)
    assert len(utts) == len(clips) - 1 and all(u.engine.startswith("real:") for u in utts)
    assert os.path.exists(out / "meta.json")


def test_make_real_speech_refuses_prompts_that_are_not_there(tree, tmp_path, capsys):
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "../../tools/make_real_speech.py")
    spec = importlib.util.spec_from_file_location("make_real_speech", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    add_prompts(tree)                                         # French only
    args = ["--root", tree, "--aligner", str(tmp_path / "none.pt"), "--prompts",
            "--train", str(tmp_path / "t"), "--dev", str(tmp_path / "d")]
    assert tool.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "asterisk-prompt-es-co" in err and "fr-armelle" not in err and "\n" not in err
    assert "menardi" not in err                               # Italian is opt-in
    assert not os.path.exists(tmp_path / "t")
    assert tool.main(args + ["--prompt-languages", "fr,it"]) == 2
    err = capsys.readouterr().err.strip()
    assert "asterisk-prompt-it-menardi-gsm" in err and "es-co" not in err and "\n" not in err
    assert tool.main(args + ["--prompt-languages", "fr,de"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown de" in err and "\n" not in err


KLETTRES_XML = """<!-- KDE EDU KLettres -->
<klettres>
  <language code="it">
    <menuitem><label>&amp;Italian</label></menuitem>
    <alphabet>
      <sound name="A" file="it/alpha/a.ogg" />
      <sound name="B" file="it/alpha/b.ogg" />
    </alphabet>
    <syllables>
      <sound name="BA" file="it/syllab/ba.ogg" />
      <sound name="UNO" file="it/syllab/uno.ogg" />
      <sound name="ME" file="it/syllab/missing.ogg" />
    </syllables>
  </language>
</klettres>
"""


def add_klettres(root, folder="it"):
    """KLettres' list of ``folder``: letters A and B, syllables BA and UNO (a development text
    in upper case), and ME whose file is missing."""
    base = os.path.join(root, "usr/share/klettres", folder)
    os.makedirs(os.path.join(base, "alpha"))
    os.makedirs(os.path.join(base, "syllab"))
    with open(os.path.join(base, "sounds.xml"), "w", encoding="utf-8") as f:
        f.write(KLETTRES_XML.replace('file="it/', f'file="{folder}/'))
    src = os.path.join(root, "usr/share/asterisk/sounds/it_IT_m_Carlo/attivato.g722")
    for rel in ("alpha/a.ogg", "alpha/b.ogg", "syllab/ba.ogg", "syllab/uno.ogg"):
        shutil.copy(src, os.path.join(base, rel))


def test_klettres_letters_and_syllables_with_their_speaker_and_text(tree):
    with pytest.raises(EmotalkError, match="klettres-data"):
        realspeech.klettres_clips(tree, "it")
    with pytest.raises(EmotalkError, match="no KLettres language"):
        realspeech.klettres_clips(tree, "xx")
    add_klettres(tree)
    clips = realspeech.klettres_clips(tree, "it")
    assert [(c.clip_id, c.text, c.lang, c.speaker, c.source) for c in clips] == [
        ("it/alpha/a", "A", "it", "klettres-it", "klettres"),
        ("it/alpha/b", "B", "it", "klettres-it", "klettres"),
        ("it/syllab/ba", "ba", "it", "klettres-it", "klettres"),
        ("it/syllab/uno", "uno", "it", "klettres-it", "klettres")]
    assert all(c.lang in realspeech.ESPEAK_VOICE for c in clips)
    assert all(lang in realspeech.ESPEAK_VOICE for lang in realspeech.KLETTRES_LANGS.values())
    with open(os.path.join(tree, "usr/share/klettres/it/sounds.xml"), "w") as f:
        f.write("<klettres><alphabet>")
    with pytest.raises(EmotalkError, match="not a KLettres sound list"):
        realspeech.klettres_clips(tree, "it")


def test_every_klettres_language_has_an_espeak_voice_that_speaks():
    from emotalk_ros.speech import espeak

    for folder, lang in sorted(realspeech.KLETTRES_LANGS.items()):
        syn = espeak.synthesize("ba", realspeech.ESPEAK_VOICE[lang])
        assert syn.audio.size > 1600, folder                 # at least 0.1 s of speech
        assert [p for p in syn.phones if p[2] != "sil"], folder


def test_klettres_trains_unless_its_text_is_in_development_in_any_case(tree):
    add_klettres(tree)
    assert not [c for c in realspeech.split_clips(tree)["train"] if c.source == "klettres"]
    sp = realspeech.split_clips(tree, klettres=True)
    assert "uno" in {c.text for c in sp["dev"]}                   # Carlo's digits/1
    assert [c.text for c in sp["train"] if c.source == "klettres"] == ["A", "B", "ba"]
    assert not {c.speaker for c in sp["train"]} & {c.speaker for c in sp["dev"]}


def load_tool():
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "../../tools/make_real_speech.py")
    spec = importlib.util.spec_from_file_location("make_real_speech", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_make_real_speech_refuses_klettres_or_sources_that_are_not_there(tree, tmp_path,
                                                                         capsys):
    tool = load_tool()
    base = ["--root", tree, "--aligner", str(tmp_path / "none.pt"),
            "--train", str(tmp_path / "t"), "--dev", str(tmp_path / "d")]
    assert tool.main(base + ["--klettres"]) == 2
    err = capsys.readouterr().err.strip()
    assert "klettres-data" in err and "\n" not in err
    add_klettres(tree)
    assert tool.main(base + ["--klettres", "--train-sources", "klettres,fish"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown fish" in err and "\n" not in err
    assert not os.path.exists(tmp_path / "t")


def test_max_train_spreads_each_source_on_its_own(tree, tmp_path, monkeypatch):
    """--max-train keeps up to N clips per language of every source: KLettres' Czech clips
    do not thin out the Czech fillets-ng lines, and --train-sources keeps one source alone."""
    tool = load_tool()
    add_klettres(tree, "cs")
    seen = {}

    class Stop(Exception):
        pass

    def fake_load(path):
        raise Stop

    monkeypatch.setattr(tool.PhonePosteriors, "load", staticmethod(fake_load))
    real_split = realspeech.split_clips

    def spy(*a, **k):
        out = real_split(*a, **k)
        seen["split"] = out
        return out

    monkeypatch.setattr(tool.R, "split_clips", spy)
    base = ["--root", tree, "--aligner", "x", "--train", str(tmp_path / "t"),
            "--dev", str(tmp_path / "d"), "--klettres", "--max-train", "1"]
    with pytest.raises(Stop):
        tool.main(base)
    train = seen["split"]["train"]
    assert sorted((c.source, c.lang) for c in train) == [("fillets", "cs"), ("klettres", "cs")]
    with pytest.raises(Stop):
        tool.main(base + ["--train-sources", "klettres"])
    assert {c.source for c in seen["split"]["train"]} == {"klettres"}


def test_english_klettres_speakers_are_development_only(tree):
    add_klettres(tree, "it")
    add_klettres(tree, "en")
    add_klettres(tree, "en_GB")
    train = realspeech.split_clips(tree, klettres=True)["train"]
    assert {c.speaker for c in train if c.source == "klettres"} == {"klettres-it"}
    eng = realspeech.english_dev_clips(tree)
    assert {(c.speaker, c.lang) for c in eng} == {("klettres-en", "en"),
                                                  ("klettres-en_GB", "en-gb")}
    assert [c.text for c in eng if c.speaker == "klettres-en"] == ["A", "B", "ba", "uno"]


def test_make_real_speech_english_dev_needs_its_path_and_its_package(tree, tmp_path, capsys):
    tool = load_tool()
    base = ["--root", tree, "--aligner", str(tmp_path / "none.pt"),
            "--train", str(tmp_path / "t"), "--dev", str(tmp_path / "d")]
    assert tool.main(base + ["--only", "english"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--english-dev" in err and "\n" not in err
    assert tool.main(base + ["--only", "english", "--english-dev", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err.strip()
    assert "klettres-data" in err and "\n" not in err
    assert not os.path.exists(tmp_path / "e")
