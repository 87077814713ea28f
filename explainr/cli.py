"""The ``explainr`` command line: argument parsing and file I/O, nothing else."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explainr._core.defaults import DEFAULTS
from explainr._core.errors import ExplainrError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

# numpy, torch and the rest load inside `main`, where Ctrl-C and SIGTERM are handled: this
# module imports nothing heavy, so an interrupt while torch loads is one line too.

DEFAULT_METHODS = ",".join(DEFAULTS.methods)
DEMO_MODEL = "macro_lstm"
OUTPUTS = {".html": "report", ".json": "summary", ".csv": "table", ".parquet": "table"}
OUT_HELP = ".html report, .json summary, .csv or .parquet long table (method, window, time, feature, value, input)"
log = logging.getLogger("explainr.cli")
EXIT_CODES = (
    "exit codes:\n"
    "  0    done\n"
    "  2    error: one line on stderr, 'explainr: error: ...' (also for an exception or\n"
    "       sys.exit in your model or factory, and SIGTERM); --debug adds the traceback;\n"
    "       no output or temporary file is left, an existing output file is kept\n"
    "  130  interrupted (Ctrl-C): 'explainr: interrupted', nothing left behind either"
)

EXAMPLES = {
    "demo": "example:\n  explainr demo --out reports/demo.html",
    "explain": (
        "examples:\n"
        "  explainr explain --model sunspots_gru --data models/data/sunspots.csv \\\n"
        "      --time-column year --window 30 --out reports/sunspots.html\n"
        "  explainr explain --model mypkg.models:build --weights model.safetensors \\\n"
        "      --data series.parquet --window 48 --last 4 --target 0 --out report.html\n"
        "  explainr explain --model model.keras --data series.csv --window 24 --out report.html"
    ),
    "record": (
        "example:\n  explainr record --model macro_lstm --data models/data/macro.csv \\\n"
        "      --time-column date --window 16 --last 8 --out trace.npz"
    ),
    "models": "example:\n  explainr models",
    "report": "example:\n  explainr report runs/macro.zarr --out reports/macro_global.html",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise SystemExit(_fail(f"{message} (see '{self.prog} --help')"))


def _fail(message: str) -> int:
    print(f"explainr: error: {message}", file=sys.stderr)
    return 2


def _add_model_data(p: argparse.ArgumentParser, out_help: str) -> None:
    p.add_argument(
        "--model",
        required=True,
        metavar="SPEC",
        help="zoo name (see 'explainr models'), package.module:factory or file.py:factory, "
        "a Keras .keras/.h5 file, or a pickled module file",
    )
    p.add_argument(
        "--weights",
        metavar="FILE",
        help="trained state dict for a factory model (.safetensors or torch file); required "
        "for a factory unless --random-weights",
    )
    p.add_argument(
        "--random-weights",
        action="store_true",
        help="explain a factory's model with the weights it is built with (untrained)",
    )
    p.add_argument(
        "--card",
        metavar="FILE",
        help="model card JSON (the zoo's schema): features, scaling per column, units, window, "
        "time column; the data are scaled as in training and shown in original units",
    )
    p.add_argument(
        "--unsafe-pickle",
        action="store_true",
        help="allow loading a whole pickled module (runs code from the file)",
    )
    p.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="CSV or Parquet file, one row per time step; or frames: .npy/.npz holding (n, "
        "time, channels, height, width), or NetCDF with named dims (time, y/x or lat/lon)",
    )
    p.add_argument(
        "--window",
        type=int,
        metavar="N",
        help="window length in time steps (default: the card's)",
    )
    p.add_argument(
        "--features",
        metavar="A,B,...",
        help="columns to use as features (default: the card's, or all numeric)",
    )
    p.add_argument(
        "--time-column",
        metavar="COL",
        help="column holding the time labels (default: the card's, or a date column found "
        "in the data, named on stderr)",
    )
    p.add_argument(
        "--last",
        type=int,
        default=1,
        metavar="K",
        help="cut the last K windows (default 1); all are attributed and scored, the report "
        "and summary show the latest",
    )
    p.add_argument(
        "--device", metavar="DEV", help="torch device, e.g. cpu, cuda, cuda:1 (default cpu)"
    )
    p.add_argument("--out", required=True, metavar="PATH", help=out_help)


def _add_attribution(p: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    p.add_argument(
        "--target",
        type=int,
        metavar="K",
        help="output index to explain (needed for several outputs)",
    )
    p.add_argument(
        "--methods",
        default=",".join(d.methods),
        metavar="M,M,...",
        help=f"attribution methods (default {','.join(d.methods)}); also gradient_shap, "
        "exact_shapley, occlusion",
    )
    p.add_argument(
        "--baseline",
        default=d.baselines,
        metavar="zeros|mean|FILE",
        help="what 'absent' means: zeros in the model's units (default; the training mean when "
        "the card's scaling z-scores), mean (the data file's mean per feature), or a "
        "CSV/Parquet of baseline rows with the feature columns in the data's units, cut into "
        "windows of --window rows (a background set, results averaged)",
    )
    p.add_argument(
        "--n-steps",
        type=int,
        default=d.n_steps,
        metavar="N",
        help=f"integration steps of integrated gradients (default {d.n_steps})",
    )
    p.add_argument(
        "--n-samples",
        type=int,
        metavar="N",
        help="samples of gradient_shap, kernel_shap and lime (default per method)",
    )
    p.add_argument(
        "--block",
        type=int,
        metavar="N",
        help="time steps per group of the perturbation methods (default about a tenth of the window)",
    )
    p.add_argument(
        "--group-by",
        default=d.group_by,
        choices=("time", "feature", "time_feature", *FRAME_GROUPS),
        help=f"how kernel SHAP and LIME group cells: time blocks, features, or both (default {d.group_by}); "
        "frames: patch, time_patch (= the default), channel_patch, time_channel_patch",
    )
    p.add_argument(
        "--patch",
        type=int,
        metavar="K",
        help="frames: side of the square patches of cells grouped (default about 4x4 per frame)",
    )
    p.add_argument(
        "--seed", type=int, default=d.seed, help=f"seed for sampling methods (default {d.seed})"
    )
    p.add_argument(
        "--json", action="store_true", help="print the summary as JSON on stdout (for scripts)"
    )


FRAME_GROUPS = ("patch", "time_patch", "channel_patch", "time_channel_patch")


def _add_verbosity(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    group.add_argument("-v", "--verbose", action="store_true", help="say more, with progress bars")
    _add_debug(p, argparse.SUPPRESS)


def _add_debug(p: argparse.ArgumentParser, default: Any) -> None:
    p.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="on failure, print the traceback before the one-line error",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="explainr",
        description="Explain trained recurrent models (LSTM, GRU, peephole LSTM, ConvLSTM).",
        epilog="examples:\n  explainr demo\n  explainr models\n"
        "  explainr explain --model sunspots_gru --data models/data/sunspots.csv "
        "--time-column year --window 30 --out reports/sunspots.html\n"
        "Run 'explainr COMMAND --help' for each command's options.\n\n"
        f"{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    _add_debug(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    fmt = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser(
        "demo",
        help="explain a shipped model on shipped real data and write the report",
        epilog=EXAMPLES["demo"],
        formatter_class=fmt,
    )
    p.add_argument(
        "--out",
        default="reports/demo.html",
        metavar="PATH",
        help=f"output: {OUT_HELP} (default reports/demo.html)",
    )
    p.add_argument(
        "--model", default=DEMO_MODEL, metavar="NAME", help=f"zoo model (default {DEMO_MODEL})"
    )
    p.add_argument(
        "--target",
        type=int,
        metavar="K",
        help="output to explain (classifiers: the predicted class)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    _add_verbosity(p)

    p = sub.add_parser(
        "explain",
        help="explain a model on windows of a data file; writes a report, summary or table",
        epilog=EXAMPLES["explain"],
        formatter_class=fmt,
    )
    _add_model_data(p, f"output, its kind from the suffix: {OUT_HELP}")
    _add_attribution(p)
    _add_dataset(p)
    _add_verbosity(p)

    p = sub.add_parser(
        "record",
        help="write every gate and state of a model run to an .npz file",
        epilog=EXAMPLES["record"],
        formatter_class=fmt,
    )
    _add_model_data(p, "the .npz file to write")
    _add_verbosity(p)

    p = sub.add_parser(
        "models", help="list the model zoo", epilog=EXAMPLES["models"], formatter_class=fmt
    )
    _add_verbosity(p)

    p = sub.add_parser(
        "report",
        help="render the global report of a stored run (explain --all/--stride/--store)",
        epilog=EXAMPLES["report"],
        formatter_class=fmt,
    )
    p.add_argument("run", metavar="RUN.zarr", help="a run store written by explain --store")
    p.add_argument("--out", required=True, metavar="PATH", help="the .html file to write")
    _add_verbosity(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``explainr`` console script; returns the exit code.

    0 done; 2 any failure: a bad argument or file, an error raised by the user's model or
    factory (even ``sys.exit`` in it), SIGTERM; 130 Ctrl-C. A failure is one line on stderr,
    ``explainr: error: ...`` or ``explainr: interrupted``, with the traceback only under
    ``--debug``; no output or temporary file is left and an existing output file is kept.
    """
    debug = _debug_asked(argv)
    with _signals_raise():
        try:
            args = build_parser().parse_args(argv)  # --help, --version, usage errors: SystemExit
            if args.command is None:
                build_parser().print_help()
                return 2
            return _run(args)
        except KeyboardInterrupt:
            _show_traceback(debug)
            print("explainr: interrupted", file=sys.stderr)
            return 130
        except _Terminated:
            _show_traceback(debug)
            return _fail("terminated (SIGTERM)")
        except ExplainrError as e:
            _show_traceback(debug)
            first = str(e).splitlines()[0] if str(e).strip() else type(e).__name__
            return _fail(first)
        except SystemExit:  # argparse: --help, --version, a usage error (already printed)
            raise
        except BaseException as e:  # the user's model or factory, or a bug: one line
            _show_traceback(debug)
            text = str(e).strip().splitlines()
            detail = f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
            hint = "" if debug else " (run with --debug for the traceback)"
            return _fail(f"unexpected {detail}{hint}")


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command with its notes held back until it succeeds."""
    level = logging.WARNING
    if getattr(args, "quiet", False):
        level = logging.ERROR
    elif getattr(args, "verbose", False):
        level = logging.INFO
    held = _Held()
    logging.basicConfig(level=level, handlers=[held], force=True)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _log_warning  # one held line per warning, not two on stderr
            code = _COMMANDS[args.command](args)
    except SystemExit as e:  # the user's code called sys.exit: never mistaken for success
        raise ExplainrError(
            f"the model's code called sys.exit({e.code!r}) while explainr ran it; nothing was "
            "written. A factory must return the model, a forward must return its output"
        ) from e
    held.show()
    return code


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    text = str(message).strip().splitlines()
    log.warning("%s: %s", category.__name__, text[0] if text else "")


def _debug_asked(argv: Sequence[str] | None) -> bool:
    """``--debug`` anywhere on the command line, known before parsing can fail."""
    return "--debug" in (sys.argv[1:] if argv is None else list(argv))


def _show_traceback(debug: bool) -> None:
    if debug:
        traceback.print_exc()


class _Terminated(BaseException):
    """SIGTERM, raised where the work is so that it unwinds (and cleans up) as Ctrl-C does."""


@contextmanager
def _signals_raise() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt and SIGTERM `_Terminated`, once each run.

    Further signals while the command unwinds are ignored, so the clean-up (removing a
    temporary file) finishes; a third one ends the process at once. Only the main thread
    can own signals; elsewhere (``main`` called from a thread) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = [0]

    def handler(signum: int, frame: Any) -> None:
        received[0] += 1
        if received[0] == 1:
            raise KeyboardInterrupt if signum == signal.SIGINT else _Terminated()
        if received[0] >= 3:
            os.write(2, b"explainr: interrupted\n")
            os._exit(130 if signum == signal.SIGINT else 2)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class _Held(logging.Handler):
    """Holds log notes (time column found, columns left out, ...) until the command succeeds.

    A failing command prints its one-line error only; a succeeding one prints the notes on
    stderr after its work, as ``explainr: ...`` lines.
    """

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def show(self) -> None:
        for record in self.records:
            print(f"explainr: {record.getMessage()}", file=sys.stderr)
        self.records.clear()


def _say(args: argparse.Namespace, text: str) -> None:
    """Human output on stdout, unless -q or --json (then stdout is for the JSON only)."""
    if not getattr(args, "quiet", False) and not getattr(args, "json", False):
        print(text)


def _models(args: argparse.Namespace) -> int:
    from explainr import zoo

    for card in zoo.catalogue():  # raises for a missing, empty or unreadable zoo
        name = card["name"]
        arch = card.get("architecture", {}).get("class", "?")
        print(f"{name:<20} {card.get('task', ''):<9} {arch:<20} {card.get('description', '')}")
    return 0


def _output_kind(out: str) -> str:
    """``report``, ``summary`` or ``table`` from the suffix of ``--out``; else an error."""
    suffix = Path(out).suffix.lower()
    if suffix not in OUTPUTS:
        raise ExplainrError(
            f"--out {out}: unknown suffix {suffix or '(none)'!r}; the suffix chooses what is "
            f"written: {OUT_HELP}"
        )
    return OUTPUTS[suffix]


@dataclass
class _Run:
    """What explain/record work on, read from the command line's files."""

    model: Any
    x: Any  # (windows, time, feature) in the model's units, on the device
    raw: np.ndarray  # the same windows in the data's original units
    features: list[str]
    labels: list[str]  # time labels of the last window
    card: Any  # explainr._load.Card or None
    frame: Any  # the data as read
    device: Any


def _inputs(args: argparse.Namespace) -> _Run:
    """Model, windows and card for explain/record, every argument checked."""
    import numpy as np
    import torch

    from explainr import zoo
    from explainr._frames_cli import is_frame_file
    from explainr._load import Card, load_model, read_card, read_table
    from explainr.attribution import sliding_windows

    if args.window is not None and args.window < 1:
        raise ExplainrError(f"--window must be a positive number of steps, got {args.window}")
    if args.last < 1:
        raise ExplainrError(f"--last must be at least 1, got {args.last}")
    _refuse_overwriting_inputs(args)
    device = _device(args.device)
    entry = zoo.load(args.model) if args.model in zoo.names() else None
    card: Card | None = None
    if entry is not None:
        if args.card is not None:
            raise ExplainrError(
                f"--card is for your own models; zoo model {args.model!r} has its own"
            )
        if args.weights is not None or args.random_weights:
            flag = "--weights" if args.weights is not None else "--random-weights"
            raise ExplainrError(
                f"{flag} is for factory models; zoo model {args.model!r} ships its own weights"
            )
        if args.unsafe_pickle:
            raise ExplainrError(
                f"--unsafe-pickle has nothing to unpickle: zoo model {args.model!r} is read "
                "from .safetensors; leave it out"
            )
        card = read_card(entry.card) if entry.frame_shape is None else None
    elif args.card is not None:
        card = read_card(args.card)
    features = args.features.split(",") if args.features else None
    if card is not None:
        if features is not None and features != card.features and card.mean is not None:
            raise ExplainrError(
                f"--features {args.features} differ from the {card.source}'s {card.features}, "
                "which its scaling is for; leave --features out"
            )
        features = features or card.features
    window = args.window if args.window is not None else (card.window if card else None)
    if is_frame_file(args.data):  # frames: explainr/_frames_cli.py
        model = (
            entry.model
            if entry is not None
            else load_model(args.model, args.weights, args.unsafe_pickle, args.random_weights)
        )
        return _frames_run(args, model.to(device), device)
    if window is None:
        raise ExplainrError('--window N is needed (or a --card that gives "window")')
    model = (
        entry.model
        if entry is not None
        else load_model(args.model, args.weights, args.unsafe_pickle, args.random_weights)
    )
    time_column = args.time_column or (card.time_column if card else None)
    df = read_table(args.data, time_column, features)
    if window > len(df):
        raise ExplainrError(
            f"--window {window} is longer than the data ({len(df)} rows in {args.data})"
        )
    available = len(df) - window + 1
    if args.last > available:
        raise ExplainrError(
            f"--last {args.last}: {args.data} has {len(df)} rows, so only {available} window(s) "
            f"of {window} steps; use --last {available} or less"
        )
    windows = sliding_windows(df, window, last=args.last)
    raw = windows.x.numpy().astype(np.float64)
    scaled = card.scale(raw) if card is not None else raw
    if card is not None and card.mean is not None:
        log.info("scaling the data with the %s's mean and std per feature", card.source)
    x = torch.as_tensor(scaled, dtype=torch.float32)
    model = model.to(device)
    run = _Run(
        model, x.to(device), raw, list(df.columns), windows.time_labels[-1], card, df, device
    )
    return _as_frames(run, entry.card if entry is not None else None)


def _frames_run(args: argparse.Namespace, model: Any, device: Any) -> _Run:
    """A run on frames read from an array or NetCDF file (not scaled: no card scales them)."""
    import numpy as np
    import torch

    from explainr._frames_cli import frame_names, read_frames

    data = read_frames(args.data, args.window, args.last)
    x = torch.as_tensor(data.x).to(device)
    names = frame_names(tuple(data.x.shape[2:]), data.channels)
    return _Run(model, x, data.x.astype(np.float64), names, data.time_labels, None, None, device)


def _as_frames(run: _Run, card: dict[str, Any] | None) -> _Run:
    """A zoo model whose card gives ``frame_shape`` gets its table rows as frames."""
    from explainr._frames_cli import frame_names

    shape = (card or {}).get("data", {}).get("frame_shape")
    if not shape:
        return run
    shape = tuple(int(n) for n in shape)
    shape = (1, *shape) if len(shape) == 2 else shape
    x = run.x.reshape(*run.x.shape[:2], *shape)
    raw = run.raw.reshape(*run.raw.shape[:2], *shape)
    return replace(run, x=x, raw=raw, features=frame_names(shape), card=None)


def _refuse_overwriting_inputs(args: argparse.Namespace) -> None:
    """``--out`` may not be one of the files read (also through a link or another spelling)."""
    out = Path(args.out)
    model_file = args.model.rpartition(":")[0] if ":" in args.model else args.model
    baseline = getattr(args, "baseline", None)
    inputs = {
        "--data": args.data,
        "--card": args.card,
        "--weights": args.weights,
        "--baseline": None if baseline in ("zeros", "mean") else baseline,
        "--model": model_file,
    }
    for flag, given in inputs.items():
        if given and _same_file(out, Path(given)):
            raise ExplainrError(
                f"--out {args.out} is the {flag} file {given}; writing it would destroy the "
                "input. Choose another --out"
            )


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)  # links, hard links, relative spellings
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a link loop or an unreadable folder: not the same
        return False


def _device(name: str | None) -> Any:
    import torch

    if name is None:
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as e:
        raise ExplainrError(
            f"--device {name!r} is not a torch device (cpu, cuda, cuda:1, mps)"
        ) from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ExplainrError(f"--device {name}: CUDA is not available here; use --device cpu")
    if (
        device.type == "cuda"
        and device.index is not None
        and device.index >= torch.cuda.device_count()
    ):
        raise ExplainrError(
            f"--device {name}: there are {torch.cuda.device_count()} CUDA devices here"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ExplainrError(f"--device {name}: MPS is not available here; use --device cpu")
    return device


def _baselines(args: argparse.Namespace, run: _Run) -> Any:
    """None (zeros), a mean window, or a background set from a file, in the model's units."""
    import numpy as np
    import torch

    from explainr._load import read_table

    choice = args.baseline
    if choice == "zeros":
        return None
    if run.x.dim() == 5:  # frames: the mean frame of the explained windows
        if choice != "mean":
            raise ExplainrError(f"--baseline {choice}: for frames use zeros or mean")
        return run.x.mean(dim=(0, 1), keepdim=True).expand(1, *run.x.shape[1:]).contiguous()
    window, features = run.x.shape[1], run.x.shape[2]
    if choice == "mean":
        mean = run.frame.to_numpy(dtype=np.float64).mean(axis=0)
        rows = np.broadcast_to(mean, (window, features))
    else:
        table = read_table(choice, None, run.features)
        if len(table) < window:
            raise ExplainrError(
                f"--baseline {choice} has {len(table)} rows; it needs at least one window "
                f"({window} rows) of the columns {run.features}"
            )
        values = table.to_numpy(dtype=np.float64)
        count = len(values) // window
        rows = values[len(values) - count * window :].reshape(count, window, features)
    scaled = run.card.scale(rows) if run.card is not None else rows
    return torch.as_tensor(np.asarray(scaled), dtype=torch.float32)


def _units(card: Any) -> dict[str, str] | None:
    return (card.feature_units() or None) if card is not None else None


def _explain_command(args: argparse.Namespace) -> int:
    kind = _output_kind(args.out)
    if _dataset_mode(args):
        return _dataset_command(args, kind)
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    run = _inputs(args)
    options = {
        "methods": methods,
        "target": args.target,
        "seed": args.seed,
        "group_by": args.group_by,
        "baselines": _baselines(args, run),
        "window": args.block,
        "n_steps": args.n_steps,
        "n_samples": args.n_samples,
        "patch": args.patch,
    }
    rows = len(run.x)
    return _finish(
        args,
        run,
        kind,
        options,
        title=f"{Path(args.data).name}: {args.model}",
        data_summary=f"{args.data}: {rows} window(s) of {run.x.shape[1]} steps x "
        f"{len(run.features)} features",
    )


def _demo_command(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from explainr import zoo
    from explainr._core.inputs import time_labels_of
    from explainr._core.model import call_model
    from explainr._load import read_card

    kind = _output_kind(args.out)
    entry = zoo.load(args.model)
    if entry.frame_shape is not None:
        return _demo_frames(args, entry, kind)
    x, raw = entry.windows(last=1)
    target = args.target
    if target is None and entry.task == "classify":  # explain the class the model predicts
        with torch.no_grad():
            target = int(call_model(entry.model, x)[-1].argmax())
    data = entry.card.get("data", {})
    _say(args, f"explaining zoo model {entry.name!r}: {entry.card.get('description', '')}")
    run = _Run(
        model=entry.model,
        x=x,
        raw=np.stack([w.to_numpy(dtype=np.float64) for w in raw]),
        features=list(entry.feature_names),
        labels=time_labels_of(raw[-1].index),
        card=read_card(entry.card),
        frame=None,
        device=torch.device("cpu"),
    )
    run = _as_frames(run, entry.card)
    options = {"methods": DEFAULTS.methods, "target": target, "seed": DEFAULTS.seed}
    return _finish(
        args,
        run,
        kind,
        options,
        title=f"explainr demo: {entry.name}",
        data_summary=f"{data.get('file', '')} ({data.get('source', 'shipped data')}), "
        f"last window of {entry.window} steps",
    )


def _demo_frames(args: argparse.Namespace, entry: Any, kind: str) -> int:
    """The demo of a zoo model on frames: its last test sequence."""
    import numpy as np
    import torch

    from explainr._core.model import call_model
    from explainr._frames_cli import frame_names

    x, raw = entry.windows(last=1)
    target = args.target
    if target is None and entry.task == "classify":
        with torch.no_grad():
            target = int(call_model(entry.model, x)[-1].argmax())
    _say(args, f"explaining zoo model {entry.name!r}: {entry.card.get('description', '')}")
    labels = [str(t) for t in range(x.shape[1])]
    run = _Run(
        entry.model, x, np.stack(raw), frame_names(entry.frame_shape), labels, None, None, "cpu"
    )
    options = {"methods": DEFAULTS.methods, "target": target, "seed": DEFAULTS.seed}
    source = entry.card["data"].get("source", "")
    return _finish(
        args,
        run,
        kind,
        options,
        title=f"explainr demo: {entry.name}",
        data_summary=f"{source}; the last test sequence of {x.shape[1]} frames",
    )


def _finish(
    args: argparse.Namespace, run: _Run, kind: str, options: dict[str, Any], **report: Any
) -> int:
    """Attribute, write ``--out`` in its format, print the summary (text or ``--json``)."""
    import explainr

    start = time.perf_counter()
    progress = bool(getattr(args, "verbose", False)) or (
        sys.stderr.isatty() and not getattr(args, "quiet", False)
    )
    methods = options.pop("methods")
    out = Path(args.out)
    units = _units(run.card)
    if kind == "report":
        ex = explainr.explain(
            run.model,
            run.x,
            methods=methods,
            feature_names=run.features,
            time_labels=run.labels,
            progress=progress,
            sample=len(run.x) - 1,
            raw=run.raw[-1],
            input_units=units,
            prediction_unit=run.card.unit(run.card.target)
            if run.card and run.card.target
            else None,
            **options,
            **report,
        )
        attributions = ex.attributions
        path = ex.save_html(out)
    else:
        attributions = {
            m: explainr.attribute(
                run.model,
                run.x,
                m,
                feature_names=run.features,
                time_labels=run.labels,
                raw=run.raw,
                progress=progress,
                **options,
            )
            for m in methods
        }
        path = out
    summary = _summary(attributions, run, str(path), time.perf_counter() - start)
    if kind == "summary":
        from explainr._core.files import write_atomic

        write_atomic(out, _dumps(summary) + "\n", "the summary")
    elif kind == "table":
        _write_table(out, attributions)
    _note_random(args)
    if getattr(args, "json", False):
        print(_dumps(summary))
    else:
        _say(args, f"{'report' if kind == 'report' else kind}: {path}")
        _say(args, _summary_text(summary))
        _say(args, f"took {summary['seconds']:.1f} s")
    return 0


def _note_random(args: argparse.Namespace) -> None:
    if getattr(args, "random_weights", False):
        log.warning(
            "the model ran with the weights its factory built, not trained ones (--random-weights)"
        )


def _write_table(out: Path, attributions: dict) -> Path:
    """The long table of every method (``.csv`` or ``.parquet``), written atomically."""
    import pandas as pd

    from explainr._core.files import write_atomic

    frames = []
    for method, a in attributions.items():
        frame = a.to_dataframe()
        frame.insert(0, "method", method)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    if out.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401  # pandas writes Parquet through it
        except ImportError as e:
            raise ExplainrError(
                "writing Parquet needs pyarrow: pip install 'explainr[parquet]'"
            ) from e
        write_atomic(out, lambda fh: table.to_parquet(fh, index=False), "the table")
    else:
        write_atomic(out, table.to_csv(index=False), "the table")
    return out


def _summary(attributions: dict, run: _Run, out: str, seconds: float) -> dict[str, Any]:
    """Top features, top time steps and completeness of each method, for the last window."""
    import numpy as np

    from explainr._frames_cli import top_regions

    first = next(iter(attributions.values()))
    units = _units(run.card) or {}
    target_unit = run.card.unit(run.card.target) if run.card and run.card.target else None
    methods = {}
    for method, a in attributions.items():
        by_feature, by_time = a.by_feature()[-1], a.by_time()[-1]
        top_f = np.argsort(-np.abs(by_feature), kind="stable")[:3]
        top_t = np.argsort(-np.abs(by_time), kind="stable")[:3]
        methods[method] = {
            "completeness_error": float(a.completeness_error[-1]),
            "top_features": [
                {"feature": run.features[i], "value": float(by_feature[i])} for i in top_f
            ]
            if a.frame_shape is None
            else [  # frames: where, as patches of the frame
                {"feature": r["region"], "value": r["value"]}
                for r in top_regions(a.frames[-1], a.settings.get("patch"))
            ],
            "top_steps": [{"time": run.labels[i], "value": float(by_time[i])} for i in top_t],
            "seconds": round(float(a.seconds), 3),
            "frames": a.frame_shape,
            "block": a.window,
            "group_by": a.group_by,
            "settings": a.settings,
        }
        if method == "lime" and "r2" in a.settings:
            methods[method]["surrogate_r2"] = float(a.settings["r2"][-1])
    return {
        "output": out,
        "windows": len(run.x),
        "window": int(run.x.shape[1]),
        "features": run.features,
        "time": [run.labels[0], run.labels[-1]],
        "target": first.target,
        "prediction": float(first.prediction[-1]),
        "baseline_prediction": float(first.baseline_prediction[-1]),
        "prediction_unit": target_unit,
        "units": units,
        "scaled_with_card": bool(run.card is not None and run.card.mean is not None),
        "methods": methods,
        "seconds": round(seconds, 3),
    }


def _dumps(summary: dict[str, Any]) -> str:
    import numpy as np

    def plain(value: Any) -> Any:
        if isinstance(value, (np.generic, np.ndarray)):
            return value.tolist()
        return str(value)

    return json.dumps(summary, indent=2, default=plain)


def _summary_text(summary: dict[str, Any]) -> str:
    unit = f" {summary['prediction_unit']}" if summary["prediction_unit"] else ""
    lines = [
        f"prediction {summary['prediction']:.4g}{unit} (baseline input gives "
        f"{summary['baseline_prediction']:.4g}{unit})"
    ]
    for method, m in summary["methods"].items():
        quality = f"completeness error {m['completeness_error']:.2%}"
        if "surrogate_r2" in m:  # LIME is not additive; it promises a good local fit
            quality = f"not additive; surrogate fit R² {m['surrogate_r2']:.2f}"
        lines += [
            f"{method} ({quality})",
            ("  top regions:  " if m.get("frames") else "  top features: ")
            + ", ".join(f"{f['feature']} ({f['value']:+.3g})" for f in m["top_features"]),
            "  top steps:    "
            + ", ".join(f"{t['time']} ({t['value']:+.3g})" for t in m["top_steps"]),
        ]
    return "\n".join(lines)


def _record_command(args: argparse.Namespace) -> int:
    import torch

    import explainr
    from explainr._core.model import call_model

    if Path(args.out).suffix.lower() != ".npz":
        raise ExplainrError(f"--out {args.out}: record writes a .npz file; name it *.npz")
    run = _inputs(args)
    out = Path(args.out)
    with torch.no_grad(), explainr.record(run.model) as rec:
        call_model(run.model, run.x)
    path = rec.trace.save(out)
    _note_random(args)
    _say(
        args, f"trace: {path} ({len(rec.trace.to_dict())} arrays, modules: {', '.join(rec.trace)})"
    )
    return 0


def _version() -> str:
    from explainr._core.version import VERSION as __version__

    return f"explainr {__version__}"


# --- whole datasets: explain --all / --stride / --store, and report RUN.zarr ---------------


def _add_dataset(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "whole datasets",
        "explain every window into a resumable zarr store (explainr.explain_dataset); "
        "--out .html is then the global report, .csv/.parquet the per feature and lag "
        "summary, .json a short summary",
    )
    g.add_argument("--all", action="store_true", help="every window (stride 1), not --last")
    g.add_argument("--stride", type=int, metavar="S", help="every S-th window")
    g.add_argument(
        "--store", metavar="PATH", help="the run's zarr folder (default: --out with .zarr)"
    )
    g.add_argument("--resume", action="store_true", help="finish the run already in --store")
    g.add_argument("--chunk", type=int, default=256, metavar="N", help="windows per chunk")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run chunks on this Dask scheduler")
    g.add_argument(
        "--workers", type=int, metavar="N", help="run chunks on a local Dask cluster of N processes"
    )


def _dataset_mode(args: argparse.Namespace) -> bool:
    # `is not None`: --stride 0 or --workers 0 are errors, not a quiet single-window run
    return bool(args.all or args.store or args.resume or args.scheduler) or any(
        v is not None for v in (args.stride, args.workers)
    )


def _dataset_command(args: argparse.Namespace, kind: str) -> int:
    import contextlib

    import pandas as pd

    import explainr

    if args.all and args.stride not in (None, 1):
        raise ExplainrError(
            f"--all is every window (stride 1); it conflicts with --stride {args.stride}"
        )
    if args.scheduler and args.workers:
        raise ExplainrError("--scheduler and --workers both choose where chunks run; pass one")
    if args.workers is not None and args.workers < 1:
        raise ExplainrError(f"--workers must be at least 1, got {args.workers}")
    if args.stride is not None and args.stride < 1:
        raise ExplainrError(f"--stride must be at least 1 (every S-th window), got {args.stride}")
    store = Path(args.store) if args.store else Path(args.out).with_suffix(".zarr")
    exists = store.exists() and any(store.iterdir()) if store.is_dir() else store.exists()
    if exists and not args.resume:
        raise ExplainrError(
            f"--store {store} exists; pass --resume to finish that run, or choose a new path"
        )
    if args.resume and not exists:
        raise ExplainrError(f"--resume: there is no run at {store} to finish")
    run = _inputs(args)
    frame = run.frame
    if run.card is not None:
        frame = pd.DataFrame(run.card.scale(frame.to_numpy()), frame.index, frame.columns)
    options = {
        "methods": tuple(m.strip() for m in args.methods.split(",") if m.strip()),
        "target": args.target,
        "seed": args.seed,
        "group_by": args.group_by,
        "baselines": _baselines(args, run),
        "group_window": args.block,
        "n_steps": args.n_steps,
        "n_samples": args.n_samples,
        "chunk": args.chunk,
        "progress": bool(args.verbose),
    }
    with contextlib.ExitStack() as stack:
        client = _dask_client(args, stack)
        result = explainr.explain_dataset(
            run.model.cpu() if client is not None else run.model,
            frame,
            window=run.x.shape[1],
            stride=args.stride or 1,
            store=store,
            client=client,
            **options,
        )
    if kind == "report":
        written = result.save_html(args.out)
    elif kind == "table":
        written = _write_frame(Path(args.out), result.summary())
    else:
        written = _write_json(Path(args.out), _run_summary(result))
    _note_random(args)
    _say(args, f"run: {store} ({len(result.computed)} chunk(s) computed now); {kind}: {written}")
    return 0


def _dask_client(args: argparse.Namespace, stack: Any) -> Any:
    if not (args.scheduler or args.workers):
        return None
    try:
        from distributed import Client, LocalCluster
    except ImportError as e:
        raise ExplainrError(
            "--scheduler/--workers need Dask: pip install 'explainr[dataset]'"
        ) from e
    if args.scheduler:
        return stack.enter_context(Client(args.scheduler))
    cluster = stack.enter_context(
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    )
    return stack.enter_context(Client(cluster))


def _write_frame(out: Path, table: Any) -> Path:
    from explainr._core.files import write_atomic

    if out.suffix.lower() == ".parquet":
        return write_atomic(out, lambda fh: table.to_parquet(fh, index=False), "the table")
    return write_atomic(out, table.to_csv(index=False), "the table")


def _write_json(out: Path, summary: dict[str, Any]) -> Path:
    from explainr._core.files import write_atomic

    return write_atomic(out, json.dumps(summary, indent=2) + "\n", "the summary")


def _run_summary(run: Any) -> dict[str, Any]:
    table = run.summary()
    top = {}
    for method, rows in table.groupby("method", sort=False):
        by_feature = rows.groupby("feature", sort=False)["share"].sum().sort_values(ascending=False)
        top[method] = {str(k): round(float(v), 4) for k, v in by_feature.head(5).items()}
    return {
        "store": str(run.path),
        "windows": int(run.dataset.sizes["window"]),
        "methods": run.methods,
        "complete": run.complete,
        "top_features_share": top,
    }


def _report_command(args: argparse.Namespace) -> int:
    import explainr

    if Path(args.out).suffix.lower() != ".html":
        raise ExplainrError(f"--out {args.out}: report writes an .html page; name it *.html")
    written = explainr.open_run(args.run).save_html(args.out)
    _say(args, f"report: {written}")
    return 0


_COMMANDS = {
    "demo": _demo_command,
    "explain": _explain_command,
    "record": _record_command,
    "models": _models,
    "report": _report_command,
}


if __name__ == "__main__":
    raise SystemExit(main())
