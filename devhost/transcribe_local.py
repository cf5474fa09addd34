"""``scripts/transcribe AUDIO``: the main job on one machine, through the same public API customers use.

Starts Azurite, then the devhost and workers laid out for the machine together (``worker.layout``: on CPU one
1-thread process per core with batch 2, memory permitting; on GPU one process per GPU with a batch sized to its
memory; ``--workers``, ``--threads`` and ``--batch-size`` override each part); uploads AUDIO with the client as soon
as the devhost answers, while the workers load their models; follows the job's progress; writes
``transcript.{json,txt,srt,vtt}`` to ``--out`` (default ``./transcripts/<name>/``) and prints the text. The stack
keeps its state in ``.transcribe/<run>/`` until the job is done, so an interrupted run (Ctrl-C, a crash, a slow
service) is resumed with ``scripts/transcribe --resume .transcribe/<run>``: the upload continues where it stopped and
the job where its orchestration was; ``scripts/transcribe --cancel .transcribe/<run>`` drops it instead (and cancels
its job on a warm stack). Each run's folder is its own (``devhost.run_folders``), and what would make a job fail
anyway is refused before a stack starts (``devhost.preflight``). Ctrl-C and SIGTERM stop the command within seconds
whenever they come, exit 130 or 143, and stop what it started (``devhost.interrupts``); a stack that dies under a
job ends the run with the resume hint instead of retries until ``--timeout``.

When ``scripts/up`` keeps a stack running (its state in ``.transcribe/stack.json``), healthy and with this run's
model and windows (and layout, where the command line sets one), the job goes to that stack and none is started;
a run on it resumes on it while it runs, and starts its job again once it is gone (its storage went with it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from client.api import ApiError, TranscriptionApi
from client.block_upload import FileChangedError, UploadError
from client.cli import add_language_options
from client.follow import follow_job, languages_heard
from client.uploads import upload_file
from devhost import interrupts
from devhost.preflight import Refused, check_audio, check_out, display_name, from_caller
from devhost.run_cancel import CancelError, cancel_job
from devhost.run_folders import RunFolderError, RunLock, new_folder, read_run_file, write_run_file
from devhost.stack import STATE_FILE, LocalStack, StackState, job_settings, pid_alive, runs_dir, worker_layout
from shared.errors import ServiceError
from shared.transcripts.formats import EXTENSIONS
from shared.uploads.filenames import sanitize_filename
from worker.layout import window_for

FORMATS = EXTENSIONS  # what a run downloads: every format (shared/transcripts/formats.py)
LAYOUT_PARTS = ("workers", "threads", "batch_size")
# One folder per run until it finishes (the stack's state, so Ctrl-C loses nothing); tests point it elsewhere. A
# running scripts/up leaves its stack's state here too (STATE_FILE).
RUNS = runs_dir()
T = TypeVar("T")
# The local service is on this machine: polling it twice a second costs little and finds the end sooner than the
# Retry-After (at least 2 s) that remote callers are asked to wait.
LOCAL_POLL_S = 0.5


class Phases:
    """Where the whole command's time goes, in seconds since ``scripts/transcribe`` began (its shell stamps
    ``TRANSCRIBE_COMMAND_START`` and ``TRANSCRIBE_BOOTSTRAPPED``, else since this process began); printed as one
    JSON line on stderr when ``TRANSCRIBE_PHASES=1`` (``bench/command_overhead.py`` reads it)."""

    def __init__(self) -> None:
        self.origin = _epoch("TRANSCRIBE_COMMAND_START") or time.time()
        self.marks: dict[str, float] = {}
        if bootstrapped := _epoch("TRANSCRIBE_BOOTSTRAPPED"):
            self.marks["bootstrap"] = round(bootstrapped - self.origin, 3)

    def mark(self, name: str, monotonic: float | None = None) -> None:
        """``name`` happened now, or at ``monotonic`` (a ``time.monotonic()`` reading)."""
        at = time.time() - (time.monotonic() - monotonic if monotonic is not None else 0.0)
        self.marks[name] = round(at - self.origin, 3)

    def report(self, **extra: Any) -> None:
        if os.environ.get("TRANSCRIBE_PHASES") == "1":
            print("phases: " + json.dumps({**self.marks, **extra}), file=sys.stderr)


def _epoch(name: str) -> float | None:
    try:
        return float(os.environ.get(name, "").replace(",", "."))
    except ValueError:
        return None


PHASES = Phases()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/transcribe", description=__doc__)
    parser.add_argument("audio", type=Path, nargs="?", help="the recording (not needed with --resume)")
    parser.add_argument("--out", type=Path, help="where transcripts go (default ./transcripts/<name>/)")
    add_language_options(parser)  # --language, --language-candidates, --translate: as python -m client upload
    parser.add_argument(
        "--workers",
        type=int,
        help="worker processes (default from the machine: one per core on CPU as memory allows, one per GPU)",
    )
    parser.add_argument("--threads", type=int, help="CPU threads per worker (default: cores / workers, at least 1)")
    parser.add_argument(
        "--batch-size",
        type=int,
        help="audio chunks each worker decodes together; 1: one at a time (default: 2 on CPU, 8-64 by GPU memory)",
    )
    parser.add_argument(
        "--model",
        default="tiny.en",
        help="a CTranslate2 model folder, or a bundled model: tiny.en (English, the default) or base (multilingual, "
        "installed on first use)",
    )
    parser.add_argument(
        "--window",
        type=float,
        help="longest segment in seconds (default: 600 on CPU, 30 s x the batch on GPU; worker/layout.py)",
    )
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="give up after this many seconds")
    parser.add_argument(
        "--timings", action="store_true", help="print where the job's time went, from its trace (as an operator sees)"
    )
    parser.add_argument(
        "--resume", type=Path, metavar="DIR", help="continue an interrupted run from its folder (with its layout)"
    )
    parser.add_argument(
        "--cancel", type=Path, metavar="DIR", help="drop an interrupted run, canceling its job where it still runs"
    )
    args = parser.parse_args(argv)
    if args.resume is not None and args.cancel is not None:
        parser.error("--resume and --cancel exclude each other")
    if args.resume is None and args.cancel is None and args.audio is None:
        parser.error("give the recording to transcribe, or --resume DIR")
    return args


@dataclass
class Run:
    """What a run needs to be resumed: kept as ``run.json`` in its folder (which also holds the stack's state)."""

    folder: Path
    audio: Path
    out: Path
    language: str | None
    workers: int
    model: str
    window: float
    timings: bool
    job_id: str | None = None
    # The rest of the layout. A run saved before these were kept resumes with cores / workers threads and the
    # worker's own batch size.
    threads: int | None = None
    batch_size: int | None = None
    gpus: int = 0
    layout: str = ""  # the start-up line's description of it
    stack_id: str | None = None  # the scripts/up stack the job went to (StackState.id); None: the run's own stack
    language_candidates: list[str] | None = None  # a run saved before these were kept asked for neither
    task: str = "transcribe"

    @classmethod
    def new(cls, args: argparse.Namespace) -> Run:
        audio = from_caller(args.audio)
        folder = new_folder(RUNS, _label(audio))
        out = from_caller(args.out or Path("transcripts") / audio.stem)
        layout, line = worker_layout(
            args.model,
            workers=args.workers,
            threads=args.threads,
            batch_size=args.batch_size,
            names=("--workers", "--threads", "--batch-size"),
        )
        run = cls(
            folder,
            audio.resolve(),
            out,
            args.language,
            layout.processes,
            args.model,
            args.window or window_for(layout),
            args.timings,
            threads=layout.threads,
            batch_size=layout.batch_size,
            gpus=layout.gpus,
            layout=line,
            language_candidates=args.language_candidates,
            task="translate" if args.translate else "transcribe",
        )
        run.save()
        return run

    @classmethod
    def load(cls, folder: Path) -> Run:
        """The run kept in ``folder``; :class:`RunFolderError` if its ``run.json`` is missing or damaged."""
        data = read_run_file(folder)
        return cls(**{**data, "folder": folder, "audio": Path(data["audio"]), "out": Path(data["out"])})

    def upload_path(self) -> Path:
        """The recording under the name the API gets (``preflight.display_name``): itself, or a link to it in the
        run's folder when its name holds bytes that are not UTF-8 (the client sends the name it sees)."""
        name = display_name(self.audio)
        if name == self.audio.name:
            return self.audio
        link = self.folder / "upload" / name
        if not link.is_symlink():
            link.parent.mkdir(exist_ok=True)
            link.symlink_to(self.audio)
        return link

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items() if k != "folder"}
        write_run_file(self.folder, data)

    def env(self) -> dict[str, str]:
        env = {"TRANSCRIBE_EXPECTED_WORKERS": str(self.workers), **job_settings(self.model, self.window)}
        if self.timings:
            env["TRANSCRIBE_TELEMETRY_DIR"] = str(self.folder / "telemetry")
        return env


def download(api: TranscriptionApi, job_id: str, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for ext in FORMATS:
        paths[ext] = out / f"transcript.{ext}"
        paths[ext].write_bytes(api.transcript(job_id, ext))
    return paths


def main(argv: list[str] | None = None) -> int:
    interrupts.install()  # again, for a direct `python -m devhost.transcribe_local`
    PHASES.mark("python")
    args = parse_args(argv)
    run: Run | None = None
    try:
        if args.cancel is not None:
            return cancel(from_caller(args.cancel))
        try:
            with interrupts.deferred():  # a signal meanwhile comes after: the run's folder is never left behind
                run, given, lock = prepare(args)
        except (Refused, RunFolderError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            return finish(run, args.timeout, given)
        finally:
            lock.release()
    except interrupts.Interrupted as exc:  # before finish() took over: no job yet, nothing to resume
        print(f"\n{exc}." + (f" {_stopped(run)}" if run is not None else ""), file=sys.stderr)
        return exc.exit_code


def prepare(args: argparse.Namespace) -> tuple[Run, frozenset[str], RunLock]:
    """The run to do, its folder locked for this process: a new one, or the one ``--resume`` names.

    Refuses (:class:`Refused`, :class:`RunFolderError`) what would fail anyway, before any stack starts.
    """
    if args.resume is not None:
        folder = from_caller(args.resume)
        run = Run.load(folder)
        lock = RunLock(folder).acquire()
        try:
            _check_resumable(run)
        except BaseException:
            lock.release()
            raise
        return run, frozenset(), lock
    check_audio(from_caller(args.audio))
    check_out(from_caller(args.out or Path("transcripts") / from_caller(args.audio).stem))
    run = Run.new(args)
    lock = RunLock(run.folder).acquire()
    return run, frozenset(part for part in LAYOUT_PARTS if getattr(args, part) is not None), lock


def _check_resumable(run: Run) -> None:
    try:
        check_audio(run.audio)
        check_out(run.out)
    except Refused as exc:
        raise Refused(
            f"{exc}: this run cannot be resumed as it is; fix that, or drop it with: "
            f"scripts/transcribe --cancel {run.folder}"
        ) from None


def finish(run: Run, timeout_s: float, given: frozenset[str]) -> int:
    """Transcribe ``run`` and say how it ended: the text, or the error and whether (and how) to resume."""
    try:
        try:
            job, telemetry = transcribe(run, timeout_s, given)
        except Exception:
            # After a signal, what broke on the way out is its doing (e.g. a process being started when it came,
            # whose start failed with it), not an error of its own
            interrupts.check()
            raise
        interrupts.check()  # a signal whose first raise was swallowed (a finalizer) still stops the run
    except interrupts.Interrupted as exc:
        print(f"\n{exc}. {_stopped(run)}", file=sys.stderr)
        return exc.exit_code
    except StackGone as exc:
        print(f"error: {exc}. {_kept(run)}", file=sys.stderr)
        return 1
    except (ApiError, UploadError) as exc:
        failed = exc.problem.get("job_error_code") if isinstance(exc, ApiError) else None
        print(f"error: {failed + ': ' if failed else ''}{exc}", file=sys.stderr)
        refused = isinstance(exc, ApiError) and run.job_id is None and 400 <= exc.status < 500
        # The file is not the one the upload began with: a resume would be refused too (the client's message says
        # to start a new upload of the file as it is now), so no hint.
        changed = isinstance(exc, FileChangedError)
        if failed or refused or changed:  # the job's own end, or the service or the file said no: nothing to resume
            _drop(run)
            return 1
        print(_kept(run), file=sys.stderr)
        return 1
    except (httpx.HTTPError, TimeoutError, OSError, RuntimeError) as exc:
        print(f"error: {type(exc).__name__}: {exc}. {_kept(run)}", file=sys.stderr)
        return 1
    result = job["result"]
    print((run.out / "transcript.txt").read_text(encoding="utf-8"), end="")
    turnaround = result.get("turnaround_s")
    took = f", {turnaround:.1f} s from upload to transcript" if turnaround else ""
    heard = languages_heard(result)
    heard = f" ({heard})" if heard else ""
    translated = ", translated to English" if result.get("task") == "translate" else ""
    print(
        f"\nJob {run.job_id}: {result['duration_s']:.1f} s of audio, {result['words']} words, language "
        f"{result['language']}{heard}{translated}{took}, RTFx {result['rtfx']}; transcripts in {run.out}/",
        file=sys.stderr,
    )
    for warning in result.get("warnings") or []:  # what the transcript must not hide (issue 22)
        print(f"warning {warning['code']}: {warning['message']}", file=sys.stderr)
    if run.timings and telemetry is not None:
        print_timings(telemetry, str(run.job_id))
    _drop(run)  # done: nothing left to resume
    PHASES.mark("done")
    PHASES.report(turnaround_s=turnaround)
    return 0


def cancel(folder: Path) -> int:
    """``--cancel DIR``: cancel the run's job where it may still run (a warm stack), then delete its folder."""
    try:
        run = Run.load(folder)
        lock = RunLock(folder).acquire()
    except RunFolderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        said = cancel_job(run.job_id, run.stack_id, RUNS / STATE_FILE)
    except (CancelError, httpx.HTTPError) as exc:
        print(f"error: {exc}; the run is kept in {folder}", file=sys.stderr)
        return 1
    finally:
        lock.release()
    _drop(run)
    print(f"{said} Deleted {folder}.", file=sys.stderr)
    return 0


class StackGone(Exception):
    """The stack the job runs on stopped under it: no answer will come, however long the command waits."""


def transcribe(run: Run, timeout_s: float, given: frozenset[str] = frozenset()) -> tuple[dict[str, Any], Path | None]:
    """Upload (or finish uploading), follow and download, on the stack ``scripts/up`` keeps running when it fits
    this run, else on the run's own stack (started, or restarted on the same state). Returns the finished job and
    the folder of its spans (``--timings``)."""
    state_path = RUNS / STATE_FILE
    if run.stack_id and run.job_id and _usable(StackState.read(state_path), run.stack_id) is None:
        print(
            f"The stack from scripts/up that held job {run.job_id} is gone (and its storage with it): "
            "starting the job again.",
            file=sys.stderr,
        )
        run.job_id = run.stack_id = None
        run.save()
    if not run.job_id or run.stack_id:  # a job on the run's own stack continues there, in its saved state
        warm = warm_stack(run, given, state_path)
        if warm is not None:
            print(f"Reusing the stack from scripts/up at {warm.base_url} ({warm.layout}).", file=sys.stderr)
            run.stack_id = warm.id
            run.save()
            api = TranscriptionApi(warm.base_url, warm.function_key)
            try:
                job = _job(
                    run, api, timeout_s, lambda: None, Watch(f"the stack from scripts/up at {warm.base_url}", warm.gone)
                )
            finally:
                api.close()
            telemetry = warm.settings.get("telemetry_dir")
            return job, Path(telemetry) if telemetry else None
    threads = run.threads or max(1, (os.cpu_count() or 1) // run.workers)
    layout = run.layout or f"{run.workers} worker(s) x {threads} thread(s)"
    print(f"Starting the local stack: Azurite, devhost, {layout}...", file=sys.stderr)
    stack = LocalStack(
        env=run.env(),
        workers=run.workers,
        worker_threads=threads,
        worker_batch_size=run.batch_size,
        worker_gpus=run.gpus,
        workdir=run.folder / "stack",
        wait_for_workers=False,  # the upload starts while the workers load their models
    )
    stack.start()  # stops what it started if it fails (or is interrupted) on the way
    try:
        PHASES.mark("azurite", stack.azurite.process.ready_at)
        PHASES.mark("devhost", stack.devhost.ready_at if stack.devhost else None)
        api = TranscriptionApi(stack.base_url, stack.function_key)
        try:
            job = _job(run, api, timeout_s, stack.wait_workers, Watch("this run's stack", stack.gone))
        finally:
            api.close()
        for worker in stack.workers:
            PHASES.mark(worker.name, worker.ready_at)
    finally:
        with interrupts.deferred():  # a signal now must not cut the stop short (and leave processes behind)
            stack.stop()
    PHASES.mark("stop")
    return job, run.folder / "telemetry"


class Watch:
    """Between polls: stop for a signal, and notice the stack is gone (a stopped ``scripts/up``, a crashed devhost)
    instead of retrying "the service did not answer" until ``--timeout``."""

    def __init__(self, stack: str, gone: Callable[[], str | None]) -> None:
        self.stack, self.gone = stack, gone

    def check(self) -> None:
        interrupts.check()
        problem = self.gone()
        if problem is not None:
            raise StackGone(f"{self.stack} stopped ({problem})")

    def sleep(self, seconds: float) -> None:
        self.check()
        time.sleep(seconds)


def _job(
    run: Run, api: TranscriptionApi, timeout_s: float, workers_ready: Callable[[], None], watch: Watch
) -> dict[str, Any]:
    show = sys.stderr.isatty()

    def remember(session: dict[str, Any]) -> None:
        run.job_id = str(session["job_id"])
        run.save()

    try:
        source = run.upload_path()
        _in_thread(
            lambda: upload_file(
                api,
                source,
                resume_job_id=run.job_id,
                language=run.language,
                language_candidates=run.language_candidates,
                task=run.task,
                show_progress=show,
                on_session=remember,
            )
        )
        watch.check()
        PHASES.mark("upload")
        workers_ready()  # the job was probed and planned meanwhile; its segments need the workers
        PHASES.mark("workers")
        job = follow_job(api, str(run.job_id), timeout_s, show, sleep=watch.sleep, max_poll_s=LOCAL_POLL_S)
        watch.check()
        PHASES.mark("job")
        download(api, str(run.job_id), run.out)
    except (httpx.HTTPError, UploadError, ApiError, RuntimeError) as exc:
        problem = watch.gone()  # the stack died under the call: say that, not the call's symptom
        if problem is not None:
            raise StackGone(f"{watch.stack} stopped ({problem})") from exc
        raise
    PHASES.mark("download")
    return job


def _in_thread(work: Callable[[], T]) -> T:
    """``work()`` in a thread of its own, this (main) thread waiting in short joins where a signal is handled at once.

    On Ctrl-C during an upload the client stops starting blocks but waits for those in flight, which on a busy
    stack took many seconds: the run was still going 20 s after its Ctrl-C. Here the command stops the stack and
    leaves without them (``devhost.transcribe_command``); the service keeps what arrived, and a resume sends the rest.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the main thread, raised there
            failure.append(exc)

    thread = threading.Thread(target=target, name="upload", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.2)
    if failure:
        raise failure[0]
    return outcome[0]


def _usable(state: StackState | None, stack_id: str | None = None) -> StackState | None:
    """``state`` if its stack is running and healthy (and is the one with ``stack_id``, when given)."""
    if state is None or (stack_id is not None and state.id != stack_id) or state.problem() is not None:
        return None
    return state


def warm_stack(run: Run, given: frozenset[str], state_path: Path) -> StackState | None:
    """The stack ``scripts/up`` keeps running, if there is one, it is healthy and its settings are this run's.

    Says in one line why a stack that is there is not used.
    """
    state = StackState.read(state_path)
    if state is None:
        return None
    problem = state.problem()
    if problem is not None:
        if not pid_alive(state.pid):  # left behind by a scripts/up that was killed
            state_path.unlink(missing_ok=True)
        print(f"Not using the stack from scripts/up ({state_path}): {problem}.", file=sys.stderr)
        return None
    differences = conflicts(state, run, given)
    if differences:
        print(f"Not using the stack from scripts/up: it runs {'; '.join(differences)}.", file=sys.stderr)
        return None
    return state


def conflicts(state: StackState, run: Run, given: frozenset[str] = frozenset()) -> list[str]:
    """How the stack in ``state`` differs from what ``run`` asks for, one phrase each (empty: it fits).

    The model and the windows must be the run's (they shape the transcript); the workers' layout only where the
    run's command line set a part of it (``given``); ``--timings`` needs a stack that writes its spans to files.
    """
    have = state.settings
    wanted = job_settings(run.model, run.window)
    differences = []
    if not _same_model(str(have.get("model")), run.model):
        differences.append(f"model {have.get('model')} (this run: {run.model})")
    for key, name in (
        ("window", "TRANSCRIBE_SEGMENT_WINDOW_S"),
        ("min_window", "TRANSCRIBE_SEGMENT_MIN_WINDOW_S"),
        ("overlap", "TRANSCRIBE_SEGMENT_OVERLAP_S"),
    ):
        if _float(have.get(key)) != float(wanted[name]):
            differences.append(f"{key.replace('_', ' ')} {have.get(key)} s (this run: {float(wanted[name]):g} s)")
    if not have.get("workers"):
        differences.append("no workers (DEVHOST_WORKERS=0)")
    ours = {"workers": run.workers, "threads": run.threads, "batch_size": run.batch_size}
    for part in LAYOUT_PARTS:
        if part in given and have.get(part) != ours[part]:
            flag = "--" + part.replace("_", "-")
            differences.append(f"{part.replace('_', ' ')} {have.get(part)} (this run: {flag} {ours[part]})")
    if run.timings and not have.get("telemetry_dir"):
        differences.append("without spans for --timings (start it with TRANSCRIBE_TELEMETRY_DIR set)")
    return differences


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _same_model(a: str, b: str) -> bool:
    if a == b:
        return True
    pa, pb = Path(a), Path(b)
    return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()


def _kept(run: Run) -> str:
    job = f"job {run.job_id}" if run.job_id else "the upload"
    return (
        f"The state of {job} is kept in {run.folder}; resume with: scripts/transcribe --resume {run.folder} "
        f"(or drop it with: scripts/transcribe --cancel {run.folder})"
    )


def _stopped(run: Run) -> str:
    """After a signal: the resume hint once a job exists; before that there is nothing to resume."""
    if run.job_id:
        return _kept(run)
    _drop(run)
    return "No job had been created: nothing to resume."


def _drop(run: Run) -> None:
    shutil.rmtree(run.folder, ignore_errors=True)


def _label(audio: Path) -> str:
    """The run folder's name part for ``audio``: the API's ASCII slug of its name (safe to copy from a hint)."""
    try:
        return Path(sanitize_filename(display_name(audio)).blob_name).stem
    except ServiceError:
        return "audio"


def print_timings(folder: Path, job_id: str) -> None:
    from devhost.timings import breakdown, render
    from shared.telemetry.files import read_spans

    print(f"\nWhere the time went (spans in {folder}):", file=sys.stderr)
    print(render(breakdown(read_spans(folder), job_id)), file=sys.stderr)


if __name__ == "__main__":
    interrupts.leave(main())
