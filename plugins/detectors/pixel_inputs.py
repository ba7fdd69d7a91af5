"""What a fine-tuned network sees (``input: rgb | srm | phase``): the normalised RGB image, its SRM
noise residuals, or RGB plus the image rebuilt from its Fourier phase alone (SPSL).

Both non-RGB inputs are fixed, non-trainable functions placed in front of the backbone, so the SRM
and SPSL baselines are variants of one detector rather than new networks.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

INPUTS = ("rgb", "srm", "phase")

# The three 5x5 high-pass filters of the SRM baseline (Fridrich & Kodovsky's rich models as used for
# face forensics: the 5x5 "KV" kernel, the 3x3 second-order kernel and a 1-D second-order kernel),
# each divided by its normalising constant.
SRM_FILTERS = (
    ([[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]], 12),
    ([[0, 0, 0, 0, 0], [0, -1, 2, -1, 0], [0, 2, -4, 2, 0], [0, -1, 2, -1, 0], [0, 0, 0, 0, 0]], 4),
    ([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 1, -2, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]], 2),
)
SRM_CLIP = 3.0  # residuals are truncated to [-3, 3], as in the SRM baseline


class SRMResiduals(nn.Module):
    """(n, 3, h, w) -> (n, 3, h, w): each filter summed over the colour channels, truncated. The
    kernel is a buffer: it travels with the weights but no optimiser can move it."""

    def __init__(self):
        super().__init__()
        kernels = torch.tensor([k for k, _ in SRM_FILTERS], dtype=torch.float32)
        kernels /= torch.tensor([d for _, d in SRM_FILTERS], dtype=torch.float32).view(3, 1, 1)
        self.register_buffer("kernel", kernels.unsqueeze(1).repeat(1, 3, 1, 1))  # (3 out, 3 in, 5, 5)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        residuals = nn.functional.conv2d(images, self.kernel.to(images.dtype), padding=2)
        return residuals.clamp(-SRM_CLIP, SRM_CLIP)


def phase_only(images: torch.Tensor) -> torch.Tensor:
    """(n, c, h, w) -> (n, 1, h, w): the grey image rebuilt from its 2-D Fourier phase with unit
    amplitude (SPSL), scaled by sqrt(h * w) so its values are of unit size like normalised RGB (the
    unscaled reconstruction is ~1/sqrt(h * w), too small for a pretrained first layer to notice).
    Computed in float32 outside autocast: cuFFT takes half precision at powers of two only."""
    outside = torch.autocast("cuda", enabled=False) if images.is_cuda else contextlib.nullcontext()
    with outside:
        grey = images.float().mean(dim=1, keepdim=True)
        phase = torch.angle(torch.fft.fft2(grey))
        rebuilt = torch.fft.ifft2(torch.polar(torch.ones_like(phase), phase)).real  # e^(i phase); meta-safe
        return rebuilt * (grey.shape[-1] * grey.shape[-2]) ** 0.5


class PhaseAndRGB(nn.Module):
    """(n, 3, h, w) -> (n, 4, h, w): RGB with the phase-only image as a fourth channel (as SPSL feeds
    its network); the backbone's first convolution is widened to take it (:func:`widen_first_conv`)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([images, phase_only(images).to(images.dtype)], dim=1)


def input_stem(kind: str) -> nn.Module:
    return {"rgb": nn.Identity, "srm": SRMResiduals, "phase": PhaseAndRGB}[kind]()


def first_conv(module: nn.Module, preferred: str | None = None) -> tuple[str, nn.Conv2d] | None:
    """(name, layer) of the convolution that reads the image: the library's own answer when it has
    one (timm's ``first_conv``), else the first Conv2d with 3 input channels."""
    layers = dict(module.named_modules())
    if preferred and isinstance(layers.get(preferred), nn.Conv2d):
        return preferred, layers[preferred]
    return next(((name, layer) for name, layer in layers.items()
                 if isinstance(layer, nn.Conv2d) and layer.in_channels == 3), None)


def widen_first_conv(module: nn.Module, name: str, extra: int = 1) -> nn.Conv2d:
    """Replace the layer ``name`` by one with ``extra`` more input channels: the RGB filters are kept,
    each new channel starts as their mean (pretrained features stay intact at the start)."""
    old = dict(module.named_modules())[name]
    new = nn.Conv2d(old.in_channels + extra, old.out_channels, old.kernel_size, old.stride, old.padding,
                    old.dilation, old.groups, old.bias is not None, old.padding_mode,
                    device=old.weight.device, dtype=old.weight.dtype)
    if old.weight.device.type != "meta":
        with torch.no_grad():
            new.weight[:, : old.in_channels] = old.weight
            new.weight[:, old.in_channels:] = old.weight.mean(dim=1, keepdim=True)
            if old.bias is not None:
                new.bias.copy_(old.bias)
    parent_name, _, child = name.rpartition(".")
    setattr(module.get_submodule(parent_name) if parent_name else module, child, new)
    return new
