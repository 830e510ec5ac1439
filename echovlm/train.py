"""Train EchoVLM on EchoGround WebDataset shards, on one CPU or GPU or under torchrun (DDP).

A run writes to its output folder: ``checkpoints/last.pt`` (resumable), ``metrics.csv`` and
``curves.png`` (loss and throughput per logged step), ``train_config.json``, ``summary.json`` and the
exported model in ``model/`` (``EchoVLM.from_pretrained`` loads it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from echovlm.checkpoint import CHECKPOINT_NAME, load_checkpoint, restore_rng_state, save_checkpoint
from echovlm.curves import CurveWriter, plot_curves
from echovlm.data import LoaderConfig, ShardError, TruncatedShardError, build_loader, find_shards
from echovlm.losses import LossConfig, echovlm_loss
from echovlm.model import EchoVLM, EchoVLMConfig, describe_initialisation, parameter_count

logger = logging.getLogger(__name__)

MODEL_DIR = "model"


@dataclass
class TrainConfig:
    """Settings of a training run.

    Attributes:
        model: Model architecture.
        loss: Loss term weights.
        loader: Input pipeline settings (batch size is per process).
        steps: Optimizer steps to train for.
        samples_per_epoch: Samples drawn per epoch over all processes; None uses the train split's
            ``sizes.json`` total.
        learning_rate: Peak AdamW learning rate.
        weight_decay: AdamW weight decay of weight matrices (not of biases, norms or the temperature).
        warmup_steps: Steps of linear warm-up before the cosine decay to 0.
        accumulation_steps: Micro-batches accumulated per optimizer step. The contrastive negatives are
            those of one micro-batch, so accumulation saves memory but does not enlarge the negative pool.
        max_grad_norm: Gradient norm clip; 0 disables clipping.
        seed: Seed of model initialisation, data order and loss sampling.
        log_every: Steps between progress lines and ``metrics.csv`` rows.
        checkpoint_every: Steps between checkpoints (one is always written at the end).
        val_every: Steps between validation losses on the val split; 0 disables.
        val_batches: Batches of the val split per validation.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        precision: ``auto`` (bf16 autocast on CUDA, fp32 on CPU), ``bf16`` or ``fp32``.
        threads: ``torch.set_num_threads`` value for CPU runs; None keeps the torch default.
        resume: Continue from ``checkpoints/last.pt`` in the output folder when it exists.
    """

    model: EchoVLMConfig = field(default_factory=EchoVLMConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    steps: int = 1000
    samples_per_epoch: int | None = None
    learning_rate: float = 1e-4
    weight_decay: float = 0.1
    warmup_steps: int = 50
    accumulation_steps: int = 1
    max_grad_norm: float = 1.0
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 200
    val_every: int = 0
    val_batches: int = 10
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    resume: bool = True

    def __post_init__(self) -> None:
        _check_minimums(
            {
                "steps": (self.steps, 1),
                "samples_per_epoch": (self.samples_per_epoch, 1),
                "warmup_steps": (self.warmup_steps, 0),
                "accumulation_steps": (self.accumulation_steps, 1),
                "log_every": (self.log_every, 1),
                "checkpoint_every": (self.checkpoint_every, 1),
                "val_every": (self.val_every, 0),
                "val_batches": (self.val_batches, 1),
                "threads": (self.threads, 1),
                "model.embed_dim": (self.model.embed_dim, 1),
                # The contrastive loss contrasts each sample with the others of its batch on the same
                # process, so a batch of one sample gives a constant contrastive loss.
                "loader.batch_size": (self.loader.batch_size, 2),
                "loader.num_workers": (self.loader.num_workers, 0),
                "loader.num_frames": (self.loader.num_frames, 1),
                "loader.max_negatives": (self.loader.max_negatives, 0),
            }
        )
        rate = self.learning_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            hint = " (YAML 1.1 reads 1e-4 as a string: write 1.0e-4)" if isinstance(rate, str) else ""
            raise ValueError(f"invalid training setting learning_rate={rate!r}: use a number > 0{hint}")

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["model"] = self.model.to_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        values = dict(values)
        model = EchoVLMConfig.from_dict(values.pop("model", {}))
        loss = LossConfig(**values.pop("loss", {}))
        loader = LoaderConfig(**values.pop("loader", {}))
        return cls(model=model, loss=loss, loader=loader, **values)


def _check_minimums(settings: dict[str, tuple[int | None, int]]) -> None:
    """Raise ValueError naming the first setting that is not an integer at or above its minimum.

    ``settings`` maps a config key to its value and minimum, and a value of None (unset) passes.
    """
    for key, (value, minimum) in settings.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(
                f"invalid training setting {key}={value!r}: use an integer >= {minimum} "
                "(in the --config file or the matching option)"
            )


@dataclass
class TrainResult:
    """Outcome of a run: where the model is, how far it got and what was skipped."""

    model_dir: Path
    steps: int
    samples: int
    final_loss: float
    samples_per_s: float
    loader_wait_share: float
    skipped: dict[str, int]


@dataclass
class _Distributed:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _init_distributed(device_kind: str) -> _Distributed:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return _Distributed()
    backend = "nccl" if device_kind == "cuda" else "gloo"
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend=backend)
    return _Distributed(torch.distributed.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), world_size)


def _device_kind(config: TrainConfig) -> str:
    if config.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if config.device not in ("cpu", "cuda"):
        raise ValueError(f"device {config.device!r} is invalid: use auto, cpu or cuda")
    return config.device


def _resolve_device(config: TrainConfig, local_rank: int) -> torch.device:
    if _device_kind(config) == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was requested but CUDA is not available; use --device cpu")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _autocast(config: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")
    if use_bf16:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _optimizer(model: EchoVLM, config: TrainConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        if parameter.ndim < 2 or name == "logit_scale":
            no_decay.append(parameter)
        else:
            decay.append(parameter)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=(0.9, 0.98), eps=1e-6)


def _schedule(config: TrainConfig) -> Any:
    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {
        key: value.to(device, non_blocking=True) if torch.is_tensor(value) else value
        for key, value in batch.items()
    }


def _forward_loss(
    model: torch.nn.Module, batch: dict[str, Any], config: TrainConfig, device: torch.device
) -> tuple[torch.Tensor, dict[str, float]]:
    with _autocast(config, device):
        with_negatives = config.loss.negation_weight > 0
        outputs = model(
            batch["pixels"],
            batch["input_ids"],
            batch["attention_mask"],
            frame_mask=batch["frame_mask"],
            negative_input_ids=batch["negative_input_ids"] if with_negatives else None,
            negative_attention_mask=batch["negative_attention_mask"] if with_negatives else None,
        )
    return echovlm_loss(outputs, batch, config.loss)


@torch.no_grad()
def _validation_loss(model: EchoVLM, loader: Any, config: TrainConfig, device: torch.device) -> float | None:
    model.eval()
    losses = []
    for index, batch in enumerate(loader):
        if index >= config.val_batches:
            break
        if len(batch["keys"]) < 2:
            continue
        _, parts = _forward_loss(model, _to_device(batch, device), config, device)
        losses.append(parts["loss"])
    model.train()
    return float(np.mean(losses)) if losses else None


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train(shards_dir: str | Path, out_dir: str | Path, config: TrainConfig) -> TrainResult:
    """Train EchoVLM on ``shards_dir/train`` and export the model to ``out_dir/model``.

    Under torchrun every process calls this function; rank 0 writes the files.

    Raises:
        ShardError: When the shard folder or the train split is missing or empty, or when an epoch yields
            no batch because every sample was skipped.
        CheckpointMismatchError: When resuming from a checkpoint of another model configuration.
    """
    shards_dir, out_dir = Path(shards_dir), Path(out_dir)
    train_shards = find_shards(shards_dir, "train")
    if config.threads:
        torch.set_num_threads(config.threads)
    device_kind = (
        "cuda"
        if config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
        else "cpu"
    )
    dist = _init_distributed(device_kind)
    device = _resolve_device(config, dist.local_rank)
    _seed_everything(config.seed)

    samples_per_epoch = config.samples_per_epoch or train_shards.samples
    if not samples_per_epoch:
        raise ShardError(
            f"{shards_dir / 'train'} has no sizes.json, so the epoch length is unknown: "
            "pass --samples-per-epoch"
        )
    batches_per_epoch = max(1, samples_per_epoch // (config.loader.batch_size * dist.world_size))

    model = EchoVLM(config.model).to(device)
    optimizer = _optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config))
    model_config = config.model.to_dict()
    checkpoint_dir = out_dir / "checkpoints"
    step, epoch = 0, 0
    if config.resume and (checkpoint_dir / CHECKPOINT_NAME).is_file():
        state = load_checkpoint(checkpoint_dir / CHECKPOINT_NAME, model_config)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_rng_state(state["rng"])
        step = int(state["step"])
        # NOTE: the interrupted epoch is not replayed; the run continues with a freshly seeded epoch, which
        # draws from the same resampled distribution.
        epoch = int(state["epoch"]) + 1
        logger.info("resumed from %s at step %d", checkpoint_dir / CHECKPOINT_NAME, step)

    if dist.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "train_config.json").write_text(
            json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8"
        )
        logger.info(
            "training on %s: %d train shards, %d samples per epoch, %d process(es), device %s; %s; "
            "%d trainable parameters",
            shards_dir,
            len(train_shards.urls),
            samples_per_epoch,
            dist.world_size,
            device,
            describe_initialisation(config.model),
            parameter_count(model, trainable_only=True),
        )
    network: torch.nn.Module = model
    if dist.world_size > 1:
        device_ids = [device.index] if device.type == "cuda" else None
        network = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    curves = CurveWriter(out_dir / "metrics.csv", resume=step > 0) if dist.is_main else None
    val_shards = None
    if config.val_every > 0:
        try:
            val_shards = find_shards(shards_dir, "val")
        except TruncatedShardError:
            raise
        except ShardError as error:
            logger.warning("validation loss disabled: %s", error)

    skipped: Counter[str] = Counter()
    total_samples = 0
    start_time = time.perf_counter()
    window = {"samples": 0, "wait": 0.0, "start": time.perf_counter(), "losses": []}
    last_parts: dict[str, float] = {"loss": float("nan")}
    total_wait = 0.0
    model.train()
    while step < config.steps:
        loader = build_loader(
            train_shards,
            config.model,
            model.tokenizer,
            config.loader,
            train=True,
            seed=config.seed + 1000 * dist.rank,
            epoch=epoch,
            batches_per_epoch=batches_per_epoch,
        )
        iterator = iter(loader)
        micro_step = 0
        batches_this_epoch = 0
        while step < config.steps:
            wait_start = time.perf_counter()
            batch = next(iterator, None)
            waited = time.perf_counter() - wait_start
            if batch is None:
                break
            window["wait"] += waited
            total_wait += waited
            batches_this_epoch += 1
            skipped.update(batch["skipped"])
            batch = _to_device(batch, device)
            micro_step += 1
            is_update = micro_step % config.accumulation_steps == 0
            sync = contextlib.nullcontext() if is_update or dist.world_size == 1 else network.no_sync()
            with sync:
                loss, parts = _forward_loss(network, batch, config, device)
                (loss / config.accumulation_steps).backward()
            window["samples"] += len(batch["keys"]) * dist.world_size
            total_samples += len(batch["keys"]) * dist.world_size
            window["losses"].append(parts)
            if not is_update:
                continue

            if config.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1

            if step % config.log_every == 0 or step == config.steps:
                last_parts = _log_window(
                    step, epoch, total_samples, window, model, optimizer, config, dist, curves
                )
            if val_shards is not None and dist.is_main and step % config.val_every == 0:
                _log_validation(model, val_shards, config, device, step, epoch, total_samples, curves)
            if dist.is_main and (step % config.checkpoint_every == 0 or step == config.steps):
                save_checkpoint(checkpoint_dir, model, optimizer, scheduler, step, epoch, model_config)
        del iterator, loader
        if batches_this_epoch == 0:
            raise ShardError(
                f"epoch {epoch} over {shards_dir / 'train'} yielded no batch; "
                f"skipped samples: {dict(skipped)}. "
                f"Each process needs at least {config.loader.batch_size} readable samples"
            )
        epoch += 1

    elapsed = time.perf_counter() - start_time
    skipped = _gather_counts(skipped, dist)
    result = TrainResult(
        model_dir=out_dir / MODEL_DIR,
        steps=step,
        samples=total_samples,
        final_loss=last_parts.get("loss", float("nan")),
        samples_per_s=total_samples / elapsed if elapsed > 0 else 0.0,
        loader_wait_share=total_wait / elapsed if elapsed > 0 else 0.0,
        skipped=dict(skipped),
    )
    if dist.is_main:
        model.save_pretrained(out_dir / MODEL_DIR)
        plot_curves(out_dir / "metrics.csv", out_dir / "curves.png")
        summary = asdict(result) | {"model_dir": str(result.model_dir), "world_size": dist.world_size}
        # JSON has no NaN or infinity, so a diverged final loss is written as null.
        if not math.isfinite(result.final_loss):
            summary["final_loss"] = None
        (out_dir / "summary.json").write_text(
            json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        if skipped:
            logger.warning("skipped samples during training: %s", dict(skipped))
        logger.info(
            "finished %d steps, %d samples in %.0f s (%.1f samples/s, loader wait %.0f%%); model in %s",
            step,
            total_samples,
            elapsed,
            result.samples_per_s,
            100 * result.loader_wait_share,
            result.model_dir,
        )
    if dist.world_size > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return result


def _log_window(
    step: int,
    epoch: int,
    total_samples: int,
    window: dict[str, Any],
    model: EchoVLM,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    dist: _Distributed,
    curves: CurveWriter | None,
) -> dict[str, float]:
    """Average the loss parts since the last log line, log them, append a CSV row and reset the window."""
    parts: dict[str, float] = {}
    for name in ("loss", "loss_clip", "loss_view", "loss_negation"):
        values = [entry[name] for entry in window["losses"] if name in entry]
        if values:
            parts[name] = float(np.mean(values))
    if dist.world_size > 1:
        names = sorted(parts)
        values = torch.tensor([parts[name] for name in names], dtype=torch.float64)
        torch.distributed.all_reduce(values)
        parts = {name: float(value) / dist.world_size for name, value in zip(names, values, strict=True)}
    elapsed = max(1e-9, time.perf_counter() - window["start"])
    speed = window["samples"] / elapsed
    wait_share = window["wait"] / elapsed
    if dist.is_main:
        logger.info(
            "step %d/%d epoch %d loss %.4f (clip %.4f) %.1f samples/s, loader wait %.0f%%",
            step,
            config.steps,
            epoch,
            parts.get("loss", float("nan")),
            parts.get("loss_clip", float("nan")),
            speed,
            100 * wait_share,
        )
        if curves is not None:
            curves.write(
                parts
                | {
                    "step": step,
                    "epoch": epoch,
                    "samples": total_samples,
                    "logit_scale": float(model.scale().detach()),
                    "learning_rate": optimizer.param_groups[0]["lr"],
                    "samples_per_s": speed,
                    "loader_wait_share": wait_share,
                }
            )
    window.update(samples=0, wait=0.0, start=time.perf_counter(), losses=[])
    return parts


def _log_validation(
    model: EchoVLM,
    val_shards: Any,
    config: TrainConfig,
    device: torch.device,
    step: int,
    epoch: int,
    total_samples: int,
    curves: CurveWriter | None,
) -> None:
    loader = build_loader(
        val_shards, config.model, model.tokenizer, config.loader, train=False, seed=config.seed
    )
    value = _validation_loss(model, loader, config, device)
    if value is None:
        logger.warning("validation at step %d skipped: the val split yielded no batch of 2 or more", step)
        return
    logger.info("step %d validation loss %.4f", step, value)
    if curves is not None:
        curves.write({"step": step, "epoch": epoch, "samples": total_samples, "val_loss": value})


def _gather_counts(counts: Counter[str], dist: _Distributed) -> Counter[str]:
    if dist.world_size <= 1:
        return counts
    gathered: list[Any] = [None] * dist.world_size
    torch.distributed.all_gather_object(gathered, dict(counts))
    total: Counter[str] = Counter()
    for item in gathered:
        total.update(item)
    return total
