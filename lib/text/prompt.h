// Prompt text and ids as LLaMA-VID builds them: the vicuna_v1 / llava_v1 conversation
// templates, the short-video and movie user messages, and LLaVA's tokenizer_image_token, which
// marks with kImageTokenIndex where visual tokens are spliced in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"

namespace llamavid {

class SentencePieceTokenizer;

// LLaVA's IMAGE_TOKEN_INDEX: the id of a visual-token slot in prompt ids.
constexpr int64_t kImageTokenIndex = -200;
// The text that becomes one kImageTokenIndex.
inline const std::string kImagePlaceholder = "<image>";
// The text that guides every entry's context token in the standing context mode, where context
// tokens are made once at ingest instead of from each question. The default model is trained on
// context tokens made from it as well as from the questions, so both modes read alike.
inline const std::string kStandingPrompt = "What is on screen?";

enum class ConversationTemplate {
  VicunaV1,  // vicuna_v1 (= imgsp_v1): training, video eval, movie demo
  LlavaV1,   // llava_v1: LLaMA-VID's cli for model names containing "vid" ("curious human")
};

// The system text of a template, verbatim.
const std::string& system_text(ConversationTemplate conversation);
// One open turn of SeparatorStyle.TWO: "{system} USER: {user_message} ASSISTANT:".
std::string conversation_prompt(ConversationTemplate conversation,
                                const std::string& user_message);

// What sits between the visual slots of the frames in memory, in order.
struct FrameLayout {
  // One entry per frame: the text right after that frame's slots (subtitles, a time marker
  // such as "[01:23:45]", or ""). Its size is the number of frames.
  std::vector<std::string> text_after_frame;
  // "<image>" slots per frame in the movie layout (--video-token, 2 in the release).
  int64_t slots_per_frame = 2;
  // The entries a question reads again right after it (stream/question_anchors.h), one element
  // each: the text right after that entry's slots ("" for a time anchor, a span and number for
  // a class anchor). Movie layout only; empty in LLaMA-VID's prompts.
  std::vector<std::string> text_after_anchor = {};

  int64_t num_frames() const { return static_cast<int64_t>(text_after_frame.size()); }
  // The slots after the question.
  int64_t anchor_slots() const {
    return static_cast<int64_t>(text_after_anchor.size()) * slots_per_frame;
  }
};

// Short-video user message "<image>\n{question}": one slot that receives every frame's tokens.
std::string video_user_message(const std::string& question);
// Movie user message: "Below is a movie. Memorize the content and answer my question after
// watching this movie." then, per frame, its slots and its text, then "Now the movie end.\n"
// and the question, with nothing inserted between the pieces; then each anchor's slots and text.
std::string movie_user_message(const std::string& question, const FrameLayout& frames);

// The full prompt text for `question`. PromptStyle::Video puts one "<image>" before the
// question (none when there is no frame) and ignores the texts after frames; Movie uses
// movie_user_message. A question or frame text containing "<image>" throws Error, since it
// would add a slot that no visual token fills.
std::string build_prompt(const std::string& question, PromptStyle style,
                         const FrameLayout& frames,
                         ConversationTemplate conversation = ConversationTemplate::VicunaV1);

// LLaVA's tokenizer_image_token: `text` is split on "<image>", every chunk is encoded on its
// own (each with SentencePiece's dummy prefix), one BOS starts the result and
// kImageTokenIndex sits between chunks ("<image><image>" gives two in a row).
std::vector<int64_t> tokenize_with_images(const SentencePieceTokenizer& tokenizer,
                                          const std::string& text);

// Where the standing prefix of prompt `ids` ends: the index after the last kImageTokenIndex
// before the prompt's last `anchor_slots` ones (0 when there is none). Before it is what the
// session's standing prefix caches (the template's head and every entry up to the newest one's
// slots); from it on, the newest entry's text, the movie's end and the question (with its anchor
// slots), which each answer appends.
size_t standing_prefix_end(const std::vector<int64_t>& ids, int64_t anchor_slots = 0);

// build_prompt then tokenize_with_images: the prompt ids with kImageTokenIndex slots (one for
// Video, frames x slots_per_frame for Movie).
std::vector<int64_t> build_prompt_ids(
    const SentencePieceTokenizer& tokenizer, const std::string& question, PromptStyle style,
    const FrameLayout& frames, ConversationTemplate conversation = ConversationTemplate::VicunaV1);

}  // namespace llamavid
