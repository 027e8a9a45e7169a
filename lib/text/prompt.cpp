#include "text/prompt.h"

#include "core/error.h"
#include "text/sentencepiece_tokenizer.h"

namespace llamavid {

namespace {

const std::string kVicunaSystem =
    "A chat between a curious user and an artificial intelligence assistant. The assistant "
    "gives helpful, detailed, and polite answers to the user's questions.";
const std::string kLlavaSystem =
    "A chat between a curious human and an artificial intelligence assistant. The assistant "
    "gives helpful, detailed, and polite answers to the human's questions.";

const std::string kMovieStart =
    "Below is a movie. Memorize the content and answer my question after watching this movie.";
const std::string kMovieEnd = "Now the movie end.";

void reject_placeholder(const std::string& text, const std::string& what) {
  if (text.find(kImagePlaceholder) != std::string::npos) {
    throw Error(what + " contains \"" + kImagePlaceholder +
                "\", which is reserved for visual tokens: \"" + text + "\"");
  }
}

}  // namespace

const std::string& system_text(ConversationTemplate conversation) {
  return conversation == ConversationTemplate::LlavaV1 ? kLlavaSystem : kVicunaSystem;
}

std::string conversation_prompt(ConversationTemplate conversation,
                                const std::string& user_message) {
  return system_text(conversation) + " USER: " + user_message + " ASSISTANT:";
}

std::string video_user_message(const std::string& question) {
  return kImagePlaceholder + "\n" + question;
}

std::string movie_user_message(const std::string& question, const FrameLayout& frames) {
  if (frames.slots_per_frame < 1) {
    throw Error("movie prompt needs at least 1 slot per frame, got " +
                std::to_string(frames.slots_per_frame));
  }
  std::string slots;
  for (int64_t i = 0; i < frames.slots_per_frame; ++i) slots += kImagePlaceholder;
  std::string message = kMovieStart;
  for (const std::string& text : frames.text_after_frame) message += slots + text;
  message += kMovieEnd + "\n" + question;
  for (const std::string& text : frames.text_after_anchor) message += slots + text;
  return message;
}

std::string build_prompt(const std::string& question, PromptStyle style,
                         const FrameLayout& frames, ConversationTemplate conversation) {
  reject_placeholder(question, "question");
  if (style == PromptStyle::Movie) {
    for (const std::string& text : frames.text_after_frame) {
      reject_placeholder(text, "text after a frame");
    }
    for (const std::string& text : frames.text_after_anchor) {
      reject_placeholder(text, "text after an anchor");
    }
    return conversation_prompt(conversation, movie_user_message(question, frames));
  }
  if (!frames.text_after_anchor.empty()) throw Error("anchors need the movie prompt layout");
  const bool has_frames = frames.num_frames() > 0;
  return conversation_prompt(conversation, has_frames ? video_user_message(question) : question);
}

std::vector<int64_t> tokenize_with_images(const SentencePieceTokenizer& tokenizer,
                                          const std::string& text) {
  if (tokenizer.bos_id() < 0) {
    throw Error("tokenizer '" + tokenizer.path() + "' has no BOS piece, which prompts start with");
  }
  std::vector<int64_t> ids = {tokenizer.bos_id()};
  size_t start = 0;
  while (true) {
    const size_t at = text.find(kImagePlaceholder, start);
    const size_t end = at == std::string::npos ? text.size() : at;
    // Each chunk is encoded alone, as LLaVA calls the tokenizer once per chunk; an empty chunk
    // adds nothing.
    const std::vector<int64_t> chunk = tokenizer.encode(text.substr(start, end - start));
    ids.insert(ids.end(), chunk.begin(), chunk.end());
    if (at == std::string::npos) break;
    ids.push_back(kImageTokenIndex);
    start = at + kImagePlaceholder.size();
  }
  return ids;
}

std::vector<int64_t> build_prompt_ids(const SentencePieceTokenizer& tokenizer,
                                      const std::string& question, PromptStyle style,
                                      const FrameLayout& frames,
                                      ConversationTemplate conversation) {
  return tokenize_with_images(tokenizer, build_prompt(question, style, frames, conversation));
}

size_t standing_prefix_end(const std::vector<int64_t>& ids, int64_t anchor_slots) {
  size_t end = ids.size();
  for (int64_t passed = 0;; --end) {
    if (end == 0) return 0;
    if (ids[end - 1] != kImageTokenIndex) continue;
    if (passed++ == anchor_slots) return end;
  }
}

}  // namespace llamavid
