#include "sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include "error.h"

namespace llamavid {

namespace {

// UTF-8 of U+FFFD: what SentencePiece writes for byte pieces that do not (yet) form a character.
const std::string kReplacementChar = "\xEF\xBF\xBD";

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& path)
    : path_(path), processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  const auto status = processor_->Load(path);
  if (!status.ok()) {
    throw Error("cannot load SentencePiece tokenizer model '" + path +
                "' (expected a tokenizer.model file): " + status.ToString());
  }
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;
SentencePieceTokenizer::SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept = default;
SentencePieceTokenizer& SentencePieceTokenizer::operator=(SentencePieceTokenizer&&) noexcept =
    default;

std::vector<int64_t> SentencePieceTokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  const auto status = processor_->Encode(text, &ids);
  if (!status.ok()) {
    throw Error("tokenizer '" + path_ + "' cannot encode text: " + status.ToString());
  }
  return std::vector<int64_t>(ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<int> kept;
  kept.reserve(ids.size());
  for (int64_t id : ids) {
    check_id(id);
    if (id != bos_id() && id != eos_id()) kept.push_back(static_cast<int>(id));
  }
  std::string text;
  const auto status = processor_->Decode(kept, &text);
  if (!status.ok()) {
    throw Error("tokenizer '" + path_ + "' cannot decode ids: " + status.ToString());
  }
  return text;
}

std::string SentencePieceTokenizer::id_to_piece(int64_t id) const {
  check_id(id);
  return processor_->IdToPiece(static_cast<int>(id));
}

int64_t SentencePieceTokenizer::vocab_size() const { return processor_->GetPieceSize(); }
int64_t SentencePieceTokenizer::bos_id() const { return processor_->bos_id(); }
int64_t SentencePieceTokenizer::eos_id() const { return processor_->eos_id(); }
int64_t SentencePieceTokenizer::unk_id() const { return processor_->unk_id(); }

void SentencePieceTokenizer::check_id(int64_t id) const {
  if (id < 0 || id >= vocab_size()) {
    throw Error("token id " + std::to_string(id) + " is outside the vocabulary of '" + path_ +
                "' (0.." + std::to_string(vocab_size() - 1) + ")");
  }
}

StreamingDecoder::StreamingDecoder(const SentencePieceTokenizer& tokenizer)
    : tokenizer_(&tokenizer) {}

std::string StreamingDecoder::push(int64_t id) {
  ids_.push_back(id);
  const std::string text = tokenizer_->decode(ids_);
  // Byte pieces of an unfinished character decode to U+FFFD each: keep them back until the
  // next piece completes the character. Decoding is otherwise prefix-stable.
  size_t stable = text.size();
  while (stable >= emitted_ + kReplacementChar.size() &&
         text.compare(stable - kReplacementChar.size(), kReplacementChar.size(),
                      kReplacementChar) == 0) {
    stable -= kReplacementChar.size();
  }
  if (stable <= emitted_) return "";
  std::string fresh = text.substr(emitted_, stable - emitted_);
  emitted_ = stable;
  return fresh;
}

std::string StreamingDecoder::finish() {
  const std::string text = tokenizer_->decode(ids_);
  if (text.size() <= emitted_) return "";
  std::string rest = text.substr(emitted_);
  emitted_ = text.size();
  return rest;
}

}  // namespace llamavid
