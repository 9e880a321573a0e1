"""DACNN's network (Pan et al., TCSVT 2022), written from the paper and the official code
(NUIST-Videocoding/DACNN network.py, pretrain_model/EfficientNet.py). Imports torch: loaded from ``build``.

Two frozen EfficientNet-B0 streams see the same crop: ADANet (ImageNet weights: authentic distortions) and
SDANet (EfficientNet-B0 pre-trained on synthetic distortions). Their features at strides 4, 8, 16, 32
(efficientnet_pytorch's endpoints reduction_2..5: 24, 40, 112, 1280 channels) meet in four fusion stages:

    MSFB(c -> 3 x 24) on each stream; WGB gates them against each other; MSFB(144 -> 72); global average pool

and the four 72-d vectors (288) go through fc 512 - PReLU - dropout - fc 512 - PReLU - fc 1.

* MSFB (multi-scale feature block): concat(conv1x1/s2(x), conv3x3/s2(x), conv3x3/s1(conv3x3/s2(x))), no
  normalisation or activation.
* WGB (weight generation block): z = concat(a, s); concat(a * sigmoid(conv3x3(z)), s * sigmoid(conv3x3'(z))).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_CHANNELS = (24, 40, 112, 1280)  # EfficientNet-B0 endpoints reduction_2 .. reduction_5
BRANCH = 24  # channels of each MSFB branch (official network.py)
ENDPOINT_STAGES = (2, 3, 5, 8)  # torchvision efficientnet_b0.features indices giving those endpoints


class MSFB(nn.Module):
    def __init__(self, cin: int, cout: int = BRANCH):
        super().__init__()
        self.conv1_s2 = nn.Conv2d(cin, cout, 1, stride=2, padding=0)
        self.conv3_s2 = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
        self.conv3_s2_b = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
        self.conv3_s1_b = nn.Conv2d(cout, cout, 3, stride=1, padding=1)

    def forward(self, x):
        return torch.cat([self.conv1_s2(x), self.conv3_s2(x), self.conv3_s1_b(self.conv3_s2_b(x))], dim=1)


class WGB(nn.Module):
    def __init__(self, channels: int = 3 * BRANCH):
        super().__init__()
        self.gate_a = nn.Conv2d(2 * channels, channels, 3, padding=1)
        self.gate_s = nn.Conv2d(2 * channels, channels, 3, padding=1)

    def forward(self, a, s):
        z = torch.cat([a, s], dim=1)
        return torch.cat([a * torch.sigmoid(self.gate_a(z)), s * torch.sigmoid(self.gate_s(z))], dim=1)


class FusionStage(nn.Module):
    """One level of the distortion fusion module: both streams' features -> a 72-d vector."""

    def __init__(self, cin: int):
        super().__init__()
        self.msfb_a = MSFB(cin)
        self.msfb_s = MSFB(cin)
        self.wgb = WGB(3 * BRANCH)
        self.msfb_out = MSFB(6 * BRANCH)

    def forward(self, a, s):
        fused = self.msfb_out(self.wgb(self.msfb_a(a), self.msfb_s(s)))
        return fused.mean(dim=(2, 3))


class EfficientNetEndpoints(nn.Module):
    """torchvision EfficientNet-B0 ``features`` returning the four endpoints."""

    def __init__(self, features: nn.Sequential):
        super().__init__()
        self.features = features

    def forward(self, x):
        out = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in ENDPOINT_STAGES:
                out.append(x)
        return out


class DACNNNet(nn.Module):
    def __init__(self, adanet: nn.Module, sdanet: nn.Module, dropout: float = 0.5, frozen_bn: bool = False):
        super().__init__()
        self.adanet, self.sdanet = adanet, sdanet
        for p in list(adanet.parameters()) + list(sdanet.parameters()):
            p.requires_grad_(False)
        self.frozen_bn = frozen_bn
        self.stages = nn.ModuleList([FusionStage(c) for c in FEATURE_CHANNELS])
        self.fc1, self.fc2, self.fc3 = nn.Linear(4 * 3 * BRANCH, 512), nn.Linear(512, 512), nn.Linear(512, 1)
        self.prelu1, self.prelu2 = nn.PReLU(), nn.PReLU()
        self.dropout = nn.Dropout(dropout)
        for fc in (self.fc1, self.fc2, self.fc3):  # official: kaiming_normal_ on the fc weights
            nn.init.kaiming_normal_(fc.weight)

    def train(self, mode: bool = True):
        # the official solver calls model.train(True): the frozen streams' BatchNorm then uses batch statistics
        # and updates its running ones, and stochastic depth is active; frozen_bn keeps them in eval mode
        super().train(mode)
        if self.frozen_bn:
            self.adanet.eval()
            self.sdanet.eval()
        return self

    def head_parameters(self) -> list:
        return [p for n, p in self.named_parameters() if not n.startswith(("adanet.", "sdanet."))]

    def forward(self, x):
        a, s = self.adanet(x), self.sdanet(x)
        v = torch.cat([stage(fa, fs) for stage, fa, fs in zip(self.stages, a, s)], dim=1)
        q = self.dropout(self.prelu1(self.fc1(v)))
        q = self.prelu2(self.fc2(q))
        return self.fc3(q).reshape(-1)


# --- the backbones ----------------------------------------------------------------------------------
def efficientnet_b0(weights=None) -> nn.Module:
    """torchvision EfficientNet-B0 (``weights``: None or 'IMAGENET1K_V1'), its features as endpoints."""
    import torchvision

    net = torchvision.models.efficientnet_b0(weights=weights)
    return EfficientNetEndpoints(net.features)


def set_batchnorm(module: nn.Module, eps: float, momentum: float) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps, m.momentum = eps, momentum


def _tf_same_pad(conv: nn.Conv2d):
    """A forward pre-hook padding the input as TensorFlow's 'SAME' (efficientnet_pytorch's Conv2d*SamePadding):
    the extra pixel of an even total pad goes bottom / right."""

    def hook(module, args):
        x = args[0]
        pads = []
        for size, k, s, d in zip(x.shape[-2:], module.kernel_size, module.stride, module.dilation):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return (F.pad(x, [left, right, top, bottom]),)

    return hook


def use_tf_same_padding(module: nn.Module) -> None:
    """Strided convs pad as TF 'SAME' (stride-1 odd kernels pad the same either way): how the official SDANet
    (efficientnet_pytorch) was trained."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d) and max(m.stride) > 1:
            m.padding = (0, 0)
            m.register_forward_pre_hook(_tf_same_pad(m))


# efficientnet_pytorch MBConv block names -> position inside torchvision's MBConv.block (with / without expansion)
_BLOCK_LEAVES = {
    "_expand_conv": ("expand", "0"),
    "_bn0": ("expand", "1"),
    "_depthwise_conv": ("dw", "0"),
    "_bn1": ("dw", "1"),
    "_se_reduce": ("se", "fc1"),
    "_se_expand": ("se", "fc2"),
    "_project_conv": ("proj", "0"),
    "_bn2": ("proj", "1"),
}
STAGE_REPEATS = (1, 2, 2, 3, 3, 4, 1)  # EfficientNet-B0 blocks per stage (torchvision features[1..7])


class CheckpointMismatch(ValueError):
    pass


def efficientnet_pytorch_to_torchvision(state_dict: dict) -> dict:
    """Keys of an efficientnet_pytorch EfficientNet-B0 state dict (the official SDANet checkpoint, keys
    'efficient.*' of pretrain_model/EfficientNet.py's effNet) renamed to torchvision's ``features.*``.
    Its classifier (_fc) and effNet's own fc1-fc3 (pre-training head) are not part of the stream: dropped."""
    sd = {k.removeprefix("module."): v for k, v in state_dict.items()}
    prefix = "efficient." if any(k.startswith("efficient.") for k in sd) else ""
    stage_of = [(s, i) for s, n in enumerate(STAGE_REPEATS, start=1) for i in range(n)]
    out, unknown = {}, []
    for key, value in sd.items():
        if key.split(".")[0] in ("fc1", "fc2", "fc3"):  # effNet's pre-training regressor
            continue
        if not key.startswith(prefix):
            unknown.append(key)
            continue
        k = key[len(prefix) :]
        head, _, leaf = k.partition(".")
        if head == "_conv_stem":
            out[f"features.0.0.{leaf}"] = value
        elif head == "_bn0":
            out[f"features.0.1.{leaf}"] = value
        elif head == "_conv_head":
            out[f"features.8.0.{leaf}"] = value
        elif head == "_bn1":
            out[f"features.8.1.{leaf}"] = value
        elif head == "_fc":
            continue
        elif head == "_blocks":
            idx, _, rest = leaf.partition(".")
            name, _, param = rest.partition(".")
            if name not in _BLOCK_LEAVES or not idx.isdigit() or int(idx) >= len(stage_of):
                unknown.append(key)
                continue
            stage, i = stage_of[int(idx)]
            expands = stage > 1  # B0: only the first stage has expand ratio 1
            part, sub = _BLOCK_LEAVES[name]
            pos = {"expand": 0, "dw": 1, "se": 2, "proj": 3}[part] - (0 if expands else 1)
            if part == "expand" and not expands:
                unknown.append(key)
                continue
            out[f"features.{stage}.{i}.block.{pos}.{sub}.{param}"] = value
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointMismatch(
            f"keys that are not an efficientnet_pytorch EfficientNet-B0: {sorted(unknown)[:8]}"
            f"{' ...' if len(unknown) > 8 else ''}"
        )
    return out


def load_sdanet(stream: EfficientNetEndpoints, state_dict: dict, path: str) -> None:
    """The official SDANet weights into a torchvision B0 stream: every tensor, shapes equal, or an error."""
    renamed = efficientnet_pytorch_to_torchvision(state_dict)
    own = stream.state_dict()
    missing = sorted(set(own) - set(renamed))
    unexpected = sorted(set(renamed) - set(own))
    wrong = sorted(k for k in set(own) & set(renamed) if tuple(own[k].shape) != tuple(renamed[k].shape))
    if missing or unexpected or wrong:
        raise CheckpointMismatch(
            f"{path} does not fit EfficientNet-B0: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}, other shapes {wrong[:5]}"
        )
    stream.load_state_dict(renamed, strict=True)
