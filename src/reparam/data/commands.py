"""``reparam data``: the datasets, where their files are looked up, and whether they are sound.

Besides the registry's datasets (``DATASETS``), the nine UCI regression sets (``uci:boston``
… ``uci:yacht``, see ``reparam.data.uci``) are listed and verified, and the sentence corpora
(``reparam.data.sentences``) listed; ``fetch-austen`` downloads the Austen corpus's package;
``speech`` builds and verifies a synthesized speech corpus (``reparam.data.speech``), and
``fetch-human`` downloads the human clips that test a recognizer's transfer.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from reparam.data import austen, files, ptb, uci
from reparam.data.registry import DATASETS, Dataset, load
from reparam.data.sentences import CORPORA, load_corpus
from reparam.data.speech import corpus as speech_corpus
from reparam.data.speech import human
from reparam.data.speech.recipe import RECIPES, SPLITS

data_app = typer.Typer(
    rich_markup_mode=None,
    help="Datasets and sentence corpora: list them, verify their files, fetch the Austen corpus.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console(width=None if sys.stdout.isatty() else 150)

DataDir = Annotated[
    Path | None,
    typer.Option(help="data folder (default: $REPARAM_DATA, else ~/.cache/reparam)"),
]


@data_app.command("list")
def list_datasets(data_dir: DataDir = None) -> None:
    """The datasets: splits and sizes, where their files are looked up, whether present."""
    root = files.data_dir(data_dir)
    table = Table(title=f"datasets (data folder {root})")
    for column in ("name", "splits", "looked up in", "files", "description"):
        table.add_column(column, overflow="fold")
    for dataset in DATASETS.values():
        splits = ", ".join(f"{split} {rows}×{dim}" for split, (rows, dim) in dataset.shapes.items())
        table.add_row(
            dataset.name, splits, *whereabouts(dataset, root), escape(dataset.description)
        )
    console.print(table)
    table = Table(title=f"UCI regression sets, standard splits (data folder {root})")
    for column in ("name", "size", "splits", "hidden", "looked up in", "files"):
        table.add_column(column, overflow="fold")
    for name, size in uci.UCI_SIZES.items():
        table.add_row(
            uci.PREFIX + name,
            f"{size.rows}×{size.inputs}",
            str(size.splits),
            str(size.hidden),
            *uci_whereabouts(name, root),
        )
    console.print(table)
    console.print(f"UCI sets: from {uci.SOURCE}, not downloaded", markup=False)
    list_corpora(root)
    list_speech()


def list_speech() -> None:
    """The speech recipes: their speakers and utterances, and whether their corpus is built."""
    table = Table(title=f"speech corpora (built into {speech_corpus.cache_root()})")
    for column in ("recipe", "speakers (train/valid/test)", "clean utterances", "built"):
        table.add_column(column, overflow="fold")
    for name, recipe in RECIPES.items():
        folder = speech_corpus.folder_of(recipe)
        built = (folder / "manifest.json").is_file()
        table.add_row(
            name,
            "/".join(map(str, recipe.speakers)) + (" (shared)" if recipe.shared_speakers else ""),
            str(speech_corpus.total_utterances(recipe)),
            f"[green]{escape(str(folder))}[/]" if built else "[red]no[/]: reparam data speech",
        )
    console.print(table)


def list_corpora(root: Path) -> None:
    """The sentence corpora: where each is looked up, and where it was found."""
    table = Table(title=f"sentence corpora (data folder {root})")
    for column in ("name", "looked up in", "found", "description"):
        table.add_column(column, overflow="fold")
    sources = {
        "embedded": ("inside reparam", "inside reparam"),
        "austen": (
            ", ".join(map(str, [austen.INSTALLED, *austen.deb_folders(root)])),
            austen.find_source(root),
        ),
        "ptb": (f"{root / 'ptb'}, the package {ptb.PACKAGE}", ptb.find_source(root)),
    }
    for name, (looked_up, found) in sources.items():
        present = "[red]missing[/]" if found is None else f"[green]{escape(str(found))}[/]"
        table.add_row(name, escape(looked_up), present, escape(CORPORA[name].description))
    console.print(table)


def uci_whereabouts(name: str, root: Path) -> tuple[str, str]:
    """The folder where the UCI set ``name``'s files are looked up, and which are missing."""
    folder = uci.uci_folder(name, root)
    if not folder.is_dir():
        return escape(str(folder)), "[red]missing[/] (no folder)"
    missing = uci.missing_files(name, root)
    if not missing:
        return escape(str(folder)), "[green]present[/]"
    return escape(str(folder)), "[red]missing[/] " + escape(", ".join(missing))


def whereabouts(dataset: Dataset, root: Path) -> tuple[str, str]:
    """The folders where ``dataset``'s files are looked up, and which are missing (markup)."""
    names = [name for split_files in dataset.files.values() for name in split_files]
    if not names:
        return "inside scikit-learn", "[green]embedded[/]"
    folders = ", ".join(sorted({str((root / name).parent) for name in names}))
    missing = list(
        dict.fromkeys(n for split in dataset.files for n in dataset.missing(split, root))
    )
    if not missing:
        return escape(folders), "[green]present[/]"
    return escape(folders), "[red]missing[/] " + escape(", ".join(Path(n).name for n in missing))


@data_app.command()
def verify(
    name: Annotated[
        str | None, typer.Argument(help="dataset, uci:<name>, or uci for all nine (default: all)")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Load and check every split of dataset NAME (default: all); exit 1 on any problem.

    Absent files are downloaded first (the UCI sets are not downloaded); shapes and values are
    checked.
    """
    datasets, uci_sets = select(name)
    problems = 0
    for dataset in datasets:
        for split in dataset.shapes:
            start = time.perf_counter()
            try:
                data = load(dataset.name, split, data_dir)
            except (FileNotFoundError, ValueError) as error:
                problems += 1
                report_problem(f"{dataset.name} {split}", str(error))
                continue
            elapsed = time.perf_counter() - start
            shape = "×".join(map(str, data.shape))
            console.print(f"[green]OK[/] {dataset.name} {split}: {shape} in {elapsed:.1f} s")
    uci_problems = sum(not verify_uci(short, data_dir) for short in uci_sets)
    if problems:
        console.print(f"[red]{problems} split(s) with problems[/]")
    if uci_problems:
        console.print(f"[red]{uci_problems} UCI set(s) with problems[/]")
    if problems or uci_problems:
        raise typer.Exit(1)


@data_app.command("fetch-austen")
def fetch_austen() -> None:
    """Download Debian's r-cran-janeaustenr (1.6 MB) with `apt-get download` into
    ~/.cache/reparam/austen, and load the austen corpus from it (needs `pip install rdata`)."""
    path = austen.fetch()
    console.print(f"[green]OK[/] {escape(str(path))}: {escape(repr(load_corpus('austen')))}")


@data_app.command("speech")
def speech(
    recipe: Annotated[
        str, typer.Option(help=f"the corpus's recipe: {', '.join(RECIPES)}")
    ] = "asr-small",
    overwrite: Annotated[bool, typer.Option(help="rebuild a corpus that is already there")] = False,
) -> None:
    """Build the synthesized speech corpus of RECIPE with eSpeak NG (needs
    `pip install "reparam[speech]"`) into ~/.cache/reparam/speech, and verify it."""
    if recipe not in RECIPES:
        raise typer.BadParameter(f"unknown recipe {recipe!r}; choose from {', '.join(RECIPES)}")
    chosen = RECIPES[recipe]
    total = speech_corpus.total_utterances(chosen)
    with Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(f"{recipe}: clean utterances", total=total)

        def advance(n: int) -> None:
            bar.advance(task, n)

        folder = speech_corpus.build(chosen, overwrite=overwrite, advance=advance)
    loaded = speech_corpus.load(chosen, build_missing=False)
    table = Table(title=f"{recipe} corpus in {folder} (eSpeak NG {speech_corpus.espeak.version()})")
    for column in ("split", "speakers", "utterances", "degraded", "hours"):
        table.add_column(column, justify="right")
    for split in SPLITS:
        part = loaded.split(split)
        degraded = len(part.select(speech_corpus.NOISY))
        table.add_row(
            split,
            str(len(set(part.speaker.tolist()))),
            str(len(part)),
            str(degraded),
            f"{part.hours():.2f}",
        )
    console.print(table)
    console.print(f"[green]OK[/] {escape(str(folder))}: every split matches its manifest")


@data_app.command("fetch-human")
def fetch_human() -> None:
    """Download Debian's pocketsphinx-testdata (1.8 MB: ten clips of human speech with
    transcripts) with `apt-get download` into ~/.cache/reparam/pocketsphinx-testdata."""
    path = human.fetch()
    clips = human.load_clips()
    seconds = sum(clip.seconds for clip in clips)
    console.print(f"[green]OK[/] {escape(str(path))}: {len(clips)} clips, {seconds:.1f} s")


def select(name: str | None) -> tuple[list[Dataset], list[str]]:
    """The registry's datasets and the UCI sets (short names) that ``verify NAME`` checks.

    >>> select("uci:wine")
    ([], ['wine'])
    """
    if name is None:
        return list(DATASETS.values()), list(uci.UCI_FOLDERS)
    if name in DATASETS:
        return [DATASETS[name]], []
    if name == "uci":
        return [], list(uci.UCI_FOLDERS)
    if name.startswith(uci.PREFIX):
        try:
            return [], [uci.parse_uci_name(name)]
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
    raise typer.BadParameter(
        f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}, uci, {uci.uci_names()}"
    )


def verify_uci(name: str, data_dir: Path | None) -> bool:
    """Load the UCI set ``name``, compare it with its standard size, and say how it went."""
    start = time.perf_counter()
    try:
        data = uci.load_uci(name, data_dir)
    except (FileNotFoundError, ValueError) as error:
        report_problem(uci.PREFIX + name, str(error))
        return False
    elapsed = time.perf_counter() - start
    rows, inputs = data.x.shape
    found = uci.UCISize(rows, inputs, data.splits, data.hidden)
    if found != uci.UCI_SIZES[name]:
        expected = uci.UCI_SIZES[name]
        report_problem(
            uci.PREFIX + name,
            f"{describe(found)}; the standard files have {describe(expected)}",
        )
        return False
    parts = f"{len(data.train[0])}/{len(data.test[0])}"
    console.print(
        f"[green]OK[/] {uci.PREFIX}{name}: {describe(found)} (train/test {parts}) "
        f"in {elapsed:.1f} s"
    )
    return True


def describe(size: uci.UCISize) -> str:
    """``size`` in words.

    >>> describe(uci.UCISize(506, 13, 20, 50))
    '506×13, 20 splits, 50 hidden'
    """
    return f"{size.rows}×{size.inputs}, {size.splits} splits, {size.hidden} hidden"


def report_problem(what: str, message: str) -> None:
    """Print that ``what`` has a problem, and the ``message`` indented below."""
    console.print(f"[red]problem[/] {escape(what)}:")
    console.print(textwrap.indent(message, "  "), markup=False, soft_wrap=True)
