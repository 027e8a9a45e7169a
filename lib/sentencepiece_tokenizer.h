// The LLaMA tokenizer: a SentencePiece model (tokenizer.model) used as LLaMA-VID's slow
// LlamaTokenizer uses it. Thread-safety: a loaded tokenizer is immutable; encode and decode may
// be called from several threads at once. A StreamingDecoder belongs to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace llamavid {

class SentencePieceTokenizer {
 public:
  // Loads a SentencePiece model; a missing or unreadable file throws Error naming `path`.
  explicit SentencePieceTokenizer(const std::string& path);
  ~SentencePieceTokenizer();
  SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept;
  SentencePieceTokenizer& operator=(SentencePieceTokenizer&&) noexcept;

  // Text -> ids, without BOS. SentencePiece adds its dummy-prefix space, so "Hi" and " Hi"
  // differ only by one extra space piece, as with the slow LlamaTokenizer on plain text.
  // Special-token spellings such as "</s>" in the text are encoded as ordinary text.
  std::vector<int64_t> encode(const std::string& text) const;
  // Ids -> text, skipping BOS and EOS (as an answer reads). An id outside the vocabulary
  // throws Error.
  std::string decode(const std::vector<int64_t>& ids) const;

  std::string id_to_piece(int64_t id) const;
  int64_t vocab_size() const;
  int64_t bos_id() const;
  int64_t eos_id() const;
  int64_t unk_id() const;
  // Path the model was loaded from (for messages).
  const std::string& path() const { return path_; }

 private:
  void check_id(int64_t id) const;

  std::string path_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

// Decodes a growing list of generated ids and hands out only the text that is new, holding
// back a character whose UTF-8 bytes are split over several byte-fallback pieces until it is
// complete. The tokenizer must outlive the decoder.
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const SentencePieceTokenizer& tokenizer);

  // Appends one id and returns the text it completed (often "", e.g. mid-character or EOS).
  std::string push(int64_t id);
  // Returns the text still held back (an incomplete character at the very end shows as
  // U+FFFD, as a full decode would); call once the answer is finished.
  std::string finish();
  // Every id pushed so far.
  const std::vector<int64_t>& ids() const { return ids_; }

 private:
  const SentencePieceTokenizer* tokenizer_;
  std::vector<int64_t> ids_;
  size_t emitted_ = 0;  // bytes of decode(ids_) already returned
};

}  // namespace llamavid
