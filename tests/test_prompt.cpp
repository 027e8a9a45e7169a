// Prompt text and ids: conversation templates, short-video and movie messages, "<image>" slots.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "core/error.h"
#include "test_util.h"
#include "text/prompt.h"
#include "text/sentencepiece_tokenizer.h"

using namespace llamavid;

namespace {

const std::string kVicunaSystem =
    "A chat between a curious user and an artificial intelligence assistant. The assistant "
    "gives helpful, detailed, and polite answers to the user's questions.";

std::unique_ptr<SentencePieceTokenizer> llama_tokenizer() {
  const std::string data = test::shared_data_dir();
  if (data.empty()) return nullptr;
  return std::make_unique<SentencePieceTokenizer>(data + "/llama2-tokenizer/tokenizer.model");
}

// python3-sentencepiece ids of the vicuna_v1 system text + " USER:" + the space before the
// first user chunk, with BOS: every prompt of the reference begins with these.
const std::vector<int64_t> kSystemUserIds = {
    1,     319,   13563, 1546,  263,   12758, 1404,  322,   385,   23116, 21082, 20255,
    29889, 450,   20255, 4076,  8444,  29892, 13173, 29892, 322,   1248,  568,   6089,
    304,   278,   1404,  29915, 29879, 5155,  29889, 3148,  1001,  29901};

std::vector<int64_t> concat(std::vector<int64_t> a, const std::vector<int64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

int64_t count_slots(const std::vector<int64_t>& ids) {
  return std::count(ids.begin(), ids.end(), kImageTokenIndex);
}

}  // namespace

// vicuna_v1 system text, verbatim from the reference.
TEST(Prompt, VicunaSystemText) {
  EXPECT_EQ(system_text(ConversationTemplate::VicunaV1), kVicunaSystem);
}

// llava_v1 says "curious human ... the human's questions".
TEST(Prompt, LlavaSystemText) {
  EXPECT_EQ(system_text(ConversationTemplate::LlavaV1),
            "A chat between a curious human and an artificial intelligence assistant. The "
            "assistant gives helpful, detailed, and polite answers to the human's questions.");
}

// SeparatorStyle.TWO with one open turn: "{system} USER: {msg} ASSISTANT:".
TEST(Prompt, ConversationFormat) {
  EXPECT_EQ(conversation_prompt(ConversationTemplate::VicunaV1, "Hi"),
            kVicunaSystem + " USER: Hi ASSISTANT:");
}

// Short-video user message: "<image>\n{question}".
TEST(Prompt, VideoUserMessage) {
  EXPECT_EQ(video_user_message("What is happening?"), "<image>\nWhat is happening?");
}

// The movie wrapper, two slots per frame, text right after each frame, nothing inserted.
TEST(Prompt, MovieUserMessage) {
  FrameLayout frames{{"Hello there.", ""}, 2};
  EXPECT_EQ(movie_user_message("Who speaks?", frames),
            "Below is a movie. Memorize the content and answer my question after watching this "
            "movie.<image><image>Hello there.<image><image>Now the movie end.\nWho speaks?");
}

// The number of slots per frame is honoured.
TEST(Prompt, MovieSlotsPerFrame) {
  FrameLayout frames{{"[00:00:00]"}, 3};
  EXPECT_EQ(movie_user_message("Q", frames),
            "Below is a movie. Memorize the content and answer my question after watching this "
            "movie.<image><image><image>[00:00:00]Now the movie end.\nQ");
}

// Zero slots per frame is an error rather than a prompt without visual tokens.
TEST(Prompt, MovieZeroSlotsThrows) {
  FrameLayout frames{{"a"}, 0};
  EXPECT_THROW(movie_user_message("Q", frames), Error);
}

// Video style: one "<image>" whatever the number of frames; frame texts are not used.
TEST(Prompt, BuildVideoPrompt) {
  FrameLayout frames{{"[00:00:00]", "[00:00:01]", "[00:00:02]"}, 2};
  EXPECT_EQ(build_prompt("What is happening?", PromptStyle::Video, frames),
            kVicunaSystem + " USER: <image>\nWhat is happening? ASSISTANT:");
}

// Video style without frames: a plain text conversation.
TEST(Prompt, BuildVideoPromptWithoutFrames) {
  EXPECT_EQ(build_prompt("Hi?", PromptStyle::Video, FrameLayout{}),
            kVicunaSystem + " USER: Hi? ASSISTANT:");
}

// Movie style inside the vicuna_v1 conversation.
TEST(Prompt, BuildMoviePrompt) {
  FrameLayout frames{{"[00:00:00]", "[00:00:01]"}, 2};
  EXPECT_EQ(build_prompt("Who wins?", PromptStyle::Movie, frames),
            kVicunaSystem +
                " USER: Below is a movie. Memorize the content and answer my question after "
                "watching this movie.<image><image>[00:00:00]<image><image>[00:00:01]Now the "
                "movie end.\nWho wins? ASSISTANT:");
}

// The llava_v1 template can be chosen.
TEST(Prompt, BuildWithLlavaTemplate) {
  FrameLayout frames{{""}, 2};
  EXPECT_EQ(build_prompt("Q", PromptStyle::Video, frames, ConversationTemplate::LlavaV1),
            system_text(ConversationTemplate::LlavaV1) + " USER: <image>\nQ ASSISTANT:");
}

// A question that spells "<image>" would add an unfilled slot: it is refused.
TEST(Prompt, PlaceholderInQuestionThrows) {
  FrameLayout frames{{""}, 2};
  EXPECT_THROW(build_prompt("what is <image>?", PromptStyle::Video, frames), Error);
  EXPECT_THROW(build_prompt("what is <image>?", PromptStyle::Movie, frames), Error);
}

// Subtitles that spell "<image>" are refused too.
TEST(Prompt, PlaceholderInFrameTextThrows) {
  FrameLayout frames{{"see <image>"}, 2};
  EXPECT_THROW(build_prompt("Q", PromptStyle::Movie, frames), Error);
}

// Short-video prompt ids with the real tokenizer: one slot, "\n" chunk with its dummy prefix.
TEST(PromptIds, VideoWithLlamaTokenizer) {
  auto tok = llama_tokenizer();
  if (!tok) GTEST_SKIP() << "../shared/data is absent: the real LLaMA tokenizer is needed";
  FrameLayout frames{{"", "", ""}, 2};
  // After the slot: "\nWhat is happening? ASSISTANT:" encoded alone (python3-sentencepiece).
  const std::vector<int64_t> expected =
      concat(concat(kSystemUserIds, {29871, kImageTokenIndex}),
             {29871, 13, 5618, 338, 10464, 29973, 319, 1799, 9047, 13566, 29901});
  EXPECT_EQ(build_prompt_ids(*tok, "What is happening?", PromptStyle::Video, frames), expected);
}

// Movie prompt ids with the real tokenizer: two slots per frame, time markers between frames.
TEST(PromptIds, MovieWithLlamaTokenizer) {
  auto tok = llama_tokenizer();
  if (!tok) GTEST_SKIP() << "../shared/data is absent: the real LLaMA tokenizer is needed";
  FrameLayout frames{{"[00:00:00]", "[00:00:01]"}, 2};
  // python3-sentencepiece: the wrapper start, each "[00:00:0t]" and the end + question, each
  // encoded alone; "<image><image>" contributes two consecutive slots and nothing else.
  std::vector<int64_t> expected = concat(
      kSystemUserIds, {13866, 338,  263,   14064, 29889, 8133, 272,  675,  278,  2793,
                       322,   1234, 590,   1139,  1156,  21217, 445, 14064, 29889});
  expected = concat(expected, {kImageTokenIndex, kImageTokenIndex, 518, 29900, 29900, 29901,
                               29900, 29900, 29901, 29900, 29900, 29962});
  expected = concat(expected, {kImageTokenIndex, kImageTokenIndex, 518, 29900, 29900, 29901,
                               29900, 29900, 29901, 29900, 29896, 29962});
  expected = concat(expected, {10454, 278, 14064, 1095, 29889, 13, 22110, 21614, 29973, 319,
                               1799, 9047, 13566, 29901});
  const std::vector<int64_t> ids =
      build_prompt_ids(*tok, "Who wins?", PromptStyle::Movie, frames);
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(count_slots(ids), 4);
}

// Slot count: frames x slots for Movie, one for Video, whatever the frame texts.
TEST(PromptIds, SlotCounts) {
  auto tok = llama_tokenizer();
  if (!tok) GTEST_SKIP() << "../shared/data is absent: the real LLaMA tokenizer is needed";
  FrameLayout frames{{"a", "", "[00:00:02] b", "c"}, 2};
  EXPECT_EQ(count_slots(build_prompt_ids(*tok, "Q?", PromptStyle::Movie, frames)), 8);
  EXPECT_EQ(count_slots(build_prompt_ids(*tok, "Q?", PromptStyle::Video, frames)), 1);
}

// The standing prefix ends right after the last visual slot; without a slot it is empty.
TEST(Prompt, StandingPrefixEnd) {
  EXPECT_EQ(standing_prefix_end({1, 5, kImageTokenIndex, kImageTokenIndex, 7, kImageTokenIndex,
                                 kImageTokenIndex, 8, 9}),
            7u);
  EXPECT_EQ(standing_prefix_end({1, 5, 6}), 0u);
  EXPECT_EQ(standing_prefix_end({1, kImageTokenIndex}), 2u);
  // A question's anchor slots come after it and are not the prefix's.
  EXPECT_EQ(standing_prefix_end({1, kImageTokenIndex, kImageTokenIndex, 7, 8, kImageTokenIndex,
                                 kImageTokenIndex, 9},
                                2),
            3u);
  EXPECT_EQ(standing_prefix_end({1, kImageTokenIndex, kImageTokenIndex}, 2), 0u);
}

// Anchor slots follow the question, before the template's end; the rest of the prompt is the
// same text as without them. Only the movie layout has them.
TEST(Prompt, AnchorSlotsFollowTheQuestion) {
  FrameLayout frames{{"[00:00:00]", "[00:00:01]"}, 2};
  const std::string plain = build_prompt("At 00:00:01?", PromptStyle::Movie, frames);
  frames.text_after_anchor = {""};
  const std::string anchored = build_prompt("At 00:00:01?", PromptStyle::Movie, frames);
  const std::string question = "Now the movie end.\nAt 00:00:01?";
  ASSERT_NE(plain.find(question), std::string::npos);
  EXPECT_EQ(anchored, std::string(plain).insert(plain.find(question) + question.size(),
                                                 "<image><image>"));
  EXPECT_EQ(frames.anchor_slots(), 2);
  // A class anchor's text follows its slots.
  frames.text_after_anchor = {"", "[00:00:01-00:00:01, 00:00:00] 1"};
  EXPECT_EQ(build_prompt("At 00:00:01?", PromptStyle::Movie, frames),
            std::string(plain).insert(plain.find(question) + question.size(),
                                      "<image><image><image><image>[00:00:01-00:00:01, 00:00:00] 1"));
  EXPECT_EQ(frames.anchor_slots(), 4);
  frames.text_after_anchor = {"<image>"};
  EXPECT_THROW(build_prompt("At 00:00:01?", PromptStyle::Movie, frames), Error);
  frames.text_after_anchor = {""};
  EXPECT_THROW(build_prompt("At 00:00:01?", PromptStyle::Video, frames), Error);
}
