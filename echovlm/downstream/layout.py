"""Recognise which public dataset a folder contains and open it with the matching reader."""

from __future__ import annotations

from pathlib import Path

from echovlm.downstream.camus import find_patient_folders, read_camus
from echovlm.downstream.echonet import FILE_LIST, VOLUME_TRACINGS, read_echonet
from echovlm.downstream.lvh import MEASUREMENTS_LIST, read_lvh
from echovlm.downstream.samples import LANDMARK, SEGMENT, DownstreamDataset

CAMUS = "camus"
ECHONET = "echonet"
LVH = "echonet-lvh"
TASKS = {CAMUS: SEGMENT, ECHONET: SEGMENT, LVH: LANDMARK}
# EchoNet-Pediatric ships one folder per view; segmentation uses the apical 4-chamber one by default.
PEDIATRIC_VIEWS = ("A4C", "PSAX")


def detect_layout(root: str | Path) -> tuple[str, Path]:
    """Return the layout name (``camus``, ``echonet`` or ``echonet-lvh``) and the folder to read.

    Raises:
        FileNotFoundError: if ``root`` is missing or matches none of the layouts; the message lists the
            files that each layout needs.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root} not found or not a directory")
    if (root / MEASUREMENTS_LIST).is_file():
        return LVH, root
    if (root / FILE_LIST).is_file() and (root / VOLUME_TRACINGS).is_file():
        return ECHONET, root
    for view in PEDIATRIC_VIEWS:
        if (root / view / FILE_LIST).is_file() and (root / view / VOLUME_TRACINGS).is_file():
            return ECHONET, root / view
    if find_patient_folders(root):
        return CAMUS, root
    raise FileNotFoundError(
        f"{root} is not a known dataset layout. Expected one of: EchoNet-Dynamic ({FILE_LIST}, "
        f"{VOLUME_TRACINGS} and Videos/), EchoNet-Pediatric (A4C/ or PSAX/ folders with those files), "
        f"CAMUS (patientNNNN/ folders, directly or one level down) or EchoNet-LVH ({MEASUREMENTS_LIST} "
        "and Batch*/ folders)"
    )


def open_dataset(root: str | Path, task: str | None = None) -> DownstreamDataset:
    """Detect the layout of ``root`` and index it.

    Args:
        root: A dataset root as distributed (or a view folder of EchoNet-Pediatric).
        task: ``segment`` or ``landmark`` to check that the dataset fits the task; None accepts either.

    Raises:
        FileNotFoundError: if the layout is not recognised or files are missing.
        ValueError: if the dataset does not serve ``task``.
    """
    layout, folder = detect_layout(root)
    if task is not None and TASKS[layout] != task:
        usable = sorted(name for name, kind in TASKS.items() if kind == task)
        raise ValueError(
            f"{root} contains {layout}, which is a {TASKS[layout]} dataset; for {task} use {usable}"
        )
    if layout == CAMUS:
        return read_camus(folder)
    if layout == ECHONET:
        return read_echonet(folder)
    return read_lvh(folder)
