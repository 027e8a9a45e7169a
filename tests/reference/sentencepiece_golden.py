"""SentencePiece goldens for test_sentencepiece, from python3-sentencepiece (the library itself).

Usage:
  sentencepiece_golden.py train CORPUS MODEL
      Trains a tiny LLaMA-style BPE model (byte fallback, split digits, identity normalisation,
      whitespace kept, dummy prefix, unk/bos/eos = 0/1/2) on CORPUS with Debian's `spm_train`
      and writes it to MODEL.
  sentencepiece_golden.py train_unigram CORPUS MODEL
      Trains a model with spm_train's defaults (unigram, NFKC), which the C++ side refuses.
  sentencepiece_golden.py golden MODEL STRINGS_JSON OUT_JSON
      STRINGS_JSON = {"encode": [text...], "encode_hex": [hex bytes...], "decode": [[id...]...],
                      "images": [text...]}. Writes to OUT_JSON what the library gives:
      encode: ids (no BOS), pieces and decode(ids) of each text;
      encode_hex: ids of raw (possibly invalid UTF-8) byte strings;
      decode: decode(ids) of each id list;
      images: LLaVA's tokenizer_image_token of each text, written here from its description:
              split on "<image>", encode each chunk with BOS, keep the first chunk's BOS once,
              drop the other chunks' BOS, put IMAGE_TOKEN_INDEX (-200) between chunks.
"""
import json
import os
import subprocess
import sys

import sentencepiece as spm

IMAGE_TOKEN_INDEX = -200


LLAMA_STYLE = [
    "--model_type=bpe", "--character_coverage=1.0", "--byte_fallback=true",
    "--split_digits=true", "--allow_whitespace_only_pieces=true",
    "--remove_extra_whitespaces=false", "--normalization_rule_name=identity",
    "--add_dummy_prefix=true", "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=-1",
]


def train(corpus, model, vocab_size, options):
    prefix = os.path.splitext(model)[0]
    cmd = ["spm_train", f"--input={corpus}", f"--model_prefix={prefix}", f"--vocab_size={vocab_size}",
           "--num_threads=1", "--minloglevel=2"] + options
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


def golden(model, strings_path, out_path):
    sp = spm.SentencePieceProcessor(model_file=model)
    with open(strings_path, encoding="utf-8") as f:
        strings = json.load(f)
    out = {
        "vocab_size": sp.get_piece_size(),
        "bos": sp.bos_id(), "eos": sp.eos_id(), "unk": sp.unk_id(),
        "encode": [], "encode_hex": [], "decode": [], "images": [],
    }
    for text in strings.get("encode", []):
        ids = sp.encode(text)
        out["encode"].append({
            "text": text, "ids": ids, "pieces": [sp.id_to_piece(i) for i in ids],
            "decoded": sp.decode(ids),
        })
    for hex_text in strings.get("encode_hex", []):
        out["encode_hex"].append({"hex": hex_text, "ids": sp.encode(bytes.fromhex(hex_text))})
    for ids in strings.get("decode", []):
        out["decode"].append({"ids": ids, "text": sp.decode(ids)})
    for text in strings.get("images", []):
        out["images"].append({"text": text, "ids": tokenizer_image_token(sp, text)})
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "train":
        train(sys.argv[2], sys.argv[3], 800, LLAMA_STYLE)
    elif len(sys.argv) == 4 and sys.argv[1] == "train_unigram":
        train(sys.argv[2], sys.argv[3], 300, [])
    elif len(sys.argv) == 5 and sys.argv[1] == "golden":
        golden(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
