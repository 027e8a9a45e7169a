"""Regenerates the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) from the
reference writers and the shipped default model: make_seeds.py [CORPUS_DIR]

Seeds are small valid examples, so the fuzzers start from inputs that reach deep into each reader.
"""
import collections
import json
import os
import shutil
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import make_released_checkpoint as rc  # noqa: E402
import make_torch_checkpoints as mtc  # noqa: E402
import safetensors_io  # noqa: E402

DEFAULT_MODEL = os.path.join(ROOT, "models", "default")

QUESTIONS = [
    "What is on screen?",
    "What colour was the ball before the blue one?",
    "  Describe the video.\n",
    "How long was the red segment shown? Answer in seconds, [00:01:02].",
    "Qu'est-ce qui est \u00e0 l'\u00e9cran ? \u753b\u9762\u306b\u4f55\u304c\u3042\u308a\u307e\u3059\u304b \U0001F600",
    "</s><s> [CLS] ##ing <0x41>",
]


def write(dir_, name, data):
    os.makedirs(dir_, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(os.path.join(dir_, name), mode) as f:
        f.write(data)


def small_tensors():
    g = torch.Generator().manual_seed(0)
    out = collections.OrderedDict()
    out["f32"] = torch.randn(2, 3, generator=g)
    out["bf16"] = torch.randn(4, generator=g).to(torch.bfloat16)
    out["f16"] = torch.randn(1, 2, 2, generator=g).to(torch.float16)
    out["i64"] = torch.arange(3, dtype=torch.int64)
    out["u8"] = torch.arange(5, dtype=torch.uint8)
    out["flag"] = torch.tensor([True, False])
    out["scalar"] = torch.tensor(2.5)
    out["empty"] = torch.zeros(0, 3)
    return out


def seeds_safetensors(d):
    safetensors_io.save(small_tensors(), os.path.join(d, "dtypes.safetensors"),
                        metadata={"format": "pt"})
    safetensors_io.save({"w": torch.ones(2, 2)}, os.path.join(d, "one.safetensors"))
    # A shape nested 100,000 deep: it once overflowed the stack when an error printed it.
    header = ('{"w": {"dtype": "F32", "shape": ' + "[" * 100000 + "]" * 100000 +
              ', "data_offsets": [0, 4]}}').encode()
    write(d, "deep_shape.safetensors", len(header).to_bytes(8, "little") + header + bytes(4))


def seeds_torch_checkpoint(d):
    torch.save(small_tensors(), os.path.join(d, "dtypes.pt"))
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    views = collections.OrderedDict(base=base, t=base.t(), col=base[:, 1],
                                    param=torch.nn.Parameter(torch.ones(2)))
    torch.save(views, os.path.join(d, "views.pt"))
    torch.save({"model": {"a": torch.ones(2)}, "step": 3, "name": "x", "lr": [0.1, (1, 2)]},
               os.path.join(d, "nested.pt"))
    with tempfile.TemporaryDirectory() as tmp:
        # Containers nested past the reader's bound (a million deep once overflowed the stack
        # when the value tree was freed); 1,000 levels keep the seeds small.
        mtc.nested_case(tmp, "deep_list", b"]" * 1000 + b"a" * 999)
        mtc.nested_case(tmp, "deep_tuple", b"N" + b"\x85" * 1000)
        for name in ("deep_list", "deep_tuple"):
            shutil.copy(os.path.join(tmp, name + ".pt"), os.path.join(d, name + ".pt"))
    with tempfile.TemporaryDirectory() as tmp:
        mtc.case_zip64(tmp)
        for name in os.listdir(tmp):
            if name.endswith(".pt") and os.path.getsize(os.path.join(tmp, name)) < 16384:
                shutil.copy(os.path.join(tmp, name), os.path.join(d, "zip64_" + name))


def seeds_config(d):
    shutil.copy(os.path.join(DEFAULT_MODEL, "config.json"), os.path.join(d, "default.json"))
    write(d, "deep.json", '{"vision_config": ' + "[" * 100000 + "]" * 100000 + "}")
    with tempfile.TemporaryDirectory() as tmp:
        sp, vocab = rc.write_tokenizers(tmp)
        for style in ("video", "movie"):
            write(d, style + ".json", json.dumps(rc.tiny_config(sp, vocab, style), indent=1))


def seeds_sentencepiece_model(d):
    shutil.copy(os.path.join(DEFAULT_MODEL, "tokenizer.model"), os.path.join(d, "default.model"))
    with tempfile.TemporaryDirectory() as tmp:
        rc.write_tokenizers(tmp)
        shutil.copy(os.path.join(tmp, "tokenizer.model"), os.path.join(d, "bpe400_bytes.model"))


def seeds_wordpiece_vocab(d):
    shutil.copy(os.path.join(DEFAULT_MODEL, "vocab.txt"), os.path.join(d, "default.txt"))
    with tempfile.TemporaryDirectory() as tmp:
        rc.write_tokenizers(tmp)
        shutil.copy(os.path.join(tmp, "vocab.txt"), os.path.join(d, "tiny.txt"))


def seeds_text(d, prefix=b""):
    for i, q in enumerate(QUESTIONS):
        write(d, "q%d.txt" % i, prefix + q.encode("utf-8"))


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    makers = {
        "safetensors": seeds_safetensors,
        "torch_checkpoint": seeds_torch_checkpoint,
        "config": seeds_config,
        "sentencepiece_model": seeds_sentencepiece_model,
        "wordpiece_vocab": seeds_wordpiece_vocab,
        "sentencepiece_text": seeds_text,
        "question": seeds_text,
        # The first byte of a wordpiece_text input is max_length - 2.
        "wordpiece_text": lambda d: seeds_text(d, prefix=b"\x0e"),
    }
    for target, make in makers.items():
        d = os.path.join(corpus, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        make(d)


if __name__ == "__main__":
    main()
