"""Writes a tiny LLaMA-VID checkpoint folder in the released layout, and what the plain PyTorch
reference answers with it.

The folder has what the released checkpoints have: config.json with the released keys (plus tiny
vision_config / qformer_config), bf16 shards pytorch_model-0000k-of-0000n.bin written by
torch.save, pytorch_model.bin.index.json, tokenizer.model and vocab.txt. With --external-tower
the EVA weights go to a separate eva_vit_g.pth (keys without prefix, one extra block that the
model does not use, as a LAVIS file) instead of the shards.

usage: make_released_checkpoint.py OUT_DIR {video|movie} [--external-tower]
Writes OUT_DIR/checkpoint/, OUT_DIR/frame_{i}.png, OUT_DIR/question.txt,
OUT_DIR/expected.safetensors (context [T,C], content [T,K,C], answer_ids [n]).
"""
import json
import math
import os
import sys

import numpy as np
import sentencepiece as spm
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import eva_ref  # noqa: E402
import llama_ref  # noqa: E402
import safetensors_io  # noqa: E402
import token_generator_ref as tg  # noqa: E402

SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")
MOVIE_HEAD = ("Below is a movie. Memorize the content and answer my question after watching "
              "this movie.")
QUESTION = "What is shown in the video, and what colour is the ball?"
IMAGE_TOKEN_INDEX = -200
NUM_FRAMES = 3
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)

CORPUS = [
    SYSTEM, MOVIE_HEAD, "Now the movie end.", QUESTION,
    "USER: ASSISTANT: what is on screen? a red ball moves on a blue background.",
    "The video shows colour bars, then snow, then a black screen. [00:00:01] [00:01:02]",
    "How many times did the ball appear? Twice. When? At 00:03:04 and 01:02:03.",
    "yes no the a an of in on at to is was were green white checkers circular pinwheel",
]
BERT_WORDS = ["what", "is", "shown", "in", "the", "video", "and", "colour", "ball", "color",
              "red", "blue", "on", "screen", ",", "?", "."]


def write_tokenizers(ckpt):
    corpus = os.path.join(ckpt, "corpus.txt")
    with open(corpus, "w") as f:
        for _ in range(20):
            f.write("\n".join(CORPUS) + "\n")
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=os.path.join(ckpt, "tokenizer"), vocab_size=400,
        model_type="bpe", character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        byte_fallback=True, split_digits=True, remove_extra_whitespaces=False,
        normalization_rule_name="identity", minloglevel=2)
    os.remove(os.path.join(ckpt, "tokenizer.vocab"))
    os.remove(corpus)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + BERT_WORDS
    vocab += [c for c in "abcdefghijklmnopqrstuvwxyz"] + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]
    with open(os.path.join(ckpt, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    return spm.SentencePieceProcessor(model_file=os.path.join(ckpt, "tokenizer.model")), vocab


def wordpiece(vocab, text):
    """bert-base-uncased tokenisation of plain lower-case ASCII text (all this test needs)."""
    index = {t: i for i, t in enumerate(vocab)}
    words = []
    for w in text.lower().split():
        cur = ""
        for ch in w:
            if ch in ",.?!":
                if cur:
                    words.append(cur)
                words.append(ch)
                cur = ""
            else:
                cur += ch
        if cur:
            words.append(cur)
    ids = [index["[CLS]"]]
    for w in words:
        start, pieces = 0, []
        while start < len(w):
            end = len(w)
            while end > start:
                piece = w[start:end] if start == 0 else "##" + w[start:end]
                if piece in index:
                    pieces.append(index[piece])
                    break
                end -= 1
            if end == start:
                pieces = [index["[UNK]"]]
                break
            start = end
        ids += pieces
    return ids + [index["[SEP]"]]


def tokenize_with_images(sp, text):
    chunks = [[1] + sp.encode(c) for c in text.split("<image>")]
    ids = list(chunks[0])
    for c in chunks[1:]:
        ids.append(IMAGE_TOKEN_INDEX)
        ids += c[1:]
    return ids


def marker(seconds):
    return "[%02d:%02d:%02d]" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def tiny_config(sp, vocab, style):
    """config.json of the tiny test model: released keys, tiny towers."""
    config = {
        "architectures": ["LlavaLlamaAttForCausalLM"], "model_type": "llava",
        "hidden_act": "silu", "hidden_size": 64, "intermediate_size": 160,
        "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 4,
        "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "vocab_size": sp.get_piece_size(),
        "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
        "torch_dtype": "bfloat16", "use_cache": True,
        "mm_hidden_size": 32, "mm_projector_type": "mlp2x_gelu", "mm_vision_select_layer": -2,
        "mm_vision_select_feature": "patch", "mm_vision_tower": "./model_zoo/LAVIS/eva_vit_g.pth",
        "image_processor": "./model_zoo/OpenAI/clip-vit-large-patch14",
        "mm_use_im_start_end": False, "mm_use_im_patch_token": False,
        "image_aspect_ratio": "pad", "bert_type": "qformer_pretrain_freeze",
        "compress_type": "mean", "num_qformer": 4, "cross_att_freq": 2,
        "vision_config": {"image_size": 28, "patch_size": 7, "hidden_size": 32,
                          "num_hidden_layers": 2, "num_attention_heads": 4,
                          "intermediate_size": 64, "layer_norm_eps": 1e-6},
        "qformer_config": {"hidden_size": 24, "num_hidden_layers": 2, "num_attention_heads": 2,
                           "intermediate_size": 48, "cross_attention_freq": 2,
                           "vocab_size": len(vocab) + 1, "max_position_embeddings": 64,
                           "max_text_length": 32, "layer_norm_eps": 1e-12},
    }
    if style == "movie":
        config.update({"compress_type": "mean_concat", "max_token": 2048,
                       "rope_scaling": {"type": "linear", "factor": 4.0}})
    return config


def main():
    out, style = sys.argv[1], sys.argv[2]
    external = "--external-tower" in sys.argv
    ckpt = os.path.join(out, "checkpoint")
    os.makedirs(ckpt, exist_ok=True)
    sp, vocab = write_tokenizers(ckpt)

    config = tiny_config(sp, vocab, style)
    with open(os.path.join(ckpt, "config.json"), "w") as f:
        json.dump(config, f, indent=2)

    mcfg = tg.model_config(config)
    question_ids = torch.tensor([wordpiece(vocab, QUESTION)])
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, size=(28, 28, 3), dtype=np.uint8) for _ in range(NUM_FRAMES)]
    for i, px in enumerate(frames):
        Image.fromarray(px, "RGB").save(os.path.join(out, "frame_%d.png" % i))
    with open(os.path.join(out, "question.txt"), "w") as f:
        f.write(QUESTION)
    pixels = torch.stack([torch.from_numpy(((px / 255.0 - CLIP_MEAN) / CLIP_STD).astype(np.float32))
                          .permute(2, 0, 1) for px in frames])

    if style == "movie":
        user = MOVIE_HEAD + "".join("<image><image>" + marker(i) for i in range(NUM_FRAMES))
        user += "Now the movie end." + "\n" + QUESTION
    else:
        user = "<image>\n" + QUESTION
    prompt_ids = tokenize_with_images(sp, SYSTEM + " USER: " + user + " ASSISTANT:")

    # Seeds until greedy decoding is clear-cut, so float rounding cannot flip a choice.
    for seed in range(100, 200):
        gen = torch.Generator().manual_seed(seed)
        sd = eva_ref.random_eva_weights(mcfg["vision"], gen)
        sd.update(tg.random_token_generator_weights(mcfg, 4, gen))
        sd.update(llama_ref.random_weights(dict(config, rope_scaling=None), gen))
        sd = {k: v.to(torch.bfloat16) for k, v in sd.items()}
        ref = {k: v.float() for k, v in sd.items()}  # what a loader sees: bf16 values in fp32

        with torch.no_grad():
            feats = eva_ref.eva_forward(ref, pixels, mcfg["vision"])
            tokens = tg.frame_tokens(ref, feats, question_ids, torch.ones_like(question_ids), mcfg)
            visual = tokens.reshape(-1, tokens.shape[-1])
            pieces, row = [], 0
            text = []
            for t in prompt_ids:
                if t != IMAGE_TOKEN_INDEX:
                    text.append(t)
                    continue
                if text:
                    pieces.append(llama_ref.embed(ref, torch.tensor([text]))[0])
                    text = []
                take = visual.shape[0] if style == "video" else 1
                pieces.append(visual[row:row + take])
                row += take
            if text:
                pieces.append(llama_ref.embed(ref, torch.tensor([text]))[0])
            assert row == visual.shape[0]
            embeds = torch.cat(pieces)[None]
            ids, gap = llama_ref.greedy_generate(ref, config, embeds, 8, 2)
        if gap > 1e-2 and ids:
            break
    else:
        raise SystemExit("no seed gives a clear-cut greedy answer")

    # Buffers the released files carry besides weights (the loader must skip them).
    sd["model.vlm_att_encoder.bert.embeddings.position_ids"] = torch.arange(64)[None]
    sd["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(8)
    if external:
        prefix = eva_ref.PREFIX
        tower = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        extra = eva_ref.random_eva_weights(dict(mcfg["vision"], num_hidden_layers=3), gen, prefix="")
        tower.update({k: v.to(torch.bfloat16) for k, v in extra.items() if k.startswith("blocks.2.")})
        torch.save(tower, os.path.join(out, "eva_vit_g.pth"))
        sd = {k: v for k, v in sd.items() if not k.startswith(prefix)}

    names = sorted(sd)
    shards = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map, total = {}, 0
    for k, part in enumerate(shards):
        fname = "pytorch_model-%05d-of-%05d.bin" % (k + 1, len(shards))
        torch.save({n: sd[n] for n in part}, os.path.join(ckpt, fname))
        for n in part:
            weight_map[n] = fname
            total += sd[n].numel() * sd[n].element_size()
    with open(os.path.join(ckpt, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)

    safetensors_io.save({"context": tokens[:, 0].contiguous(), "content": tokens[:, 1:].contiguous(),
                         "answer_ids": torch.tensor(ids, dtype=torch.int64)},
                        os.path.join(out, "expected.safetensors"))
    with open(os.path.join(out, "expected_answer.txt"), "w") as f:
        f.write(sp.decode(ids).strip())


if __name__ == "__main__":
    main()
