"""WebDataset input for EchoVLM: shard discovery, sample decoding with counted skips, and batching.

Shards are ``{split}/shard-NNNNNN.tar`` with a ``sizes.json`` per split (see docs/model.md). Each
sample has ``KEY.jpg``, optional ``KEY.npy`` frames, ``KEY.txt`` and ``KEY.json``. A sample that cannot
be used (no image, no caption, undecodable member) is skipped with a rate-limited warning and counted;
the counts travel with the batches to the training process, because the loader workers are separate
processes. A run of consecutive failures raises instead of spinning forever on a bad dataset.
"""

from __future__ import annotations

import io
import json
import logging
import os
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

import echoground
from echoground.logs import RateLimitedLogger
from echovlm.model.config import EchoVLMConfig
from echovlm.model.preprocess import frames_to_tensor, image_to_tensor

logger = logging.getLogger(__name__)

VIEW_VOCABULARY_PATH = Path(echoground.__file__).resolve().parent / "views" / "vocabulary.yaml"
UNCERTAIN_VIEW = "uncertain"


def load_coarse_views(path: Path = VIEW_VOCABULARY_PATH) -> tuple[str, ...]:
    """Return the coarse view names of the EchoGround view vocabulary, in file order."""
    import yaml

    if not path.is_file():
        raise FileNotFoundError(f"view vocabulary {path} not found; it is part of the echoground package")
    return tuple(yaml.safe_load(path.read_text(encoding="utf-8"))["coarse"])


class ShardError(RuntimeError):
    """The shard folder is missing, empty or unreadable."""


class TruncatedShardError(ShardError):
    """A shard tar file is cut short, so the samples past the cut are lost."""


# A complete tar file is a whole number of 512-byte blocks and ends with two zero blocks. Python's
# tarfile, which the EchoGround writer and webdataset's TarWriter follow, also pads the file with zeros
# to a whole record of 10240 bytes, but other tar writers may not, so only the block rules are checked.
_TAR_BLOCK_BYTES = 512
_TAR_END_BYTES = 2 * _TAR_BLOCK_BYTES


@dataclass(frozen=True)
class SplitShards:
    """The tar files of one split and the sample count recorded in its ``sizes.json`` (None if absent)."""

    split: str
    urls: tuple[str, ...]
    samples: int | None


def find_shards(shards_dir: str | Path, split: str) -> SplitShards:
    """List the tar files of one split, checking the folder and ``sizes.json``.

    Raises:
        ShardError: When the folder or split is missing, contains no tar file, or ``sizes.json`` is invalid.
        TruncatedShardError: When a tar file is cut short (see :func:`check_shards_complete`).
    """
    root = Path(shards_dir)
    if not root.is_dir():
        raise ShardError(
            f"shard directory {root} not found: pass the build's shards/ folder, which contains train/, val/ "
            "and test/"
        )
    directory = root / split
    if not directory.is_dir():
        present = sorted(path.name for path in root.iterdir() if path.is_dir())
        raise ShardError(f"split folder {directory} not found; {root} contains {present or 'no folders'}")
    tars = sorted(directory.glob("*.tar"))
    if not tars:
        raise ShardError(f"no .tar shards in {directory}: the split is empty or the build did not finish")
    empty = [tar.name for tar in tars if tar.stat().st_size == 0]
    if empty:
        raise ShardError(f"empty shard files in {directory}: {empty}; rebuild those shards")
    check_shards_complete(tars)

    samples = None
    sizes_path = directory / "sizes.json"
    if sizes_path.is_file():
        try:
            sizes = json.loads(sizes_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ShardError(f"{sizes_path} is not valid JSON: {error}") from error
        missing = sorted(set(sizes) - {tar.name for tar in tars})
        if missing:
            raise ShardError(f"{sizes_path} lists shards that do not exist: {missing}")
        samples = sum(int(sizes.get(tar.name, 0)) for tar in tars)
    else:
        logger.warning("%s not found: the epoch length must be given explicitly", sizes_path)
    return SplitShards(split, tuple(str(tar) for tar in tars), samples)


def check_shards_complete(tars: Iterable[Path]) -> None:
    """Check that no tar file is cut short, reading only each file's size and its last 1024 bytes.

    A tar file is truncated when its size is not a multiple of 512 bytes or it does not end with two
    zero blocks. The loaders count read errors, not the samples lost past a cut, so without this check
    an interrupted copy would train or score on part of the split.

    NOTE: a cut at a 512-byte boundary right after 1024 or more zero bytes of member data passes this
    check. ``sha256sum -c SHA256SUMS`` in a split folder written by the EchoGround writer detects it.

    Raises:
        TruncatedShardError: Naming each truncated file with its size.
    """
    problems = []
    for tar in tars:
        size = tar.stat().st_size
        if size % _TAR_BLOCK_BYTES != 0:
            problems.append(f"{tar} ({size} bytes, not a multiple of {_TAR_BLOCK_BYTES})")
            continue
        with tar.open("rb") as handle:
            handle.seek(max(0, size - _TAR_END_BYTES))
            tail = handle.read(_TAR_END_BYTES)
        if len(tail) < _TAR_END_BYTES or tail.count(0) != len(tail):
            problems.append(f"{tar} ({size} bytes, no end-of-archive zero blocks)")
    if problems:
        listed = "; ".join(problems[:5])
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise TruncatedShardError(
            f"{len(problems)} truncated shard file(s): {listed}{more}. Rebuild the shards (rerun "
            "`echoground build`) or copy the files again from a complete build"
        )


class SkipCounter:
    """Count skipped samples per reason inside one loader process and raise on a run of failures.

    Args:
        max_consecutive: Raise after this many failures in a row, since a dataset where nothing decodes
            would otherwise be resampled forever.
    """

    def __init__(self, max_consecutive: int = 500) -> None:
        self.max_consecutive = max_consecutive
        self.counts: Counter[str] = Counter()
        self._reported: Counter[str] = Counter()
        self.consecutive = 0
        self._warnings = RateLimitedLogger(logger, limit=10)

    def skip(self, reason: str, message: str) -> None:
        self.counts[reason] += 1
        self.consecutive += 1
        self._warnings.warning(reason, "skipped sample (%s): %s", reason, message)
        if self.consecutive >= self.max_consecutive:
            raise ShardError(
                f"{self.consecutive} consecutive samples or shards failed; last: {reason}: {message}. "
                "Check the shards with `tar tf` and rebuild the broken ones"
            )

    def success(self) -> None:
        self.consecutive = 0

    def handle_exception(self, error: Exception) -> bool:
        """WebDataset handler for shard-level errors (corrupt tar, unreadable file): count and continue."""
        self.skip("unreadable_shard", f"{type(error).__name__}: {error}")
        return True

    def take_new_counts(self) -> dict[str, int]:
        """Return the counts added since the last call."""
        new = self.counts - self._reported
        self._reported = self.counts.copy()
        return dict(new)


def metadata_problem(meta: Any) -> str | None:
    """Return what is wrong with the types of a sample's JSON metadata, or None when it is usable.

    The JSON must be an object. ``labels``, when present, must map label ids to objects such as
    ``{"state": ...}``, and ``negatives``, when present, must be a list of objects.
    """
    if not isinstance(meta, dict):
        return f"the JSON is a {type(meta).__name__}, not an object"
    labels = meta.get("labels")
    if labels is not None:
        if not isinstance(labels, dict):
            return f"'labels' is a {type(labels).__name__}, not an object"
        for label, entry in labels.items():
            if not isinstance(entry, dict):
                return f"'labels'[{label!r}] is {entry!r}, not an object with a 'state'"
    negatives = meta.get("negatives")
    if negatives is not None:
        if not isinstance(negatives, list):
            return f"'negatives' is a {type(negatives).__name__}, not a list"
        for index, item in enumerate(negatives):
            if not isinstance(item, dict):
                return f"'negatives'[{index}] is {item!r}, not an object with 'text', 'label' and 'flip'"
    return None


class SampleDecoder:
    """Decode one raw WebDataset sample into tensors and metadata, or return None to skip it."""

    def __init__(
        self,
        model_config: EchoVLMConfig,
        counter: SkipCounter,
        num_frames: int = 1,
        max_negatives: int = 2,
        view_names: tuple[str, ...] | None = None,
        train: bool = True,
    ) -> None:
        self.model_config = model_config
        self.counter = counter
        self.num_frames = num_frames
        self.max_negatives = max_negatives
        self.view_index = {name: index for index, name in enumerate(view_names or load_coarse_views())}
        self.train = train
        self.warned_no_frames = False

    def __call__(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        key = raw.get("__key__", "?")
        where = f"key {key} in {raw.get('__url__', '?')}"
        if "json" not in raw:
            self.counter.skip("missing_json", where)
            return None
        try:
            meta = json.loads(raw["json"].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            self.counter.skip("invalid_json", f"{where}: {error}")
            return None
        problem = metadata_problem(meta)
        if problem:
            self.counter.skip("invalid_metadata", f"{where}: {problem}")
            return None
        where = f"subject_id {meta.get('subject_id')} study_id {meta.get('study_id')} {where}"

        caption = raw["txt"].decode("utf-8", errors="replace").strip() if "txt" in raw else ""
        caption = caption or str(meta.get("caption") or "").strip()
        if not caption:
            self.counter.skip("missing_caption", where)
            return None
        if "jpg" not in raw:
            self.counter.skip("missing_image", where)
            return None
        try:
            pixels = self._pixels(raw)
        except (OSError, ValueError) as error:
            self.counter.skip("invalid_image", f"{where}: {error}")
            return None

        negatives = [item["text"] for item in meta.get("negatives") or [] if item.get("text")]
        if self.train and len(negatives) > self.max_negatives:
            negatives = random.sample(negatives, self.max_negatives)
        view = meta.get("view_coarse") or UNCERTAIN_VIEW
        if view != UNCERTAIN_VIEW and view not in self.view_index:
            self.counter.skip("unknown_view", f"{where}: view_coarse {view!r}")
            return None
        self.counter.success()
        return {
            "key": key,
            "pixels": pixels,
            "caption": caption,
            "negatives": negatives[: self.max_negatives] if self.train else negatives,
            "view_id": self.view_index.get(view, -1),
            "findings_key": str(meta.get("findings_key") or key),
            "meta": meta,
        }

    def _pixels(self, raw: dict[str, Any]) -> torch.Tensor:
        if self.num_frames > 1 and "npy" not in raw and not self.warned_no_frames:
            self.warned_no_frames = True
            logger.warning(
                "%d frames per clip were requested, but sample %s in %s has no frame stack (KEY.npy): "
                "such samples use their key frame only; rebuild the shards with frames to use more",
                self.num_frames,
                raw.get("__key__", "?"),
                raw.get("__url__", "?"),
            )
        if self.num_frames > 1 and "npy" in raw:
            frames = np.load(io.BytesIO(raw["npy"]), allow_pickle=False)
            if frames.ndim != 4 or frames.dtype != np.uint8 or len(frames) == 0:
                raise ValueError(f"frames array has shape {frames.shape} and dtype {frames.dtype}")
            indices = (
                np.linspace(0, len(frames) - 1, num=min(self.num_frames, len(frames))).round().astype(int)
            )
            return frames_to_tensor(frames[indices], self.model_config)
        with Image.open(io.BytesIO(raw["jpg"])) as image:
            image.load()
            return image_to_tensor(image, self.model_config).unsqueeze(0)


class Collator:
    """Stack decoded samples into a batch: padded frames, tokens, negatives and view and findings ids."""

    def __init__(self, tokenizer: Any, max_length: int, counter: SkipCounter, max_negatives: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.counter = counter
        self.max_negatives = max_negatives

    def _tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        encoded = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        count = len(samples)
        frames = max(sample["pixels"].shape[0] for sample in samples)
        channels, height, width = samples[0]["pixels"].shape[1:]
        pixels = torch.zeros(count, frames, channels, height, width)
        frame_mask = torch.zeros(count, frames, dtype=torch.bool)
        for index, sample in enumerate(samples):
            length = sample["pixels"].shape[0]
            pixels[index, :length] = sample["pixels"]
            frame_mask[index, :length] = True

        tokens = self._tokenize([sample["caption"] for sample in samples])
        slots = max([len(sample["negatives"]) for sample in samples] + [1])
        negative_valid = torch.zeros(count, slots, dtype=torch.bool)
        negative_texts = []
        for index, sample in enumerate(samples):
            negative_valid[index, : len(sample["negatives"])] = True
            negative_texts.extend(sample["negatives"])
        if negative_texts:
            negative_tokens = self._tokenize(negative_texts)
        else:
            negative_tokens = {
                "input_ids": torch.zeros(0, 1, dtype=torch.long),
                "attention_mask": torch.zeros(0, 1, dtype=torch.long),
            }

        findings = {}
        findings_ids = [findings.setdefault(sample["findings_key"], len(findings)) for sample in samples]
        return {
            "pixels": pixels,
            "frame_mask": frame_mask,
            "input_ids": tokens["input_ids"],
            "attention_mask": tokens["attention_mask"],
            "negative_input_ids": negative_tokens["input_ids"],
            "negative_attention_mask": negative_tokens["attention_mask"],
            "negative_valid": negative_valid,
            "view_ids": torch.tensor([sample["view_id"] for sample in samples], dtype=torch.long),
            "findings_ids": torch.tensor(findings_ids, dtype=torch.long),
            "keys": [sample["key"] for sample in samples],
            "captions": [sample["caption"] for sample in samples],
            "negatives": [sample["negatives"] for sample in samples],
            "meta": [sample["meta"] for sample in samples],
            "skipped": self.counter.take_new_counts(),
        }


@dataclass
class LoaderConfig:
    """Input pipeline settings.

    Attributes:
        batch_size: Samples per batch on each process.
        num_workers: DataLoader worker processes per training process.
        num_frames: Frames per clip read from ``KEY.npy``; 1 uses the key frame ``KEY.jpg`` only.
        max_negatives: Counterfactual negatives per sample sent to the text encoder during training.
        shuffle_buffer: Samples held in the shuffle buffer of each worker.
        max_consecutive_failures: Raise after this many bad samples or shards in a row.
        worker_timeout_s: Seconds to wait for a worker's batch before failing with an error.
    """

    batch_size: int = 32
    num_workers: int = 2
    num_frames: int = 1
    max_negatives: int = 2
    shuffle_buffer: int = 1000
    max_consecutive_failures: int = 500
    worker_timeout_s: float = 600.0


def build_loader(
    shards: SplitShards,
    model_config: EchoVLMConfig,
    tokenizer: Any,
    config: LoaderConfig,
    *,
    train: bool,
    seed: int = 0,
    epoch: int = 0,
    batches_per_epoch: int | None = None,
) -> torch.utils.data.DataLoader:
    """Build a DataLoader over one split.

    For training, each loader worker draws shards with replacement, shuffles their samples in a buffer,
    decodes and batches them, and stops after its share of ``batches_per_epoch``. The shard and sample
    order follow ``seed``, ``epoch``, the process rank and the worker id. For evaluation every sample is
    read once, in order, and the last batch may be smaller.

    The pipeline uses only ``wds.DataPipeline``, ``wds.SimpleShardList``, ``wds.split_by_worker``,
    ``wds.tarfile_to_samples``, ``wds.map`` and ``wds.batched``, which webdataset 0.2.86 (the pinned
    version) and 1.x both provide with the same arguments.

    Raises:
        ValueError: When ``train`` is set and ``batches_per_epoch`` is missing or below 1.
    """
    counter = SkipCounter(config.max_consecutive_failures)
    decoder = SampleDecoder(model_config, counter, config.num_frames, config.max_negatives, train=train)
    collate = Collator(tokenizer, model_config.text_max_length, counter, config.max_negatives)
    workers = config.num_workers
    if train:
        if batches_per_epoch is None or batches_per_epoch < 1:
            raise ValueError(f"batches_per_epoch must be >= 1 for training, got {batches_per_epoch}")
        per_worker = -(-batches_per_epoch // max(1, workers))
        dataset = _training_pipeline(shards, config, decoder, collate, counter, seed, epoch, per_worker)
    else:
        workers = min(workers, len(shards.urls))
        dataset = _evaluation_pipeline(shards, config, decoder, collate, counter)

    generator = torch.Generator()
    generator.manual_seed(seed * 1_000_003 + epoch)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        num_workers=workers,
        timeout=config.worker_timeout_s if workers > 0 else 0,
        persistent_workers=False,
        generator=generator,
        prefetch_factor=4 if workers > 0 else None,
    )


def _training_pipeline(
    shards: SplitShards,
    config: LoaderConfig,
    decoder: SampleDecoder,
    collate: Collator,
    counter: SkipCounter,
    seed: int,
    epoch: int,
    batches_per_worker: int,
) -> torch.utils.data.IterableDataset:
    import webdataset as wds

    rank = _process_rank()
    # Every worker samples shards on its own, so no node or worker split is needed.
    pipeline = wds.DataPipeline(
        SeededShardSampler(shards.urls, seed, epoch, rank),
        wds.tarfile_to_samples(handler=counter.handle_exception),
        WorkerSeededShuffle(config.shuffle_buffer, seed, epoch, rank),
        wds.map(decoder, handler=counter.handle_exception),
        wds.batched(config.batch_size, collation_fn=collate, partial=False),
    )
    return pipeline.with_epoch(batches_per_worker)


def _evaluation_pipeline(
    shards: SplitShards,
    config: LoaderConfig,
    decoder: SampleDecoder,
    collate: Collator,
    counter: SkipCounter,
) -> torch.utils.data.IterableDataset:
    import webdataset as wds

    # Each process reads the whole split, and its loader workers divide the shards between them.
    return wds.DataPipeline(
        wds.SimpleShardList(list(shards.urls)),
        wds.split_by_worker,
        wds.tarfile_to_samples(handler=counter.handle_exception),
        wds.map(decoder, handler=counter.handle_exception),
        wds.batched(config.batch_size, collation_fn=collate, partial=True),
    )


def _process_rank() -> int:
    """Return the distributed rank of this process: the process group's if one is set up, else ``RANK``."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("RANK", "0"))


def _worker_id() -> int:
    """Return the DataLoader worker id of the calling process, or 0 outside a worker."""
    info = torch.utils.data.get_worker_info()
    return info.id if info is not None else 0


def _stream_rng(stream: str, seed: int, epoch: int, rank: int) -> random.Random:
    """Create the random generator of one stream for this seed, epoch, rank and loader worker.

    ``random.Random`` hashes a string seed with SHA-512, so the generator is the same in every process
    and Python run, and negative seeds need no special case.
    """
    return random.Random(f"echovlm:{stream}:{seed}:{epoch}:{rank}:{_worker_id()}")


class SeededShardSampler(torch.utils.data.IterableDataset):
    """Draw shards with replacement without end, as ``{"url": path}`` dicts for ``wds.tarfile_to_samples``.

    The draws follow ``seed``, ``epoch``, ``rank`` and the loader worker id, so a rerun repeats them and
    each worker of each process draws its own sequence. ``rank`` is read in the training process when
    the loader is built, because a worker started with spawn has no process group.
    """

    def __init__(self, urls: tuple[str, ...], seed: int, epoch: int, rank: int) -> None:
        super().__init__()
        if not urls:
            raise ValueError("SeededShardSampler needs at least one shard url")
        self.urls = tuple(urls)
        self.seed = seed
        self.epoch = epoch
        self.rank = rank

    def __iter__(self) -> Iterator[dict[str, str]]:
        rng = _stream_rng("shards", self.seed, self.epoch, self.rank)
        while True:
            yield {"url": rng.choice(self.urls)}


class WorkerSeededShuffle:
    """Shuffle a sample stream through a buffer, seeded by ``seed``, ``epoch``, ``rank`` and the worker id.

    WebDataset's own ``shuffle(seed=...)`` gives every worker the same seed, so workers that draw the
    same shard would emit identical batches.
    """

    def __init__(self, buffer_size: int, seed: int, epoch: int = 0, rank: int = 0) -> None:
        self.buffer_size = buffer_size
        self.seed = seed
        self.epoch = epoch
        self.rank = rank

    def __call__(self, samples: Iterable[Any]) -> Iterator[Any]:
        rng = _stream_rng("shuffle", self.seed, self.epoch, self.rank)
        buffer: list[Any] = []
        for sample in samples:
            if len(buffer) < self.buffer_size:
                buffer.append(sample)
                continue
            index = rng.randrange(len(buffer))
            buffer[index], sample = sample, buffer[index]
            yield sample
        rng.shuffle(buffer)
        yield from buffer
