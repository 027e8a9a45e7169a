"""SentencePiece goldens for test_sentencepiece.

Usage: sentencepiece_golden.py CORPUS STRINGS_JSON OUT_DIR

Trains a tiny LLaMA-style BPE model (byte fallback, split digits, identity normalisation, no
whitespace folding, dummy prefix, unk/bos/eos = 0/1/2) on CORPUS with Debian's `spm_train`
into OUT_DIR/tiny.model, then writes OUT_DIR/golden.json with what python3-sentencepiece gives
for STRINGS_JSON = {"encode": [text, ...], "images": [text, ...]}:
  encode: ids (no BOS), pieces and decode(ids) of each text;
  images: LLaVA's tokenizer_image_token of each text, written here from its description:
          split on "<image>", encode each chunk with BOS, keep the first chunk's BOS once, drop
          the other chunks' BOS, put IMAGE_TOKEN_INDEX (-200) between chunks.
"""
import json
import os
import subprocess
import sys

import sentencepiece as spm

IMAGE_TOKEN_INDEX = -200


def train(corpus, prefix):
    cmd = [
        "spm_train", f"--input={corpus}", f"--model_prefix={prefix}", "--vocab_size=800",
        "--model_type=bpe", "--character_coverage=1.0", "--byte_fallback=true",
        "--split_digits=true", "--allow_whitespace_only_pieces=true",
        "--remove_extra_whitespaces=false", "--normalization_rule_name=identity",
        "--add_dummy_prefix=true", "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=-1",
        "--num_threads=1", "--minloglevel=2",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"spm_train failed ({done.returncode}):\n{done.stderr}")


def tokenizer_image_token(sp, prompt):
    chunks = [[sp.bos_id()] + sp.encode(chunk) for chunk in prompt.split("<image>")]
    ids = [chunks[0][0]]
    for i, chunk in enumerate(chunks):
        if i > 0:
            ids.append(IMAGE_TOKEN_INDEX)
        ids.extend(chunk[1:])
    return ids


def main():
    corpus, strings_path, out_dir = sys.argv[1:4]
    prefix = os.path.join(out_dir, "tiny")
    train(corpus, prefix)
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    with open(strings_path, encoding="utf-8") as f:
        strings = json.load(f)
    golden = {
        "vocab_size": sp.get_piece_size(),
        "bos": sp.bos_id(), "eos": sp.eos_id(), "unk": sp.unk_id(),
        "encode": [], "images": [],
    }
    for text in strings["encode"]:
        ids = sp.encode(text)
        golden["encode"].append({
            "text": text, "ids": ids, "pieces": [sp.id_to_piece(i) for i in ids],
            "decoded": sp.decode(ids),
        })
    for text in strings["images"]:
        golden["images"].append({"text": text, "ids": tokenizer_image_token(sp, text)})
    with open(os.path.join(out_dir, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
