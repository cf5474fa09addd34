#!/usr/bin/env bash
# Regenerate the committed test clips from speech.txt and long.txt (see README.md beside this file).
#
# Needs espeak-ng, sox (with FLAC) and ffmpeg (libmp3lame, aac, libopus). The output is deterministic for a given
# set of tool versions (sox -R seeds dither, ffmpeg runs with +bitexact and no metadata); other versions may give
# other bytes but the same durations and formats, which is all the tests rely on (through clips.json).
set -euo pipefail

cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

VOICE=en-us
SPEED=150
FF=(ffmpeg -hide_banner -loglevel error -nostdin -y)
EXACT=(-map_metadata -1 -fflags +bitexact -flags:a +bitexact)  # output options: no tags, no version strings

speak() { # speak TEXT_FILE OUT_WAV: 22.05 kHz mono PCM16, normalised to -3 dBFS so resampling cannot clip
    espeak-ng -v "$VOICE" -s "$SPEED" -w "$tmp/raw.wav" -f "$1"
    sox -R "$tmp/raw.wav" "$2" gain -n -3
}

# --- the short passage in five formats ---------------------------------------------------------------------------
speak speech.txt "$tmp/speech.wav"
sox -R -D "$tmp/speech.wav" -r 16000 -c 1 -b 16 speech_16k_mono.wav
sox -R -D "$tmp/speech.wav" -r 44100 -c 2 -b 16 -C 8 speech_44k_stereo.flac
"${FF[@]}" -i "$tmp/speech.wav" "${EXACT[@]}" -c:a libmp3lame -b:a 48k speech.mp3                      # CBR, 22.05 kHz, Xing header
"${FF[@]}" -i "$tmp/speech.wav" "${EXACT[@]}" -ar 44100 -c:a aac -b:a 48k -movflags +faststart speech.m4a
"${FF[@]}" -i "$tmp/speech.wav" "${EXACT[@]}" -c:a libopus -b:a 24k speech.opus                        # Ogg Opus, 48 kHz

# --- the long clip: one passage per paragraph of long.txt, 1.5 s of silence between them -------------------------
awk -v dir="$tmp" 'BEGIN { RS = ""; n = 0 } { n++; print > (dir "/para" sprintf("%02d", n) ".txt") }' long.txt
sox -R -D -n -r 22050 -c 1 -b 16 "$tmp/gap.wav" trim 0 1.5
parts=()
for para in "$tmp"/para*.txt; do
    speak "$para" "${para%.txt}.wav"
    [ ${#parts[@]} -gt 0 ] && parts+=("$tmp/gap.wav")
    parts+=("${para%.txt}.wav")
done
sox -R -D "${parts[@]}" -r 16000 -c 1 -b 16 -C 8 long.flac

# --- bad and edge-case inputs ------------------------------------------------------------------------------------
printf 'This is a text file with a .wav name.\nIt holds no audio at all, only these words.\n' > not_audio.wav
: > empty.wav
size=$(stat -c %s speech_44k_stereo.flac)
head -c $((size / 3)) speech_44k_stereo.flac > truncated.flac                # headers intact, audio cut at 1/3
sox -R -D -n -r 16000 -c 1 -b 16 silence.wav trim 0 2

# --- expected values for the tests: duration from sox where it reads the format, else from ffprobe --------------
duration() {
    soxi -D "$1" 2>/dev/null || ffprobe -v error -show_entries format=duration -of csv=p=0 "$1"
}
{
    echo "{"
    first=1
    for clip in speech_16k_mono.wav speech_44k_stereo.flac speech.mp3 speech.m4a speech.opus long.flac silence.wav; do
        [ $first -eq 1 ] || echo ","
        first=0
        printf '  "%s": {"duration_s": %s}' "$clip" "$(duration "$clip")"
    done
    printf '\n}\n'
} > clips.json

ls -l ./*.wav ./*.flac ./*.mp3 ./*.m4a ./*.opus clips.json
