"""Trains the default model's tokenizers on the corpus written by `llamavid-train corpus`:
tokenizer.model (SentencePiece BPE in LLaMA's settings: identity normalisation, byte fallback,
unk/bos/eos = 0/1/2) and vocab.txt (a WordPiece vocabulary of the corpus words, BERT-style
lower-cased and split at punctuation, plus single characters so that any text encodes).

Every answer word (each line of the file `llamavid-train answers` writes: the class labels,
"yes", "no") becomes one piece, so that an answer is one token and the label named in a question
is the same single token as the one answered.

usage: make_tokenizers.py CORPUS OUT_DIR [--vocab-size N] [--answers FILE]
"""
import os
import re
import struct
import sys

import sentencepiece as spm


def bert_words(line):
    """bert-base-uncased's basic tokenisation of ASCII text: lower case, split at spaces and
    punctuation (punctuation marks become tokens of their own)."""
    return re.findall(r"[a-z0-9]+|[^\sa-z0-9]", line.lower())


def varint(data, i):
    value, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def encode_varint(value):
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


def piece_message(text, score):
    """ModelProto.SentencePiece {piece, score, type NORMAL} in protobuf wire format."""
    raw = text.encode()
    body = b"\x0a" + encode_varint(len(raw)) + raw + b"\x15" + struct.pack("<f", score) + b"\x18\x01"
    return b"\x0a" + encode_varint(len(body)) + body


def add_number_pieces(path):
    """Times and counts become whole-number tokens: "0".."99" and "00:".."59:" are added (the BPE
    is trained without digits), so "01:02:03" encodes as "01:", "02:", "03"."""
    pieces, rest = read_model(path)
    new = [piece_message(str(d), 2.0) for d in range(10)]
    new += [piece_message("%02d" % n, 1.0) for n in range(100)]
    new += [piece_message("%02d:" % n, 0.5) for n in range(60)]
    with open(path, "wb") as f:
        f.write(b"".join(pieces + new + rest))


def read_model(path):
    """-> (piece messages, other fields) of a ModelProto, each as its raw wire bytes."""
    data = open(path, "rb").read()
    pieces, rest, i = [], [], 0
    while i < len(data):
        key, j = varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 2:
            n, k = varint(data, j)
            end = k + n
        elif wire == 0:
            _, end = varint(data, j)
        elif wire == 5:
            end = j + 4
        else:
            end = j + 8
        (pieces if field == 1 else rest).append(data[i:end])
        i = end
    return pieces, rest


def piece_text(message):
    """The piece string of a piece message (its field 1)."""
    _, i = varint(message, 0)  # the message's own key
    _, i = varint(message, i)  # its length
    key, i = varint(message, i)
    assert key >> 3 == 1
    n, i = varint(message, i)
    return message[i:i + n].decode()


def add_answer_pieces(path, answers):
    """Each answer becomes one piece: BPE only reaches a piece through pieces, so every prefix of
    "▁answer" (spaces as ▁) is added too, scored above all others and longer above shorter, so
    that the longest answer a text holds always wins."""
    pieces, rest = read_model(path)
    have = {piece_text(p) for p in pieces}
    new = []
    for answer in answers:
        text = "\u2581" + answer.replace(" ", "\u2581")
        for end in range(2, len(text) + 1):
            prefix = text[:end]
            if prefix not in have:
                have.add(prefix)
                new.append(piece_message(prefix, 10.0 + len(prefix)))
    with open(path, "wb") as f:
        f.write(b"".join(pieces + new + rest))


def check_answer_pieces(path, answers):
    """Every answer is one piece alone, in a question and in a list; fails loudly otherwise."""
    sp = spm.SentencePieceProcessor(model_file=path)
    for answer in answers:
        piece = "\u2581" + answer.replace(" ", "\u2581")
        for text in (answer, "Did %s appear?" % answer, "snow, %s, black" % answer):
            if piece not in sp.encode(text, out_type=str):
                raise SystemExit("make_tokenizers: %r is not one piece in %r: %s" %
                                 (answer, text, sp.encode(text, out_type=str)))


def main():
    corpus, out = sys.argv[1], sys.argv[2]
    vocab_size = int(sys.argv[sys.argv.index("--vocab-size") + 1]) if "--vocab-size" in sys.argv else 512
    os.makedirs(out, exist_ok=True)
    no_digits = os.path.join(out, "corpus-no-digits.txt")
    with open(corpus) as f, open(no_digits, "w") as g:
        g.write(re.sub(r"[0-9]", "", f.read()))
    spm.SentencePieceTrainer.train(
        input=no_digits, model_prefix=os.path.join(out, "tokenizer"), vocab_size=vocab_size,
        model_type="bpe", character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        byte_fallback=True, split_digits=False, remove_extra_whitespaces=False,
        normalization_rule_name="identity", max_sentence_length=100000, minloglevel=2)
    os.remove(os.path.join(out, "tokenizer.vocab"))
    os.remove(no_digits)
    add_number_pieces(os.path.join(out, "tokenizer.model"))
    if "--answers" in sys.argv:
        with open(sys.argv[sys.argv.index("--answers") + 1]) as f:
            answers = [line.strip() for line in f if line.strip()]
        add_answer_pieces(os.path.join(out, "tokenizer.model"), answers)
        check_answer_pieces(os.path.join(out, "tokenizer.model"), answers)

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
