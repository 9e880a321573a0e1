"""MP-IQE's network on a real (tiny) open_clip model: equivalences, frozen weights, parameter counts."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")

from bench.core.labels import DISTORTION_PROMPTS, SCENE_PROMPTS  # noqa: E402
from methods.clip_backbone import TINY_BACKBONE, create_clip  # noqa: E402
from methods.mpiqe import train as T  # noqa: E402
from methods.mpiqe.model import ModelConfig, MPIQEModel, count_trainable  # noqa: E402


def build(**overrides):
    torch.manual_seed(0)
    clip, info = create_clip(TINY_BACKBONE, "none")
    cfg = ModelConfig(**{"decoder_heads": 4, "head_hidden": 16, "window": 2, **overrides})
    return MPIQEModel(clip, open_clip.get_tokenizer(TINY_BACKBONE), cfg, info.mean, info.std), clip


def images(n=3, seed=0):
    return torch.rand(n, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def test_no_visual_prompts_is_exactly_clip_encode_image():
    model, clip = build(visual_prompts="none")
    x = images()
    with torch.no_grad():
        ours = model.visual.encode(x)
        ref = clip.encode_image(x)
    assert ours.shape == ref.shape
    assert torch.allclose(ours, ref, atol=1e-6, rtol=0)


def test_training_path_blocks_match_open_clip():
    """With autograd on, blocks run through run_block (contiguous projections): same output as open_clip."""
    model, clip = build(visual_prompts="none")
    x = images()
    ours = model.visual.encode(x)  # grad enabled: run_block's own computation
    with torch.no_grad():
        ref = clip.encode_image(x)
    assert torch.allclose(ours.detach(), ref, atol=1e-5, rtol=0)
    block = clip.visual.transformer.resblocks[0]
    t = torch.randn(2, 7, block.ln_1.normalized_shape[0], requires_grad=True)
    from methods.mpiqe.model import run_block

    assert torch.allclose(run_block(block, t), block(t), atol=1e-5)


def test_prompts_change_the_visual_path_and_deep_differs_from_shallow():
    x = images()
    with torch.no_grad():
        plain = build(visual_prompts="none")[0].visual.encode(x)
        shallow = build(visual_prompts="shallow")[0].visual.encode(x)
        deep_model = build(visual_prompts="deep")[0]
        deep = deep_model.visual.encode(x)
        # deep prompts of the last block reach the output; shallow models have one prompt set only
        assert deep_model.visual.prompts.shape[0] == len(deep_model.clip.visual.transformer.resblocks)
        deep_model.visual.prompts[-1].add_(1.0)
        deep_changed = deep_model.visual.encode(x)
    assert not torch.allclose(plain, shallow)
    assert not torch.allclose(shallow, deep)
    assert not torch.allclose(deep, deep_changed)


def test_text_path_with_photo_init_is_exactly_encode_text():
    model, clip = build(text_prompt_len=4, text_ctx_init="a photo of a")
    tok = open_clip.get_tokenizer(TINY_BACKBONE)
    with torch.no_grad():
        feats = model.text_features()
        for branch, names in (("scene", SCENE_PROMPTS), ("distortion", DISTORTION_PROMPTS)):
            ref = clip.encode_text(tok([f"a photo of a {c}." for c in names]))
            assert feats[branch].shape == ref.shape
            assert torch.allclose(feats[branch], ref, atol=1e-5, rtol=0), branch


def test_ctx_init_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="text_prompt_len"):
        build(text_prompt_len=8, text_ctx_init="a photo of a")


def _expected_trainable(cfg: ModelConfig, clip) -> int:
    W = clip.visual.conv1.out_channels  # ViT width
    L = len(clip.visual.transformer.resblocks)
    Wt = clip.token_embedding.weight.shape[1]  # text width
    D = clip.visual.output_dim  # joint space
    n = {"deep": L * cfg.visual_prompt_len, "shallow": cfg.visual_prompt_len, "none": 0}[cfg.visual_prompts]
    branches = int(cfg.use_scene_prompts) + int(cfg.use_distortion_prompts)
    H, h = int(D * cfg.decoder_mlp_ratio), cfg.head_hidden
    mha = 4 * D * D + 4 * D
    layer = 2 * (2 * D) + 2 * mha + (2 * D + D * H + H + H * D + D)
    head = 2 * D + D * h + h + h + 1
    total = n * W + branches * cfg.text_prompt_len * Wt + cfg.decoder_layers * layer + head
    total += D if branches == 0 else 0  # learnable query
    total += W * D if cfg.projection == "learnable" else 0
    return total


@pytest.mark.parametrize(
    "over",
    [
        {},
        {"use_scene_prompts": False},
        {"use_distortion_prompts": False},
        {"visual_prompts": "shallow"},
        {"visual_prompts": "none", "text_prompt_len": 2, "visual_prompt_len": 1},
        {"use_scene_prompts": False, "use_distortion_prompts": False, "visual_prompts": "none", "decoder_layers": 1},
        {"projection": "learnable", "decoder_layers": 2, "visual_prompt_len": 8, "text_prompt_len": 16},
    ],
)
def test_trainable_parameter_counts_match_the_formula(over):
    model, clip = build(**over)
    assert count_trainable(model) == _expected_trainable(model.cfg, clip)
    assert all(not p.requires_grad for p in clip.parameters())
    names = set(model.trainable_parameters())
    assert all(n.split(".")[0] in {"visual", "text", "decoder", "query"} for n in names)


def test_one_optimiser_step_leaves_every_clip_weight_bit_identical():
    model, clip = build(projection="learnable")
    before_clip = {k: v.clone() for k, v in clip.state_dict().items()}
    before_train = {k: v.detach().clone() for k, v in model.trainable_parameters().items()}
    opt = T.make_optimizer(model, lr=1e-2, weight_decay=0.0)
    model.train()
    batch = {
        "crops": torch.rand(2, 2, 3, 64, 64),
        "target": torch.tensor([0.2, 0.9]),
        "scene": torch.eye(9)[:2],
        "distortion": torch.tensor([3, 5]),
    }
    T.train_step(
        model,
        opt,
        batch,
        T.LossWeights(),
        torch.device("cpu"),
        micro_images=1,
        autocast=T.autocast_for(torch.device("cpu"), "off"),
    )
    for k, v in clip.state_dict().items():
        assert torch.equal(v, before_clip[k]), k
    changed = [k for k, v in model.trainable_parameters().items() if not torch.equal(v, before_train[k])]
    # every trainable tensor receives a gradient (text contexts through both alignment and the decoder)
    assert set(changed) == set(before_train)
    # deep prompts: every block's own tokens get a gradient (inserted in place, block by block)
    assert all(model.visual.prompts.grad[i].abs().sum() > 0 for i in range(model.visual.prompts.shape[0]))
    assert not clip.training


def test_micro_batching_gives_the_same_gradients_as_one_pass():
    batch = {
        "crops": torch.rand(4, 2, 3, 64, 64),
        "target": torch.tensor([0.1, 0.4, 0.6, 0.9]),
        "scene": torch.tensor([[1.0] + [0] * 8, [0.0] * 9, [0.5, 0.5] + [0] * 7, [0] * 8 + [1.0]]),
        "distortion": torch.tensor([1, -1, 4, 10]),
    }
    grads = []
    for micro in (4, 1):
        model, _ = build()
        model.train()
        opt = T.make_optimizer(model, lr=0.0, weight_decay=0.0)
        T.train_step(
            model,
            opt,
            batch,
            T.LossWeights(),
            torch.device("cpu"),
            micro_images=micro,
            autocast=T.autocast_for(torch.device("cpu"), "off"),
        )
        grads.append({k: p.grad.clone() for k, p in model.trainable_parameters().items()})
    for k in grads[0]:
        assert torch.allclose(grads[0][k], grads[1][k], atol=1e-4, rtol=1e-3), k


def test_forward_outputs_and_the_text_cache():
    model, _ = build()
    model.eval()
    with torch.no_grad():
        out = model(images(5))
        assert out["score"].shape == (5,)
        assert out["scene_logits"].shape == (5, len(SCENE_PROMPTS))
        assert out["dist_logits"].shape == (5, len(DISTORTION_PROMPTS))
        cached = model._text_cache
        assert cached is not None and set(cached) == {"scene", "distortion"}
        model.text.ctx["scene"].add_(1.0)  # the cache is reused in eval mode ...
        assert torch.equal(model(images(5))["score"], out["score"])
    model.train()  # ... and dropped when training resumes
    assert model._text_cache is None


def test_loading_trainable_state_drops_the_text_cache():
    model, _ = build()
    model.eval()
    with torch.no_grad():
        before = model(images(3))["score"]  # fills the eval-mode text cache
        state = {k: v.clone() for k, v in model.trainable_state().items()}
        state["text.ctx.scene"] += 1.0
    model.load_state_dict(state, strict=False)
    with torch.no_grad():
        after = model(images(3))["score"]
        fresh = model(images(3), model.text_features())["score"]
    assert not torch.allclose(before, after) and torch.equal(after, fresh)


def test_lr_schedule_warms_up_then_decays_to_min():
    f = [T.lr_factor(s, 100, 10, 0.0) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    assert f[-1] < 0.01
    assert T.lr_factor(100, 100, 10, 0.05) == pytest.approx(0.05)


def test_per_dataset_rules():
    assert [T.batch_size_for(d, None) for d in ("live", "csiq", "bid", "koniq10k", "demo-a")] == [32, 32, 32, 64, 64]
    assert T.batch_size_for("live", 7) == 7
    assert [T.lambda2_for(d, None) for d in ("live", "csiq", "kadid10k", "livec")] == [0.1, 0.1, 0.5, 0.5]
    assert T.lambda2_for("csiq", 0.3) == 0.3


def test_shared_prompt_learner_matches_encode_text_without_a_causal_mask(tmp_path):
    """A text tower with no causal mask and 'last' pooling attends to the padding: the prompt learner
    (shared with CLIP-IQA+) must not cut the sequence there, and must pool where encode_text pools."""
    import json

    from methods.clip_backbone import config_json
    from methods.clip_prompts import DualTextPrompts

    cfg = config_json(TINY_BACKBONE)
    cfg["text_cfg"].update(no_causal_mask=True, pool_type="last")
    (tmp_path / "biqa-tiny-noncausal-test.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(tmp_path)
    torch.manual_seed(0)
    clip = open_clip.create_model("biqa-tiny-noncausal-test", pretrained=None).eval()
    assert clip.attn_mask is None and clip.text_pool_type == "last"
    tok = open_clip.get_tokenizer(TINY_BACKBONE)
    prompts = DualTextPrompts(clip, tok, {"scene": SCENE_PROMPTS}, n_ctx=4, ctx_init="a photo of a")
    with torch.no_grad():
        ref = clip.encode_text(tok([f"a photo of a {c}." for c in SCENE_PROMPTS]))
        assert torch.allclose(prompts()["scene"], ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("mode", ["deep", "shallow"])
def test_visual_prompts_follow_eq7_against_a_concatenating_reference(mode):
    """Eq. 7 written out: deep = before block i>0 cut the previous prompt outputs and put block i's own
    tokens in their place; shallow = tokens inserted once. Checked with and without autograd."""
    model, clip = build(visual_prompts=mode, visual_prompt_len=3)
    v, P, n = clip.visual, model.visual.prompts, 3
    x = (images() - model.mean) / model.std
    with torch.no_grad():
        t = v._embeds(x)
        t = torch.cat([t[:, :1], P[0].expand(t.shape[0], -1, -1), t[:, 1:]], dim=1)
        for i, block in enumerate(v.transformer.resblocks):
            if i > 0 and mode == "deep":
                t = torch.cat([t[:, :1], P[i].expand(t.shape[0], -1, -1), t[:, 1 + n :]], dim=1)
            t = block(t)
        ref_cls, ref_patches = t[:, 0], t[:, 1 + n :]
        cls, patches = model.visual(x)
    assert torch.allclose(cls, ref_cls, atol=1e-5) and torch.allclose(patches, ref_patches, atol=1e-5)
    cls_g, patches_g = model.visual(x)  # training path (run_block, in-place prompt swap)
    assert torch.allclose(cls_g.detach(), ref_cls, atol=1e-5) and torch.allclose(
        patches_g.detach(), ref_patches, atol=1e-5
    )


def test_distortion_logits_follow_eqs_10_11_written_out():
    """Per class: softmax over the w*w windows (T-bar) weights the window similarities; logits = that / T."""
    model, _ = build(window=2, window_temperature=0.05, temperature=0.02)
    model.eval()
    x = images(2)
    with torch.no_grad():
        out = model(x)
        text = model.text_features()["distortion"]
        _, patches = model.visual((x - model.mean) / model.std)
        B, _, W = patches.shape
        grid = patches.transpose(1, 2).reshape(B, W, 4, 4)  # 64 px / patch 16
        for b in range(B):
            wins = [grid[b, :, r : r + 2, c : c + 2].amax(dim=(1, 2)) for r in (0, 2) for c in (0, 2)]
            proj = [model.visual.project(w) for w in wins]
            for c in range(text.shape[0]):
                sims = torch.stack([torch.nn.functional.cosine_similarity(p, text[c], dim=0) for p in proj])
                p_c = (torch.softmax(sims / 0.05, dim=0) * sims).sum()
                assert torch.isclose(out["dist_logits"][b, c], p_c / 0.02, atol=1e-3), (b, c)
