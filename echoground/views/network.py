"""The default view network: a small CNN on single grey frames, sized to run fast on a CPU.

A torchvision resnet18 (11.2 M parameters, 45 MB as float32) was the other candidate. On the synthetic
cohort the views differ in coarse anatomy, which this network (about 0.2 M parameters, under 1 MB)
separates, and its checkpoint is small enough to ship in the wheel.
"""

from __future__ import annotations

from torch import Tensor, nn

ARCHITECTURE = "echoviewnet"


class EchoViewNet(nn.Module):
    """Five conv-batchnorm-ReLU-maxpool stages, global average pooling and a linear classifier.

    Args:
        num_classes: Number of output logits.
        in_channels: Channels of the input image (1 for grey frames).
        widths: Output channels of each stage; each stage halves the image side.
        dropout: Dropout probability before the classifier.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        widths: tuple[int, ...] = (16, 32, 64, 96, 128),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"EchoViewNet needs at least 2 classes, got {num_classes}")
        layers: list[nn.Module] = []
        channels = in_channels
        for width in widths:
            layers += [
                nn.Conv2d(channels, width, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, images: Tensor) -> Tensor:
        """Map images (N, C, H, W), normalised floats, to logits (N, num_classes)."""
        features = self.pool(self.features(images)).flatten(1)
        return self.classifier(self.dropout(features))
