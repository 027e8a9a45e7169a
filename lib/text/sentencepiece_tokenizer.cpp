#include "text/sentencepiece_tokenizer.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <queue>

#include "core/error.h"
#include "core/small_file.h"
#include "core/utf8.h"

namespace llamavid {

namespace {

const std::string kSpaceSymbol = "\xE2\x96\x81";      // "▁" (U+2581) stands for a space

// Reader of the protobuf wire format, enough for ModelProto: varints, 32-bit floats,
// length-delimited fields; anything malformed is an Error naming the file.
class WireReader {
 public:
  WireReader(const std::string& data, const std::string& origin)
      : data_(data), origin_(origin) {}

  bool done() const { return pos_ >= data_.size(); }

  // Reads a field key: its number and wire type.
  void key(uint64_t& field, int& wire) {
    const uint64_t k = varint();
    field = k >> 3;
    wire = static_cast<int>(k & 7);
  }

  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (done()) fail("truncated varint");
      const auto b = static_cast<unsigned char>(data_[pos_++]);
      value |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (b < 0x80) return value;
    }
    fail("varint longer than 10 bytes");
  }

  std::string bytes() {
    const uint64_t n = varint();
    if (n > data_.size() - pos_) fail("field runs past the end of the file");
    std::string out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }

  float fixed32_float() {
    if (data_.size() - pos_ < 4) fail("truncated 32-bit field");
    uint32_t bits = 0;
    for (int k = 3; k >= 0; --k) bits = (bits << 8) | static_cast<unsigned char>(data_[pos_ + k]);
    pos_ += 4;
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
  }

  void skip(int wire) {
    switch (wire) {
      case 0: varint(); return;
      case 1: advance(8); return;
      case 2: bytes(); return;
      case 5: advance(4); return;
      default: fail("unsupported protobuf wire type " + std::to_string(wire));
    }
  }

  // Calls on_field(number, wire type) for each field up to the end; a field it does not read
  // (it returns false) is skipped.
  template <typename OnField>
  void fields(OnField on_field) {
    while (!done()) {
      uint64_t field;
      int wire;
      key(field, wire);
      if (!on_field(field, wire)) skip(wire);
    }
  }

  // The embedded message of a length-delimited field named `what`, to read with its own reader.
  std::string message(int wire, const char* what) {
    expect(wire, 2, what);
    return bytes();
  }

  // Reads a field whose expected wire type is `wire`; a different one is corruption.
  void expect(int actual, int wire, const char* what) {
    if (actual != wire) fail(std::string("field '") + what + "' has the wrong wire type");
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error("SentencePiece model '" + origin_ + "' is corrupt or not a tokenizer.model: " +
                what);
  }

 private:
  void advance(size_t n) {
    if (data_.size() - pos_ < n) fail("truncated fixed-size field");
    pos_ += n;
  }

  const std::string& data_;
  const std::string& origin_;
  size_t pos_ = 0;
};

// Symbols of the BPE merge: byte ranges of the normalised text in a linked list.
struct Symbol {
  size_t begin;
  size_t size;  // 0 once merged into its left neighbour
  int prev;
  int next;
};

// A possible merge of symbols `left` and `right` (adjacent when pushed) into a vocabulary piece.
struct Candidate {
  float score;
  int left;
  int right;
  size_t size;  // bytes of the merged piece, to detect candidates made stale by other merges
};

// SentencePiece's order: highest score first, then the leftmost pair.
struct CandidateOrder {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& path) : path_(path) {
  parse(read_small_file(path, kMaxTokenizerBytes, "the SentencePiece tokenizer model"));
}

void SentencePieceTokenizer::parse(const std::string& bytes) {
  WireReader model(bytes, path_);
  int64_t model_type = 1;  // TrainerSpec's default, UNIGRAM
  std::string bos_piece = "<s>", eos_piece = "</s>", charsmap;
  bool treat_whitespace_as_suffix = false, remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  model.fields([&](uint64_t field, int wire) {
    if (field == 1) {  // repeated SentencePiece pieces
      const std::string message = model.message(wire, "pieces");
      WireReader r(message, path_);
      Piece piece;
      r.fields([&](uint64_t f, int w) {
        if (f == 1) {
          r.expect(w, 2, "piece");
          piece.text = r.bytes();
        } else if (f == 2) {
          r.expect(w, 5, "score");
          piece.score = r.fixed32_float();
        } else if (f == 3) {
          r.expect(w, 0, "type");
          piece.type = static_cast<PieceType>(r.varint());
        } else {
          return false;
        }
        return true;
      });
      pieces_.push_back(std::move(piece));
    } else if (field == 2) {  // TrainerSpec
      const std::string message = model.message(wire, "trainer_spec");
      WireReader r(message, path_);
      r.fields([&](uint64_t f, int w) {
        if (f == 3 && w == 0) {
          model_type = static_cast<int64_t>(r.varint());
        } else if (f == 24 && w == 0) {
          treat_whitespace_as_suffix = r.varint() != 0;
        } else if (f == 35 && w == 0) {
          byte_fallback_ = r.varint() != 0;
        } else if (f == 44 && w == 2) {
          unk_surface_ = r.bytes();
        } else if (f == 46 && w == 2) {
          bos_piece = r.bytes();
        } else if (f == 47 && w == 2) {
          eos_piece = r.bytes();
        } else {
          return false;
        }
        return true;
      });
    } else if (field == 3) {  // NormalizerSpec
      const std::string message = model.message(wire, "normalizer_spec");
      WireReader r(message, path_);
      r.fields([&](uint64_t f, int w) {
        if (f == 2 && w == 2) {
          charsmap = r.bytes();
        } else if (f == 3 && w == 0) {
          add_dummy_prefix_ = r.varint() != 0;
        } else if (f == 4 && w == 0) {
          remove_extra_whitespaces = r.varint() != 0;
        } else if (f == 5 && w == 0) {
          escape_whitespaces = r.varint() != 0;
        } else {
          return false;
        }
        return true;
      });
    } else {
      return false;
    }
    return true;
  });

  const auto unsupported = [&](const std::string& what) {
    throw Error("SentencePiece model '" + path_ + "' is not supported: " + what +
                " (LLaMA-style models are: BPE, identity normalisation, whitespace kept)");
  };
  if (pieces_.empty()) model.fail("no pieces");
  if (model_type != 2) unsupported("model type " + std::to_string(model_type) + " is not BPE");
  if (!charsmap.empty()) unsupported("it normalises text (precompiled_charsmap)");
  if (remove_extra_whitespaces) unsupported("it removes extra whitespace");
  if (!escape_whitespaces || treat_whitespace_as_suffix) {
    unsupported("its whitespace handling differs");
  }

  byte_ids_.fill(-1);
  for (size_t i = 0; i < pieces_.size(); ++i) {
    Piece& piece = pieces_[i];
    const auto id = static_cast<int64_t>(i);
    switch (piece.type) {
      case PieceType::Normal:
        if (!normal_ids_.emplace(piece.text, id).second) model.fail("piece repeated");
        break;
      case PieceType::Unknown:
        if (unk_id_ >= 0) model.fail("more than one unknown piece");
        unk_id_ = id;
        break;
      case PieceType::Control:
        if (piece.text == bos_piece) bos_id_ = id;
        if (piece.text == eos_piece) eos_id_ = id;
        break;
      case PieceType::Byte: {
        // Two hex digits exactly: sscanf's %X would also take a sign ("<0x-7>", a fuzzer find)
        // and give a value far outside a byte.
        const std::string& t = piece.text;
        if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || !std::isxdigit(uint8_t(t[3])) ||
            !std::isxdigit(uint8_t(t[4])) || t[5] != '>') {
          model.fail("byte piece '" + piece.text + "' is not <0xXX>");
        }
        const auto value = static_cast<uint8_t>(std::stoul(t.substr(3, 2), nullptr, 16));
        piece.byte = value;
        byte_ids_[value] = id;
        break;
      }
      case PieceType::UserDefined:
      case PieceType::Unused:
        unsupported("it has user-defined or unused pieces");
        break;
      default:
        model.fail("unknown piece type " + std::to_string(static_cast<int>(piece.type)));
    }
  }
  if (unk_id_ < 0) model.fail("no unknown piece");
}

std::vector<std::pair<size_t, size_t>> SentencePieceTokenizer::merge(
    const std::string& normalized) const {
  // Start from single characters (the text is valid UTF-8 once normalised).
  std::vector<Symbol> symbols;
  for (size_t i = 0; i < normalized.size();) {
    const size_t n = std::max<size_t>(utf8_char_length(normalized, i), 1);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({i, n, index - 1, i + n < normalized.size() ? index + 1 : -1});
    i += n;
  }

  std::priority_queue<Candidate, std::vector<Candidate>, CandidateOrder> agenda;
  const auto consider = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t size = symbols[left].size + symbols[right].size;
    const auto it = normal_ids_.find(normalized.substr(symbols[left].begin, size));
    if (it == normal_ids_.end()) return;
    agenda.push({pieces_[it->second].score, left, right, size});
  };
  for (size_t i = 1; i < symbols.size(); ++i) {
    consider(static_cast<int>(i) - 1, static_cast<int>(i));
  }

  while (!agenda.empty()) {
    const Candidate top = agenda.top();
    agenda.pop();
    Symbol& left = symbols[top.left];
    Symbol& right = symbols[top.right];
    if (left.size == 0 || right.size == 0 || left.size + right.size != top.size) continue;
    left.size = top.size;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    right.size = 0;
    consider(left.prev, top.left);
    consider(top.left, left.next);
  }

  std::vector<std::pair<size_t, size_t>> out;
  for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
    out.emplace_back(symbols[i].begin, symbols[i].begin + symbols[i].size);
  }
  return out;
}

std::vector<int64_t> SentencePieceTokenizer::encode(const std::string& text) const {
  if (text.empty()) return {};
  // Identity normalisation: dummy prefix, spaces as "▁", invalid bytes as U+FFFD.
  std::string normalized = add_dummy_prefix_ ? kSpaceSymbol : "";
  for (char c : make_valid_utf8(text)) {
    if (c == ' ')
      normalized += kSpaceSymbol;
    else
      normalized += c;
  }

  std::vector<int64_t> ids;
  for (const auto& [begin, end] : merge(normalized)) {
    const std::string piece = normalized.substr(begin, end - begin);
    const auto it = normal_ids_.find(piece);
    if (it != normal_ids_.end()) {
      ids.push_back(it->second);
    } else if (byte_fallback_) {
      for (unsigned char b : piece) ids.push_back(byte_ids_[b] >= 0 ? byte_ids_[b] : unk_id_);
    } else {
      ids.push_back(unk_id_);
    }
  }
  return ids;
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string text;
  std::string bytes;  // a run of byte pieces, turned into characters when it ends
  bool at_start = true;  // no visible piece yet: the dummy-prefix space is dropped
  for (int64_t id : ids) {
    check_id(id);
    const Piece& piece = pieces_[static_cast<size_t>(id)];
    if (piece.type == PieceType::Byte) {
      bytes += static_cast<char>(piece.byte);
      at_start = false;
      continue;
    }
    text += make_valid_utf8(bytes);
    bytes.clear();
    if (piece.type == PieceType::Control) continue;  // BOS, EOS: invisible
    if (piece.type == PieceType::Unknown) {
      text += unk_surface_;
    } else {
      size_t pos = 0;
      if (at_start && add_dummy_prefix_ && piece.text.compare(0, kSpaceSymbol.size(),
                                                              kSpaceSymbol) == 0) {
        pos = kSpaceSymbol.size();
      }
      while (pos < piece.text.size()) {
        const size_t next = piece.text.find(kSpaceSymbol, pos);
        text.append(piece.text, pos, next == std::string::npos ? std::string::npos : next - pos);
        if (next == std::string::npos) break;
        text += ' ';
        pos = next + kSpaceSymbol.size();
      }
    }
    at_start = false;
  }
  text += make_valid_utf8(bytes);
  return text;
}

std::string SentencePieceTokenizer::id_to_piece(int64_t id) const {
  check_id(id);
  return pieces_[static_cast<size_t>(id)].text;
}

void SentencePieceTokenizer::check_id(int64_t id) const {
  if (id < 0 || id >= vocab_size()) {
    throw Error("token id " + std::to_string(id) + " is outside the vocabulary of '" + path_ +
                "' (0.." + std::to_string(vocab_size() - 1) + ")");
  }
}

}  // namespace llamavid
