"""MP-IQE's modules on a frozen open_clip CLIP (paper, "Proposed Method").

* :class:`PromptedVisual`  -- CLIP's image tower run block by block with deep/shallow visual
  prompts (Eq. 7); CLIP's own frozen ``ln_post`` + ``proj`` map tokens to the text space.
* ``methods.clip_prompts.DualTextPrompts`` -- CoOp contexts for the 9 scene and 11 distortion classes
  (Eq. 6); all prompts go through the frozen text encoder in one batch (shared with CLIP-IQA+).
* :class:`MultimodalDecoder` -- Eqs. 12-14, stacked ``decoder_layers`` times, then an MLP head.
* :class:`MPIQEModel` -- the whole network, the alignment logits (Eqs. 8-11) and the score.

CLIP's weights are never copied or forked: the modules hold a reference to the open_clip model
and call its own sub-modules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.core.labels import DISTORTION_PROMPTS, SCENE_PROMPTS
from bench.data.device_input import normalise
from methods.clip_prompts import DualTextPrompts


@dataclass
class ModelConfig:
    use_scene_prompts: bool = True
    use_distortion_prompts: bool = True
    visual_prompts: str = "deep"  # deep | shallow | none
    text_prompt_len: int = 8  # M
    visual_prompt_len: int = 4  # n
    text_ctx_init: str = ""  # '' -> random N(0, 0.02) (CoOp); else words, e.g. 'a photo of a'
    visual_prompt_init: str = "xavier"  # xavier (VPT's uniform) | normal (std 0.02)
    projection: str = "clip"  # clip: CLIP's frozen ln_post+proj; learnable: a copy that trains
    decoder_layers: int = 3
    decoder_heads: int = 8
    decoder_mlp_ratio: float = 4.0
    head_hidden: int = 256
    window: int = 4  # w: w x w windows for the distortion alignment
    window_pool: str = "before"  # max-pool the windows before the projection (ViT width) or after (joint space)
    temperature: float = 0.01  # T  (Eqs. 8, 11): CLIP's own logit scale 100
    window_temperature: float = 0.01  # T-bar (Eq. 10)
    learnable_query: bool = False  # VisualOnly: one learnable query instead of text features


class PromptedVisual(nn.Module):
    """CLIP's ViT with learnable tokens between [CLS] and the patches (Eq. 7).

    deep: every block gets its own n tokens; the previous block's prompt outputs are dropped.
    shallow: only the first block's input gets tokens; they flow through all later blocks.
    none: exactly CLIP's image tower.
    """

    def __init__(self, clip, mode: str = "deep", n_prompts: int = 4, init: str = "xavier", projection: str = "clip"):
        super().__init__()
        if mode not in ("deep", "shallow", "none"):
            raise ValueError(f"visual_prompts must be deep, shallow or none, not {mode!r}")
        v = clip.visual
        if getattr(v, "attn_pool", None) is not None or not hasattr(v, "transformer"):
            raise ValueError("MP-IQE needs an open_clip VisionTransformer without attentional pooling")
        self._visual = [v]  # a reference, not a sub-module: CLIP stays out of state_dict
        self.mode = mode
        self.n = 0 if mode == "none" else int(n_prompts)
        width = v.conv1.out_channels
        self.grid = tuple(v.grid_size)
        n_sets = len(v.transformer.resblocks) if mode == "deep" else 1
        if self.n:
            self.prompts = nn.Parameter(torch.empty(n_sets, self.n, width))
            if init == "xavier":  # VPT: uniform with the fan of a patch embedding
                patch = v.conv1.kernel_size[0] * v.conv1.kernel_size[1] * 3
                bound = math.sqrt(6.0 / float(patch + width))
                nn.init.uniform_(self.prompts, -bound, bound)
            else:
                nn.init.normal_(self.prompts, std=0.02)
        else:
            self.register_parameter("prompts", None)
        if projection == "learnable":
            self.proj = nn.Parameter(v.proj.detach().clone())
        elif projection == "clip":
            self.proj = None
        else:
            raise ValueError(f"projection must be clip or learnable, not {projection!r}")

    @property
    def visual(self):
        return self._visual[0]

    def project(self, tokens: torch.Tensor) -> torch.Tensor:
        """ln_post + projection to the joint space, for [CLS], patch or window tokens alike.

        Always fp32, also under bf16 autocast: these features feed cosine similarities that are
        divided by T = 0.01, which would multiply bf16's rounding (~0.4 %) by 100."""
        v = self.visual
        proj = self.proj if self.proj is not None else v.proj
        with fp32(tokens):
            x = v.ln_post(tokens.to(torch.get_default_dtype()))
            return x @ proj.to(torch.get_default_dtype()) if proj is not None else x

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images (normalised) -> (cls [B, D], patch tokens [B, b, D]) before ln_post (width of the ViT)."""
        v = self.visual
        x = v._embeds(images)  # conv1, [CLS], positions, patch dropout, ln_pre
        tr = v.transformer
        if not getattr(tr, "batch_first", True):
            raise ValueError("open_clip transformer must run batch_first")
        B, n = x.shape[0], self.n
        if n:
            x = torch.cat([x[:, :1], self.prompts[0].to(x.dtype).expand(B, -1, -1), x[:, 1:]], dim=1)
        for i, block in enumerate(tr.resblocks):
            if i > 0 and n and self.mode == "deep":
                # Eq. 7: drop the previous block's prompt outputs, insert this block's own prompts.
                # Written in place (no copy of the whole sequence): a block's output is saved by no
                # backward, and autograd's version counter would refuse it otherwise.
                x[:, 1 : 1 + n] = self.prompts[i].to(x.dtype)
            x = run_block(block, x)
        return x[:, 0], x[:, 1 + n :]

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Same output as ``clip.encode_image`` (used by the equivalence test)."""
        cls, _ = self(images)
        return self.project(cls)


def _plain_block(block) -> bool:
    attn = getattr(block, "attn", None)
    return (
        type(block).__name__ == "ResidualAttentionBlock"
        and isinstance(attn, nn.MultiheadAttention)
        and attn.batch_first
        and attn._qkv_same_embed_dim
        and not hasattr(block, "ln_1_kv")
        and all(hasattr(block, a) for a in ("ln_1", "ls_1", "ln_2", "mlp", "ls_2"))
    )


def run_block(block, x: torch.Tensor) -> torch.Tensor:
    """``block(x)`` for one of open_clip's ResidualAttentionBlocks, computed from the block's own modules.

    With autograd on, nn.MultiheadAttention transposes to (tokens, batch, width) and its projections
    then run as slow batched matmuls (a third of a training step on CPU). Here the same weights are
    applied to the contiguous (batch, tokens, width) tensor and attention goes through SDPA: same
    result (to float rounding), faster backward. Without autograd open_clip's own call is used (it takes
    PyTorch's fused inference path, the same one ``encode_image`` takes).
    """
    if not (torch.is_grad_enabled() and _plain_block(block)):
        return block(x)
    attn = block.attn
    B, L, D = x.shape
    H = attn.num_heads
    qkv = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = qkv.view(B, L, 3, H, D // H).permute(2, 0, 3, 1, 4)
    o = F.scaled_dot_product_attention(q, k, v, dropout_p=attn.dropout if attn.training else 0.0)
    o = F.linear(o.transpose(1, 2).reshape(B, L, D), attn.out_proj.weight, attn.out_proj.bias)
    x = x + block.ls_1(o)
    return x + block.ls_2(block.mlp(block.ln_2(x)))


class DecoderLayer(nn.Module):
    """Eqs. 13-14: Q' = MHSA(LN(Q)) + Q ; Q'' = MHCA(LN(Q'), I', I') + Q' ; then a pre-norm FFN."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"decoder_heads={heads} does not divide the feature width {dim}")
        self.ln_q = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_x = nn.LayerNorm(dim)
        self.cross_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        hidden = int(dim * mlp_ratio)
        self.ffn = (
            nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
            if hidden > 0
            else None
        )

    def forward(self, q: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
        h = self.ln_q(q)
        q = q + self.self_attn(h, h, h, need_weights=False)[0]
        q = q + self.cross_attn(self.ln_x(q), mem, mem, need_weights=False)[0]
        if self.ffn is not None:
            q = q + self.ffn(q)
        return q


class MultimodalDecoder(nn.Module):
    def __init__(self, dim: int, layers: int, heads: int, mlp_ratio: float, head_hidden: int):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(dim, heads, mlp_ratio) for _ in range(layers))
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, head_hidden), nn.GELU(), nn.Linear(head_hidden, 1))

    def forward(self, queries: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """queries [B, Q, D], memory [B, T, D] -> score [B]; the Q output tokens are mean-pooled.
        The layers follow autocast; the head runs in fp32 (the score is a small regression target)."""
        q = queries
        for layer in self.layers:
            q = layer(q, memory)
        with fp32(q):
            return self.head(q.mean(dim=1).to(torch.get_default_dtype())).squeeze(-1)


class MPIQEModel(nn.Module):
    """The full network. ``forward(images, text)`` -> dict(score, scene_logits, dist_logits)."""

    def __init__(self, clip, tokenizer, cfg: ModelConfig, mean, std):
        super().__init__()
        self.cfg = cfg
        self.clip = clip
        for p in clip.parameters():
            p.requires_grad_(False)
        clip.eval()
        self.visual = PromptedVisual(
            clip, cfg.visual_prompts, cfg.visual_prompt_len, cfg.visual_prompt_init, cfg.projection
        )
        branches = {}
        if cfg.use_scene_prompts and not cfg.learnable_query:
            branches["scene"] = SCENE_PROMPTS
        if cfg.use_distortion_prompts and not cfg.learnable_query:
            branches["distortion"] = DISTORTION_PROMPTS
        self.text = (
            DualTextPrompts(clip, tokenizer, branches, cfg.text_prompt_len, cfg.text_ctx_init) if branches else None
        )
        dim = int(clip.visual.output_dim)
        self.query = nn.Parameter(torch.randn(1, 1, dim) * 0.02) if self.text is None else None
        self.decoder = MultimodalDecoder(
            dim, cfg.decoder_layers, cfg.decoder_heads, cfg.decoder_mlp_ratio, cfg.head_hidden
        )
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self._text_cache: dict[str, torch.Tensor] | None = None

    # CLIP stays in eval mode (no dropout, frozen statistics) whatever mode the heads are in
    def train(self, mode: bool = True):
        super().train(mode)
        self.clip.eval()
        if mode:
            self._text_cache = None
        return self

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._text_cache = None  # new prompts: the cached text features are stale
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def trainable_parameters(self) -> dict[str, nn.Parameter]:
        return {n: p for n, p in self.named_parameters() if p.requires_grad and not n.startswith("clip.")}

    def trainable_state(self) -> dict[str, torch.Tensor]:
        names = set(self.trainable_parameters())
        return {k: v for k, v in self.state_dict().items() if k in names}

    def text_features(self, use_cache: bool = False) -> dict[str, torch.Tensor]:
        """All class prompts in one batch, in fp32 whatever autocast is in force (20 prompts: cheap).
        With ``use_cache`` the result is kept until the prompts change (train mode, load_state_dict)."""
        if self.text is None:
            return {}
        if use_cache and self._text_cache is not None:
            return self._text_cache
        with fp32(self.mean):  # fp32 also under autocast: the logits divide these by T = 0.01
            feats = self.text()
        if use_cache:
            self._text_cache = {k: v.detach() for k, v in feats.items()}
        return feats

    def forward(
        self, images: torch.Tensor, text: dict[str, torch.Tensor] | None = None, need_alignment: bool = True
    ) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        if text is None:
            text = self.text_features(use_cache=not self.training)
        x = normalise(images, self.mean, self.std)  # bench.data.device_input: every method's one formula
        cls, patches = self.visual(x)
        cls_p, patch_p = self.visual.project(cls), self.visual.project(patches)
        memory = torch.cat([cls_p.unsqueeze(1), patch_p], dim=1)  # I' = [CLS, E]
        if self.text is None:
            queries = self.query.to(memory.dtype).expand(memory.shape[0], -1, -1)
        else:
            queries = torch.cat([text[b] for b in self.text.branches], dim=0).to(memory.dtype)  # Eq. 12
            queries = queries.unsqueeze(0).expand(memory.shape[0], -1, -1)
        out = {"score": self.decoder(queries, memory).to(torch.get_default_dtype())}
        if need_alignment and "scene" in text:  # Eq. 8 (fp32: see project)
            out["scene_logits"] = _cos(cls_p, text["scene"]) / cfg.temperature
        if need_alignment and "distortion" in text:  # Eq. 10
            gh, gw = self.visual.grid
            w = min(cfg.window, gh, gw)
            if cfg.window_pool == "after":  # pool the projected patch features (the space the similarity uses)
                win = _window_max(patch_p, gh, gw, w)  # [B, w*w, D]
            else:  # pool the ViT-width tokens, then project each window like [CLS]
                win = self.visual.project(_window_max(patches, gh, gw, w))
            with fp32(win):
                sim = _cos(win, text["distortion"])  # [B, w*w, C]
                weights = torch.softmax(sim / cfg.window_temperature, dim=1)
                out["dist_logits"] = (weights * sim).sum(dim=1) / cfg.temperature  # [B, C]
        return out


def _window_max(tokens: torch.Tensor, gh: int, gw: int, w: int) -> torch.Tensor:
    """[B, gh*gw, C] patch tokens -> [B, w*w, C]: channel-wise max over each of w x w windows (fp32)."""
    B, _, C = tokens.shape
    grid = tokens.to(torch.get_default_dtype()).transpose(1, 2).reshape(B, C, gh, gw)
    if torch.are_deterministic_algorithms_enabled():  # --deterministic: CUDA has no deterministic backward
        return _window_max_deterministic(grid, w).flatten(2).transpose(1, 2)
    return F.adaptive_max_pool2d(grid, w).flatten(2).transpose(1, 2)


def _window_max_deterministic(grid: torch.Tensor, w: int) -> torch.Tensor:
    """``F.adaptive_max_pool2d(grid, w)`` with the same values and the same gradient (all of it to the first
    maximum of each window in row-major order, as torch's kernels pick it), from a mask instead of argmax
    indices, so that its backward is elementwise: adaptive max pooling's CUDA backward has no deterministic
    implementation and raises under ``torch.use_deterministic_algorithms(True)``."""
    H, W = grid.shape[-2:]
    rows = []
    for i in range(w):
        h0, h1 = (i * H) // w, -((-(i + 1) * H) // w)  # adaptive pooling's window bounds: floor / ceil
        cols = []
        for j in range(w):
            w0, w1 = (j * W) // w, -((-(j + 1) * W) // w)
            win = grid[..., h0:h1, w0:w1].flatten(-2)  # [B, C, n]
            top = win.amax(dim=-1, keepdim=True)
            hit = (win == top) | win.isnan()
            first = hit & (hit.long().cumsum(-1) == 1)  # integer cumsum: deterministic
            cols.append(torch.where(first, win, torch.zeros_like(win)).sum(-1))
        rows.append(torch.stack(cols, dim=-1))
    return torch.stack(rows, dim=-2)


def fp32(like: torch.Tensor):
    """Autocast off (fp32 math) on the device of ``like``."""
    return torch.autocast(device_type=like.device.type, enabled=False)


def _cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    with fp32(a):
        return F.normalize(a.to(torch.get_default_dtype()), dim=-1) @ F.normalize(
            b.to(torch.get_default_dtype()), dim=-1
        ).transpose(-1, -2)


def count_trainable(model: MPIQEModel) -> int:
    return sum(p.numel() for p in model.trainable_parameters().values())
