"""Dense heads on a feature-map encoder: a U-Net-style decoder for segmentation and for landmark heatmaps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from echovlm.downstream.encoder import FeatureMapEncoder


def _conv_block(in_channels: int, out_channels: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNetDecoder(nn.Module):
    """Upsample the coarsest encoder map step by step, merging each finer map, up to the finest map.

    Every merge upsamples by bilinear interpolation to the finer map's size, concatenates a 1x1
    projection of that map, and applies a 3x3 convolution block. The output has the resolution of the
    encoder's finest map (stride 2 for tiny_cnn and ResNets); :class:`DenseModel` upsamples the logits
    to the input size, which costs a quarter of a full-resolution decoder stage on CPU.

    Before the merges, two dilated 3x3 convolutions (dilation 2 and 4) widen the receptive field of the
    coarsest map. tiny_cnn alone has a 31-pixel receptive field, too small to find the middle of a wall.
    """

    def __init__(self, encoder_channels: list[int], width: int = 64) -> None:
        super().__init__()
        self.laterals = nn.ModuleList(nn.Conv2d(channels, width, 1) for channels in encoder_channels)
        self.context = nn.Sequential(
            _conv_block(width, width, dilation=2), _conv_block(width, width, dilation=4)
        )
        self.merges = nn.ModuleList(_conv_block(2 * width, width) for _ in encoder_channels[:-1])
        self.output_channels = width

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        features = self.laterals[-1](maps[-1])
        features = features + self.context(features)
        for index in range(len(maps) - 2, -1, -1):
            finer = self.laterals[index](maps[index])
            features = F.interpolate(features, size=finer.shape[-2:], mode="bilinear", align_corners=False)
            features = self.merges[index](torch.cat([features, finer], dim=1))
        return features


class DenseModel(nn.Module):
    """Encoder, decoder and 1x1 output convolution: ``(B, 3, H, W)`` to ``(B, outputs, H, W)`` logits."""

    def __init__(self, encoder: FeatureMapEncoder, outputs: int, width: int = 64) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = UNetDecoder(encoder.channels, width)
        self.head = nn.Conv2d(self.decoder.output_channels, outputs, 1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.decoder(self.encoder(pixels)))
        return F.interpolate(logits, size=pixels.shape[-2:], mode="bilinear", align_corners=False)

    def set_encoder_trainable(self, trainable: bool) -> None:
        """Freeze or unfreeze the encoder; a frozen encoder also keeps its BatchNorm statistics."""
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(trainable)
        self._encoder_frozen = not trainable

    def train(self, mode: bool = True) -> DenseModel:
        super().train(mode)
        if getattr(self, "_encoder_frozen", False):
            self.encoder.eval()
        return self


def soft_argmax(heatmaps: torch.Tensor) -> torch.Tensor:
    """Return the expected ``(x, y)`` pixel position under the spatial softmax of each heatmap.

    Args:
        heatmaps: Logits ``(B, K, H, W)``.

    Returns:
        ``(B, K, 2)`` coordinates where pixel ``(row, column)`` has its centre at ``(column, row)``.
    """
    batch, points, height, width = heatmaps.shape
    probabilities = heatmaps.float().flatten(2).softmax(dim=-1).view(batch, points, height, width)
    columns = torch.arange(width, device=heatmaps.device, dtype=torch.float32)
    rows = torch.arange(height, device=heatmaps.device, dtype=torch.float32)
    x = (probabilities.sum(dim=2) * columns).sum(dim=-1)
    y = (probabilities.sum(dim=3) * rows).sum(dim=-1)
    return torch.stack([x, y], dim=-1)


def gaussian_heatmaps(points: torch.Tensor, height: int, width: int, sigma: float) -> torch.Tensor:
    """Return normalised Gaussian targets ``(B, K, H, W)`` centred on ``points`` ``(B, K, 2)``."""
    columns = torch.arange(width, device=points.device, dtype=torch.float32).view(1, 1, 1, width)
    rows = torch.arange(height, device=points.device, dtype=torch.float32).view(1, 1, height, 1)
    x = points[..., 0].view(*points.shape[:2], 1, 1)
    y = points[..., 1].view(*points.shape[:2], 1, 1)
    density = torch.exp(-((columns - x) ** 2 + (rows - y) ** 2) / (2 * sigma**2))
    return density / density.flatten(2).sum(-1).clamp(min=1e-12).view(*points.shape[:2], 1, 1)


def landmark_loss(heatmaps: torch.Tensor, points: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    """Return the mean L1 coordinate error of the soft-argmax plus the heatmap cross-entropy to a Gaussian.

    The cross-entropy term (weight 1, in nats) gives each heatmap a single peak early in training. The L1
    term, in pixels, then refines the position below the pixel grid.
    """
    height, width = heatmaps.shape[-2:]
    predicted = soft_argmax(heatmaps)
    coordinate_loss = (predicted - points).abs().sum(-1).mean()
    targets = gaussian_heatmaps(points, height, width, sigma)
    log_probabilities = heatmaps.float().flatten(2).log_softmax(-1)
    cross_entropy = -(targets.flatten(2) * log_probabilities).sum(-1).mean()
    return coordinate_loss + cross_entropy


def dice_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Return 1 minus the soft Dice of the foreground classes, averaged over classes and images."""
    classes = logits.shape[1]
    probabilities = logits.float().softmax(dim=1)[:, 1:]
    one_hot = F.one_hot(masks.long(), classes).permute(0, 3, 1, 2).float()[:, 1:]
    overlap = (probabilities * one_hot).sum(dim=(2, 3))
    total = probabilities.sum(dim=(2, 3)) + one_hot.sum(dim=(2, 3))
    return 1 - ((2 * overlap + 1) / (total + 1)).mean()
