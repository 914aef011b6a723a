"""``petition train``, ``classify`` and ``eval``: the category classifier on CSV files.

Heavy libraries (numpy, scikit-learn, jieba) are imported inside the commands so that the rest of the
command line starts fast.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path

import click

PREDICTION_COLUMNS = ("predicted", "confidence", "top3")


def _files(data: tuple[str, ...], extra: tuple[str, ...]) -> list[Path]:
    # "--data a.csv b.csv": click hands the second file over as a positional argument.
    paths = [Path(p) for value in (*data, *extra) for p in value.split(",") if p.strip()]
    if not paths:
        raise click.ClickException("no data file given (--data FILE.csv [FILE2.csv …])")
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load(model_dir: str):
    from nlu.classifier import CategoryClassifier, DataError

    try:
        return CategoryClassifier.load(model_dir)
    except DataError as exc:
        raise click.ClickException(str(exc)) from exc


def _read(paths: list[Path], text: str | None, label: str | None, model=None):
    from nlu.classifier import DataError, read_rows

    columns = (model.info.get("data", {}).get("sources") or {}) if model is not None else {}
    text = text or ",".join(columns.get("text_columns") or [])
    if not text:
        raise click.ClickException("give the text columns with --text COL[,COL…]")
    try:
        return read_rows(paths, text_cols=text, label_col=label), text
    except DataError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.option("--data", "data", multiple=True, required=True, help="training CSV file(s); repeat or list several")
@click.argument("extra", nargs=-1, type=click.Path())
@click.option("--text", required=True, help="text column(s), comma-separated; a column a file lacks counts as empty")
@click.option("--label", required=True, help="label column; 一级/二级/三级 paths train deeper levels with --levels")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="model directory to write")
@click.option("--levels", default=1, show_default=True, type=click.IntRange(1, 5), help="taxonomy levels to train")
@click.option("--cv", "cv", default=5, show_default=True, type=click.IntRange(0, 20),
              help="cross-validation folds for calibration and the manifest's metrics (0 skips)")
@click.option("--svm-c", "c", default=None, type=click.FloatRange(min=1e-4),
              help="inverse regularisation strength of the SVM (default 3.0)")
def train(data: tuple[str, ...], extra: tuple[str, ...], text: str, label: str, out: str, levels: int, cv: int,
          c: float | None) -> None:
    """Train a category classifier on CSV rows and write it to a model directory."""
    from nlu.classifier import CategoryClassifier, ClassifierSettings, DataError

    paths = _files(data, extra)
    rows, _ = _read(paths, text, label)
    usable = [r for r in rows if r.label and any(r.fields)]
    if not usable:
        raise click.ClickException(f"no row has both text in {text} and a label in {label}")
    settings = ClassifierSettings(levels=levels, cv_folds=cv, **({"c": c} if c is not None else {}))
    sources = {"files": [{"path": str(p), "sha256": _sha256(p)} for p in paths],
               "text_columns": [t.strip() for t in text.split(",") if t.strip()], "label_column": label}
    click.echo(f"training on {len(usable)} rows from {len(paths)} file(s) ({len(rows) - len(usable)} without text or label)")
    try:
        model = CategoryClassifier().fit([r.fields for r in usable], [r.label for r in usable], settings=settings,
                                         sources=sources)
        manifest = model.save(out)
    except DataError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot write the model to {out}: {exc}") from exc
    click.echo(f"classes: {', '.join(model.classes)}")
    report = model.metrics.get("cv")
    if report:
        click.echo(f"{report['folds']}-fold cross-validation: accuracy {report['accuracy']:.4f}, "
                   f"macro-F1 {report['macro_f1']:.4f}")
    taxonomy = model.info["taxonomy"]
    if taxonomy["levels_seen"] > 1:
        click.echo(f"taxonomy: labels have {taxonomy['levels_seen']} levels, {taxonomy['levels_trained']} trained, "
                   f"{len(model.nodes) - 1} child model(s)")
    click.echo(f"model written to {manifest.parent}")


@click.command()
@click.option("--model", "model_dir", required=True, help="model directory written by `petition train`")
@click.option("--data", "data", multiple=True, required=True, help="CSV file(s) to classify")
@click.argument("extra", nargs=-1, type=click.Path())
@click.option("--text", default=None, help="text column(s), comma-separated (default: the columns the model was trained on)")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="CSV file to write")
def classify(model_dir: str, data: tuple[str, ...], extra: tuple[str, ...], text: str | None, out: str) -> None:
    """Write the input rows with the predicted category, its confidence and the top three."""
    import csv

    model = _load(model_dir)
    rows, _ = _read(_files(data, extra), text, None, model)
    predictions = model.predict([r.fields for r in rows])
    header: list[str] = []
    for row in rows:
        header.extend(k for k in row.record if k not in header and k not in PREDICTION_COLUMNS and k is not None)
    header.extend(PREDICTION_COLUMNS)
    try:
        with open(out, "w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
            writer.writeheader()
            for row, prediction in zip(rows, predictions, strict=True):
                top3 = [[label, round(p, 4)] for label, p in prediction.top3]
                writer.writerow({**row.record, "predicted": prediction.label, "confidence": f"{prediction.confidence:.4f}",
                                 "top3": json.dumps(top3, ensure_ascii=False)})
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc}") from exc
    click.echo(f"{len(rows)} rows classified into {out}")


def _truncate(label: str, level: int, separator: str) -> str | None:
    parts = [p.strip() for p in label.split(separator) if p.strip()]
    return separator.join(parts[:level]) if len(parts) >= level else None


@click.command(name="eval")
@click.option("--model", "model_dir", required=True, help="model directory written by `petition train`")
@click.option("--data", "data", multiple=True, required=True, help="labelled CSV file(s)")
@click.argument("extra", nargs=-1, type=click.Path())
@click.option("--text", default=None, help="text column(s), comma-separated (default: the model's)")
@click.option("--label", default=None, help="label column (default: the model's)")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False), help="write the figures here as JSON")
def eval_(model_dir: str, data: tuple[str, ...], extra: tuple[str, ...], text: str | None, label: str | None,
          out: str | None) -> None:
    """Print accuracy, macro-F1, per-class figures and the confusion matrix of a model on labelled rows."""
    from nlu.classifier import evaluate

    model = _load(model_dir)
    label = label or (model.info.get("data", {}).get("sources") or {}).get("label_column")
    if not label:
        raise click.ClickException("give the label column with --label COL")
    rows, _ = _read(_files(data, extra), text, label, model)
    rows = [r for r in rows if r.label]
    if not rows:
        raise click.ClickException(f"no row has a label in {label}")
    predicted = [p.label for p in model.predict([r.fields for r in rows])]
    separator = model.settings.separator
    levels = model.info.get("taxonomy", {}).get("levels_trained", 1)
    results: dict = {"model": str(model_dir), "rows": len(rows), "levels": {}}
    for level in range(1, levels + 1):
        pairs = [(t, _truncate(p, level, separator) or p) for r, p in zip(rows, predicted, strict=True)
                 if (t := _truncate(r.label, level, separator)) is not None]
        if not pairs:
            continue
        classes = model.classes if level == 1 else None
        report = evaluate([t for t, _ in pairs], [p for _, p in pairs], labels=classes)
        results["levels"][str(level)] = report
        _echo_report(report, f"level {level}" if levels > 1 else "")
    results.update(results["levels"].get("1", {}))
    if out:
        try:
            Path(out).write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc}") from exc
        click.echo(f"figures written to {out}")


def _display_width(text: str) -> int:
    # Chinese characters take two columns in a terminal.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _echo_report(report: dict, title: str) -> None:
    if title:
        click.echo(f"== {title}")
    click.echo(f"rows {report['n']}  accuracy {report['accuracy']:.4f}  macro-F1 {report['macro_f1']:.4f}")
    labels = report["confusion"]["labels"]
    width = max(_display_width(label) for label in labels) + 2
    click.echo(f"{'class' + ' ' * (width - 5)}precision  recall     F1  support")
    for label in labels:
        c = report["per_class"][label]
        click.echo(f"{label}{' ' * (width - _display_width(label))}{c['precision']:9.3f}{c['recall']:8.3f}{c['f1']:7.3f}"
                   f"{c['support']:9d}")
    click.echo("confusion matrix (rows: true, columns: predicted, in the order above):")
    for label, line in zip(labels, report["confusion"]["matrix"], strict=True):
        click.echo(f"  {' '.join(f'{n:5d}' for n in line)}  {label}")


def register(group: click.Group) -> None:
    """Add the train, classify and eval commands to the petition command group."""
    group.add_command(train)
    group.add_command(classify)
    group.add_command(eval_)
