// The LLaMA tokenizer: a SentencePiece BPE model (tokenizer.model) used as LLaMA-VID's slow
// LlamaTokenizer uses it.
//
// The model file is read and applied here rather than through libsentencepiece: Debian's
// libsentencepiece carries its own copy of protobuf 3.14 and exports its symbols, and a process
// that also loads libtorch (which needs the system protobuf 3.21) crashes at start-up. The
// supported models are those of LLaMA: BPE, identity normalisation, whitespace kept as is,
// optional byte fallback; anything else is refused with an Error at load.
//
// Thread-safety: a loaded tokenizer is immutable; encode and decode may be called from several
// threads at once.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace llamavid {

class SentencePieceTokenizer {
 public:
  // Loads a SentencePiece model; a missing, corrupt or unsupported file throws Error naming
  // `path`.
  explicit SentencePieceTokenizer(const std::string& path);

  // Text -> ids, without BOS, as SentencePiece's Encode: a dummy-prefix space is added, spaces
  // become "▁", pieces are merged by score, characters outside the vocabulary fall back to
  // <0xXX> byte pieces. Special-token spellings such as "</s>" are encoded as ordinary text.
  std::vector<int64_t> encode(const std::string& text) const;
  // Ids -> text, skipping BOS and EOS (as an answer reads), as SentencePiece's Decode. An id
  // outside the vocabulary throws Error.
  std::string decode(const std::vector<int64_t>& ids) const;

  std::string id_to_piece(int64_t id) const;
  int64_t vocab_size() const { return static_cast<int64_t>(pieces_.size()); }
  int64_t bos_id() const { return bos_id_; }  // -1 when the model has none
  int64_t eos_id() const { return eos_id_; }  // -1 when the model has none
  int64_t unk_id() const { return unk_id_; }
  // Path the model was loaded from (for messages).
  const std::string& path() const { return path_; }

 private:
  // SentencePiece's piece types (ModelProto.SentencePiece.Type).
  enum class PieceType : int {
    Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6
  };
  struct Piece {
    std::string text;
    float score = 0.0f;
    PieceType type = PieceType::Normal;
    int byte = -1;  // the byte of a <0xXX> piece
  };

  void parse(const std::string& bytes);
  void check_id(int64_t id) const;
  // BPE over the normalised text: the pieces it ends with, as [begin, end) byte ranges.
  std::vector<std::pair<size_t, size_t>> merge(const std::string& normalized) const;

  std::string path_;
  std::vector<Piece> pieces_;
  std::unordered_map<std::string, int64_t> normal_ids_;  // the pieces BPE may produce
  std::array<int64_t, 256> byte_ids_{};                  // <0xXX> pieces, -1 when absent
  int64_t unk_id_ = -1, bos_id_ = -1, eos_id_ = -1;
  bool byte_fallback_ = false;
  bool add_dummy_prefix_ = true;
  std::string unk_surface_ = " \xE2\x81\x87 ";  // " ⁇ ", SentencePiece's default
};

}  // namespace llamavid
