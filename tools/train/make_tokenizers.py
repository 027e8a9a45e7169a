"""Trains the default model's tokenizers on the corpus written by `llamavid-train corpus`:
tokenizer.model (SentencePiece BPE in LLaMA's settings: identity normalisation, byte fallback,
unk/bos/eos = 0/1/2) and vocab.txt (a WordPiece vocabulary of the corpus words, BERT-style
lower-cased and split at punctuation, plus single characters so that any text encodes).

usage: make_tokenizers.py CORPUS OUT_DIR [--vocab-size N]
"""
import os
import re
import sys

import sentencepiece as spm


def bert_words(line):
    """bert-base-uncased's basic tokenisation of ASCII text: lower case, split at spaces and
    punctuation (punctuation marks become tokens of their own)."""
    return re.findall(r"[a-z0-9]+|[^\sa-z0-9]", line.lower())


def main():
    corpus, out = sys.argv[1], sys.argv[2]
    vocab_size = int(sys.argv[sys.argv.index("--vocab-size") + 1]) if "--vocab-size" in sys.argv else 512
    os.makedirs(out, exist_ok=True)
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=os.path.join(out, "tokenizer"), vocab_size=vocab_size,
        model_type="bpe", character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        byte_fallback=True, split_digits=False, remove_extra_whitespaces=False,
        normalization_rule_name="identity", max_sentence_length=100000, minloglevel=2)
    os.remove(os.path.join(out, "tokenizer.vocab"))

    words = set()
    with open(corpus) as f:
        for line in f:
            words.update(bert_words(line))
    chars = "abcdefghijklmnopqrstuvwxyz0123456789"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += sorted(words - set(vocab))
    vocab += [c for c in chars if c not in words] + ["##" + c for c in chars]
    with open(os.path.join(out, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")


if __name__ == "__main__":
    main()
