"""CoOp prompt learning on a frozen open_clip text tower, shared by MP-IQE and CLIP-IQA+.

:class:`DualTextPrompts` builds ``[V]_1..[V]_M <class>.`` for every class of every branch (``position='middle'``:
``[V]_1..[V]_M/2 <class> [V]_M/2+1..[V]_M.``, CoOp's middle class token as the CLIP-IQA authors' coopclipiqa.py), with
one learnable context per branch (MP-IQE: scene and distortion; CLIP-IQA+: one "quality" branch), and
runs all prompts through CLIP's own text modules in ONE batch. The CLIP model is held by reference,
so its weights never enter this module's parameters or state_dict.

This is a model module: it imports torch at import time (method class modules import it lazily).
"""

from __future__ import annotations

import torch
from torch import nn

POOL_TYPES = ("argmax", "eos", "first", "last")


def _text_tower(clip):
    """(the module holding the text tower's parts, its pool type, its EOS id) for CLIP and CustomTextCLIP."""
    t = getattr(clip, "text", clip)
    pool = getattr(t, "text_pool_type", None) or getattr(t, "pool_type", "argmax")
    eos_id = getattr(t, "text_eos_id", None) if t is clip else getattr(t, "eos_id", None)
    if getattr(t, "cls_emb", None) is not None:
        raise ValueError("CoOp prompts need a CLIP text tower without an appended CLS embedding (CoCa)")
    if not hasattr(t, "token_embedding") or pool not in POOL_TYPES:
        raise ValueError(
            f"CoOp prompts need an open_clip text transformer pooled by {'/'.join(POOL_TYPES)}, not {pool!r}"
        )
    return t, pool, eos_id


class DualTextPrompts(nn.Module):
    """CoOp prompts ``[V]_1..[V]_M [class].`` with one context per branch, e.g. {scene, distortion}."""

    def __init__(
        self,
        clip,
        tokenizer,
        branches: dict[str, tuple[str, ...]],
        n_ctx: int = 8,
        ctx_init: str = "",
        position: str = "end",
    ):
        super().__init__()
        if position not in ("end", "middle"):
            raise ValueError(f"class token position {position!r}: choose end or middle")
        self.position, self.n_ctx = position, n_ctx
        # tokens of each class name (between SOS and EOS): the part of the suffix moved between the context halves
        self.name_lens = [int(tokenizer([c]).argmax(-1).item()) - 1 for b in branches for c in branches[b]]
        self._clip = [clip]
        t, self.pool_type, eos_id = _text_tower(clip)
        emb = t.token_embedding
        width = emb.weight.shape[1]
        self.branches = list(branches)
        self.sizes = [len(branches[b]) for b in self.branches]
        self.ctx = nn.ParameterDict()
        tokens, prefixes, suffixes = [], [], []
        for name in self.branches:
            if ctx_init:
                init_tok = tokenizer([ctx_init])
                n_words = int(init_tok.argmax(-1).item()) - 1  # tokens between SOS and EOS
                if n_words != n_ctx:
                    raise ValueError(f"text_ctx_init {ctx_init!r} is {n_words} tokens; text_prompt_len is {n_ctx}")
                with torch.no_grad():
                    ctx = emb(init_tok.to(emb.weight.device))[0, 1 : 1 + n_ctx].clone().to(torch.get_default_dtype())
            else:
                ctx = torch.empty(n_ctx, width)
                nn.init.normal_(ctx, std=0.02)
            self.ctx[name] = nn.Parameter(ctx)
            placeholder = " ".join(["X"] * n_ctx)
            tok = tokenizer([f"{placeholder} {c}." for c in branches[name]])
            with torch.no_grad():
                e = emb(tok.to(emb.weight.device)).to(torch.get_default_dtype())
            tokens.append(tok)
            prefixes.append(e[:, :1])
            suffixes.append(e[:, 1 + n_ctx :])
        tok = torch.cat(tokens)
        if self.pool_type == "argmax":
            pool_at = tok.argmax(-1)
        elif self.pool_type == "eos":
            pool_at = (tok == eos_id).int().argmax(-1)
        else:
            pool_at = torch.full_like(tok[:, 0], 0 if self.pool_type == "first" else tok.shape[1] - 1)
        # With a causal mask no token attends to a later one, so the sequence can be cut right after the
        # last pooled token (5x cheaper, same result). Without one (e.g. SigLIP-style towers) the padding
        # is attended to: keep the full context length.
        causal = getattr(t, "attn_mask", None) is not None
        self.seq_len = int(pool_at.max().item()) + 1 if causal else tok.shape[1]
        self.register_buffer("tokens", tok[:, : self.seq_len], persistent=False)
        self.register_buffer("pool_at", pool_at, persistent=False)
        self.register_buffer("prefix", torch.cat(prefixes), persistent=False)
        self.register_buffer("suffix", torch.cat(suffixes)[:, : self.seq_len - 1 - n_ctx], persistent=False)

    def forward(self) -> dict[str, torch.Tensor]:
        """Text features (unnormalised, joint space) of every class prompt: {branch: [C, D]}."""
        t = _text_tower(self._clip[0])[0]
        ctx = torch.cat([self.ctx[b].unsqueeze(0).expand(k, -1, -1) for b, k in zip(self.branches, self.sizes)])
        dtype = t.transformer.get_cast_dtype() if hasattr(t.transformer, "get_cast_dtype") else ctx.dtype
        if self.position == "middle":
            half = self.n_ctx // 2
            rows = [
                torch.cat(
                    [
                        self.prefix[i : i + 1],
                        ctx[i : i + 1, :half],
                        self.suffix[i : i + 1, :k],
                        ctx[i : i + 1, half:],
                        self.suffix[i : i + 1, k:],
                    ],
                    dim=1,
                )
                for i, k in enumerate(self.name_lens)
            ]
            x = torch.cat(rows).to(dtype)
        else:
            x = torch.cat([self.prefix, ctx, self.suffix], dim=1).to(dtype)
        L = self.seq_len
        x = x + t.positional_embedding[:L].to(dtype)
        mask = t.attn_mask[:L, :L] if t.attn_mask is not None else None
        x = t.transformer(x, attn_mask=mask)
        x = t.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), self.pool_at]
        proj = t.text_projection
        if proj is not None:
            x = proj(x) if isinstance(proj, nn.Linear) else x @ proj
        return dict(zip(self.branches, torch.split(x, self.sizes)))
