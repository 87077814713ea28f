"""The ``explainr`` command line: argument parsing and file I/O, nothing else."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from explainr._errors import ExplainrError
from explainr.attribution._inputs import time_labels_of

DEFAULT_METHODS = "integrated_gradients,kernel_shap,lime"
DEMO_MODEL = "macro_lstm"

EXAMPLES = {
    "demo": "example:\n  explainr demo --out reports/demo.html",
    "explain": (
        "examples:\n"
        "  explainr explain --model sunspots_gru --data models/data/sunspots.csv \\\n"
        "      --time-column year --window 30 --out reports/sunspots.html\n"
        "  explainr explain --model mypkg.models:build --weights model.safetensors \\\n"
        "      --data series.parquet --window 48 --last 4 --target 0 --out report.html"
    ),
    "record": (
        "example:\n  explainr record --model macro_lstm --data models/data/macro.csv \\\n"
        "      --time-column date --window 16 --last 8 --out trace.npz"
    ),
    "models": "example:\n  explainr models",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise SystemExit(_fail(f"{message} (see '{self.prog} --help')"))


def _fail(message: str) -> int:
    print(f"explainr: error: {message}", file=sys.stderr)
    return 2


def _add_model_data(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        required=True,
        metavar="SPEC",
        help="zoo name (see 'explainr models'), package.module:factory, or a pickled module file",
    )
    p.add_argument(
        "--weights",
        metavar="FILE",
        help="state dict for a factory model (.safetensors or torch file)",
    )
    p.add_argument(
        "--unsafe-pickle",
        action="store_true",
        help="allow loading a whole pickled module (runs code from the file)",
    )
    p.add_argument(
        "--data", required=True, metavar="FILE", help="CSV or Parquet file, one row per time step"
    )
    p.add_argument(
        "--window", required=True, type=int, metavar="N", help="window length in time steps"
    )
    p.add_argument(
        "--features",
        metavar="A,B,...",
        help="columns to use as features (default: the zoo card's, or all numeric)",
    )
    p.add_argument("--time-column", metavar="COL", help="column holding the time labels")
    p.add_argument(
        "--last",
        type=int,
        default=1,
        metavar="K",
        help="cut the last K windows (default 1); all are attributed and scored, the report and summary show the latest",
    )
    p.add_argument("--out", required=True, metavar="PATH", help="output file")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="explainr",
        description="Explain trained recurrent models (LSTM, GRU, peephole LSTM, ConvLSTM).",
        epilog="examples:\n  explainr demo\n  explainr models\n"
        "  explainr explain --model sunspots_gru --data models/data/sunspots.csv "
        "--time-column year --window 30 --out reports/sunspots.html\n"
        "Run 'explainr COMMAND --help' for each command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
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
        help="report path (default reports/demo.html)",
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

    p = sub.add_parser(
        "explain",
        help="explain a model on windows of a data file; writes an HTML report",
        epilog=EXAMPLES["explain"],
        formatter_class=fmt,
    )
    _add_model_data(p)
    p.add_argument(
        "--target",
        type=int,
        metavar="K",
        help="output index to explain (needed for several outputs)",
    )
    p.add_argument(
        "--methods",
        default=DEFAULT_METHODS,
        metavar="M,M,...",
        help=f"attribution methods (default {DEFAULT_METHODS}); also gradient_shap, exact_shapley, occlusion",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for sampling methods (default 0)")
    p.add_argument(
        "--group-by",
        default="time_feature",
        choices=("time", "feature", "time_feature"),
        help="how kernel SHAP and LIME group cells: time blocks, features, or both (default)",
    )

    p = sub.add_parser(
        "record",
        help="write every gate and state of a model run to an .npz file",
        epilog=EXAMPLES["record"],
        formatter_class=fmt,
    )
    _add_model_data(p)

    sub.add_parser(
        "models", help="list the model zoo", epilog=EXAMPLES["models"], formatter_class=fmt
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``explainr`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="explainr: %(message)s")
    if args.command is None:
        build_parser().print_help()
        return 2
    try:
        return _COMMANDS[args.command](args)
    except ExplainrError as e:
        return _fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    except KeyboardInterrupt:
        return _fail("interrupted")


def _models(args: argparse.Namespace) -> int:
    from explainr import zoo

    for card in zoo.catalogue():  # raises for a missing, empty or unreadable zoo
        name = card["name"]
        arch = card.get("architecture", {}).get("class", "?")
        print(f"{name:<20} {card.get('task', ''):<9} {arch:<20} {card.get('description', '')}")
    return 0


def _inputs(args: argparse.Namespace):
    """(model, x, raw windows, feature names) for explain/record."""
    from explainr import zoo
    from explainr._load import load_model, read_table
    from explainr.attribution import sliding_windows

    if args.window < 1:
        raise ExplainrError(f"--window must be a positive number of steps, got {args.window}")
    if args.last < 1:
        raise ExplainrError(f"--last must be at least 1, got {args.last}")
    features = args.features.split(",") if args.features else None
    entry = zoo.load(args.model) if args.model in zoo.names() else None
    if entry is not None and args.weights is not None:
        raise ExplainrError(
            f"--weights is for factory models; zoo model {args.model!r} ships its own weights"
        )
    if entry is not None and features is None:
        features = list(entry.feature_names)
    model = (
        entry.model
        if entry is not None
        else load_model(args.model, args.weights, args.unsafe_pickle)
    )
    df = read_table(args.data, args.time_column, features)
    if args.window > len(df):
        raise ExplainrError(
            f"--window {args.window} is longer than the data ({len(df)} rows in {args.data})"
        )
    windows = sliding_windows(df, args.window, last=args.last)
    x = windows.x
    if entry is not None:
        import torch

        x = torch.as_tensor(entry.scale(x.numpy()), dtype=torch.float32)
    return model, x, windows, list(df.columns), entry


def _explain(args: argparse.Namespace) -> int:
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    model, x, windows, features, entry = _inputs(args)
    return _run_explain(
        model,
        x,
        features=features,
        labels=windows.time_labels[-1],
        methods=methods,
        target=args.target,
        seed=args.seed,
        group_by=args.group_by,
        out=Path(args.out),
        title=f"{Path(args.data).name}: {args.model}",
        raw=windows.x[-1].numpy() if entry is not None else None,  # original units
        data_summary=f"{args.data}: {len(x)} window(s) of {args.window} steps x {len(features)} features",
    )


def _demo(args: argparse.Namespace) -> int:
    import torch

    from explainr import zoo

    entry = zoo.load(args.model)
    x, raw = entry.windows(last=1)
    target = args.target
    if target is None and entry.task == "classify":  # explain the class the model predicts
        with torch.no_grad():
            target = int(entry.model(x)[-1].argmax())
    data = entry.card.get("data", {})
    print(f"explaining zoo model {entry.name!r}: {entry.card.get('description', '')}")
    return _run_explain(
        entry.model,
        x,
        features=list(entry.feature_names),
        labels=time_labels_of(raw[-1].index),
        methods=tuple(DEFAULT_METHODS.split(",")),
        target=target,
        seed=0,
        group_by="time_feature",
        out=Path(args.out),
        title=f"explainr demo: {entry.name}",
        raw=raw[-1],
        data_summary=f"{data.get('file', '')} ({data.get('source', 'shipped data')}), "
        f"last window of {entry.window} steps",
    )


def _run_explain(model, x, *, features, labels, methods, out, **options) -> int:
    """Explain the last window of ``x``, write the report, print a short summary."""
    import explainr

    start = time.perf_counter()
    ex = explainr.explain(
        model,
        x,
        methods=methods,
        feature_names=features,
        time_labels=labels,
        progress=sys.stderr.isatty(),
        sample=len(x) - 1,
        **options,
    )
    path = ex.save_html(out)
    print(f"report: {path}")
    print(_summary(ex, features, labels))
    print(f"took {time.perf_counter() - start:.1f} s")
    return 0


def _summary(ex, features: list[str], labels: list[str]) -> str:
    """Top features, top time steps and completeness of each method, for the last window."""
    first = next(iter(ex.attributions.values()))
    lines = [
        f"prediction {first.prediction[-1]:.4g} (baseline input gives "
        f"{first.baseline_prediction[-1]:.4g})"
    ]
    for method, a in ex.attributions.items():
        by_feature, by_time = a.by_feature()[-1], a.by_time()[-1]
        top_f = abs(by_feature).argsort()[::-1][:3]
        top_t = abs(by_time).argsort()[::-1][:3]
        lines += [
            f"{method} (completeness error {float(a.completeness_error[-1]):.2%})",
            "  top features: " + ", ".join(f"{features[i]} ({by_feature[i]:+.3g})" for i in top_f),
            "  top steps:    " + ", ".join(f"{labels[i]} ({by_time[i]:+.3g})" for i in top_t),
        ]
    return "\n".join(lines)


def _record(args: argparse.Namespace) -> int:
    import torch

    import explainr

    model, x, _, _, _ = _inputs(args)
    out = Path(args.out)
    with torch.no_grad(), explainr.record(model) as rec:
        try:
            model(x)
        except (RuntimeError, ValueError, TypeError) as e:
            raise ExplainrError(
                f"the model failed on input of shape {tuple(x.shape)}: {str(e).splitlines()[0]}"
            ) from e
    path = rec.trace.save(out)
    print(f"trace: {path} ({len(rec.trace.to_dict())} arrays, modules: {', '.join(rec.trace)})")
    return 0


def _version() -> str:
    from explainr import __version__

    return f"explainr {__version__}"


_COMMANDS = {"demo": _demo, "explain": _explain, "record": _record, "models": _models}


if __name__ == "__main__":
    raise SystemExit(main())
