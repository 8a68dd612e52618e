"""Detectors on an ImageNet MobileNetV2 backbone, built from torchvision's parts.

torchvision ships SSDlite and Faster R-CNN on MobileNetV3 only; these are the MobileNetV2
variants the plate detector fine-tunes from ImageNet features (tools/train/imagenet_weights.py):

- `ssdlite_mobilenet_v2`: SSDLite as in the MobileNetV2 paper (Sandler et al. 2018, sec. 6.2):
  heads on the expansion layer at stride 16 and on the last layer, then four extra blocks.
  One more head on the stride-8 expansion, and smaller default boxes than torchvision's
  (0.04 of the input instead of 0.2), because road-view plates are 15-30 px wide at the input.
- `fasterrcnn_mobilenet_v2_fpn`: Faster R-CNN on MobileNetV2 + FPN over strides 8, 16 and 32,
  anchors from 16 px (torchvision's MobileNet R-CNNs start at 32 px and use strides 16-32).

Both take `backbone_weights`: a torchvision `mobilenet_v2` state_dict (ImageNet-1k) loaded into
the body before training. Each model lists the prefixes of the parameters that came from it in
`model.pretrained_prefixes`, so a trainer can freeze them for the first epochs.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from pathlib import Path

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: default-box scales (fraction of the input side) for the 7 SSDLite maps, plus the last's upper bound.
SSDLITE_SCALES = (0.04, 0.08, 0.16, 0.30, 0.45, 0.60, 0.80, 0.95)


def mobilenet_v2_features(backbone_weights: str | Path | None = None, norm_layer=None) -> nn.Sequential:
    """torchvision's MobileNetV2 `features`, with ImageNet weights from a local file if given."""
    from torchvision.models import mobilenet_v2

    net = mobilenet_v2(weights=None, norm_layer=norm_layer)
    if backbone_weights:
        state = torch.load(str(backbone_weights), map_location="cpu", weights_only=True)
        net.load_state_dict(state)  # strict: every key of torchvision's checkpoint must fit
    return net.features


class SSDLiteMobileNetV2Features(nn.Module):
    """Feature maps at strides 8, 16, 32 from MobileNetV2, then 64..512 from SSDLite's extra blocks.

    Blocks 7 and 14 of `features` are the first stride-2 blocks of their stages; their 1x1
    expansion convolution still works at the previous stride, which is where SSDLite taps them.
    """

    def __init__(self, features: nn.Sequential, norm_layer):
        super().__init__()
        from torchvision.models.detection.ssdlite import _extra_block, _normal_init

        self.s8 = nn.Sequential(*features[:7], features[7].conv[0])
        self.s16 = nn.Sequential(*features[7].conv[1:], *features[8:14], features[14].conv[0])
        self.s32 = nn.Sequential(*features[14].conv[1:], *features[15:])
        channels = (1280, 512, 256, 256, 128)
        self.extra = nn.ModuleList(_extra_block(a, b, norm_layer) for a, b in zip(channels, channels[1:]))
        _normal_init(self.extra)

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        maps = []
        for stage in (self.s8, self.s16, self.s32, *self.extra):
            x = stage(x)
            maps.append(x)
        return OrderedDict((str(i), m) for i, m in enumerate(maps))


def ssdlite_mobilenet_v2(num_classes: int, weights=None, sr_scale: int = 1, *, size: int = 512,
                         backbone_weights: str | Path | None = None) -> nn.Module:
    """SSDLite + MobileNetV2 for `num_classes` (background included), `size` x `size` input."""
    if weights is not None:
        raise ValueError("ssdlite_mobilenet_v2 has no torchvision weights; pass a checkpoint file")
    from torchvision.models.detection import _utils as det_utils
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
    from torchvision.models.detection.ssd import SSD
    from torchvision.models.detection.ssdlite import SSDLiteHead

    norm_layer = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)  # torchvision's SSDlite setting
    backbone = SSDLiteMobileNetV2Features(mobilenet_v2_features(backbone_weights), norm_layer)
    anchors = DefaultBoxGenerator([[2, 3]] * 7, scales=list(SSDLITE_SCALES))
    out_channels = det_utils.retrieve_out_channels(backbone, (size, size))
    head = SSDLiteHead(out_channels, anchors.num_anchors_per_location(), num_classes, norm_layer)
    model = SSD(backbone, anchors, (size, size), num_classes, head=head, image_mean=list(IMAGENET_MEAN),
                image_std=list(IMAGENET_STD), score_thresh=0.001, nms_thresh=0.55, detections_per_img=300,
                topk_candidates=300)
    model.pretrained_prefixes = ("backbone.s8.", "backbone.s16.", "backbone.s32.")
    return model


def fasterrcnn_mobilenet_v2_fpn(num_classes: int, weights=None, sr_scale: int = 1, *, size: int = 640,
                                backbone_weights: str | Path | None = None) -> nn.Module:
    """Faster R-CNN + MobileNetV2-FPN (strides 8, 16, 32 and a pooled level), `size` square input."""
    if weights is not None:
        raise ValueError("fasterrcnn_mobilenet_v2_fpn has no torchvision weights; pass a checkpoint file")
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import mobilenet_backbone
    from torchvision.models.detection.faster_rcnn import FasterRCNN

    # Stage ends of MobileNetV2's features are blocks 0, 2, 4, 7, 14, 18: take 4 (s8), 7 (s16), 18 (s32).
    # Frozen BatchNorm (torchvision's default for detection backbones): batches are small here.
    backbone = mobilenet_backbone(backbone_name="mobilenet_v2", fpn=True, weights=None, trainable_layers=6,
                                  returned_layers=[2, 3, 5])
    if backbone_weights:
        features = mobilenet_v2_features(backbone_weights)
        missing = backbone.body.load_state_dict(features.state_dict(), strict=False)
        if missing.missing_keys or missing.unexpected_keys:
            raise ValueError(f"{backbone_weights}: does not fit MobileNetV2's body ({missing})")
    anchors = AnchorGenerator(((16, 24), (32, 48), (64, 96), (128, 256)), ((0.5, 1.0, 2.0),) * 4)
    model = FasterRCNN(backbone, num_classes, rpn_anchor_generator=anchors, min_size=size, max_size=size,
                       image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD))
    model.pretrained_prefixes = ("backbone.body.",)
    return model
