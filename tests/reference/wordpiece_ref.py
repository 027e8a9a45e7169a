"""Plain-Python BertTokenizer (bert-base-uncased, as LLaMA-VID's Q-Former uses it) for
test_wordpiece, written from the rules in llamavid.md section 3 and HF's slow tokenizer
behaviour, with Python's own unicodedata (independent of the ICU tables the C++ side uses).

Usage: wordpiece_ref.py VOCAB_TXT OUT_JSON
Writes {"cases": [{"text", "max_length", "ids"}...]} for random strings drawn with a fixed seed
from a pool of ASCII, accented, combining, CJK, punctuation, space, control, format, emoji and
other-script characters, plus the special-token spellings.
"""
import json
import random
import sys
import unicodedata

SPECIALS = ["[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "[DEC]"]
MAX_CHARS_PER_WORD = 100


def load_vocab(path):
    vocab = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            vocab[line.rstrip("\n")] = i
    vocab.setdefault("[DEC]", len(vocab))
    return vocab


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def is_control(ch):
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")


def is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def basic_tokenize(text):
    # HF lower-cases non-special text one character at a time before anything else.
    text = "".join(ch.lower() for ch in text)
    cleaned = []
    for ch in text:
        if ord(ch) in (0, 0xFFFD) or is_control(ch):
            continue
        if is_whitespace(ch):
            cleaned.append(" ")
        elif is_cjk(ord(ch)):
            cleaned.append(f" {ch} ")
        else:
            cleaned.append(ch)
    text = unicodedata.normalize("NFC", "".join(cleaned))
    words = []
    for word in text.split():
        word = unicodedata.normalize("NFD", word.lower())
        word = "".join(ch for ch in word if unicodedata.category(ch) != "Mn")
        current = ""
        for ch in word:
            if is_punctuation(ch):
                if current:
                    words.append(current)
                current = ""
                words.append(ch)
            else:
                current += ch
        if current:
            words.append(current)
    return words


def wordpiece(word, vocab):
    if len(word) > MAX_CHARS_PER_WORD:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            candidate = ("##" if start > 0 else "") + word[start:end]
            if candidate in vocab:
                pieces.append(candidate)
                start = end
                break
        else:
            return ["[UNK]"]
    return pieces


def tokenize(text, vocab):
    tokens, pos = [], 0
    while True:
        hits = [(text.find(s, pos), s) for s in SPECIALS if text.find(s, pos) >= 0]
        at, special = min(hits) if hits else (len(text), None)
        for word in basic_tokenize(text[pos:at]):
            tokens.extend(wordpiece(word, vocab))
        if special is None:
            return tokens
        tokens.append(special)
        pos = at + len(special)


def encode(text, vocab, max_length):
    ids = [vocab.get(t, vocab["[UNK]"]) for t in tokenize(text, vocab)]
    ids = ids[max(0, len(ids) - (max_length - 2)):]  # truncation_side="left"
    return [vocab["[CLS]"]] + ids + [vocab["[SEP]"]]


POOL = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + list(" " * 12) + list("\t\n\r")
    + list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    + list("éèêëÉÀÂÄÖÜüößçÇñÑåÅøØæÆłŁşİıǅ")
    + ["e\u0301", "a\u0308", "o\u0302\u0323", "\u0301"]
    + list("中文今天气很好東京の日本語한국어")
    + list("«»‹›—–…¿¡“”‘’·•§¶†‡‰′″‼⁇、。「」『』【】〜")
    + list("€£¥¢$₹©®™°±×÷∞≈≠≤≥√∑∏∫")
    + list("\u00a0\u2000\u2003\u2009\u202f\u3000\u2028\u2029")
    + list("\x00\x01\x07\x1b\x7f\x85\u200b\u200d\u2060\ufeff\ufffd\ue000")
    + list("🎬🙂👍🏽🇫🇷😀")
    + list("ΑΒΓΔΣσςΩωάέΆΈπρστ")
    + list("АБВГДабвгдЁё")
    + list("ｈｅｌｌｏＡＢＣ１２３ﬁﬂ")
    + ["hello", "world", "video", "camera", "token", "ization", "un", "able", "the", " ",
       "[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "[DEC]", "[cls]", "[dec", "##", "##ing"]
)


def main():
    vocab = load_vocab(sys.argv[1])
    rng = random.Random(1234)
    cases = []
    for n in range(400):
        text = "".join(rng.choice(POOL) for _ in range(rng.randint(0, 40)))
        max_length = 256 if n % 4 else rng.randint(2, 12)
        cases.append({"text": text, "max_length": max_length,
                      "ids": encode(text, vocab, max_length)})
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump({"cases": cases}, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
