// Questions about a synthetic stream and their answers, in the formats the default model is
// trained on (documented in models/default/README.md), and how an answer is graded.
// Free of libtorch and GStreamer.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "world.h"

namespace llamavid::world {

enum class Category {
  Now,       // "What is on screen?" -> label
  OnScreen,  // "Is X on screen?", "Is the screen black?" -> yes | no (the newest frame)
  At,        // "What was on screen at hh:mm:ss?" -> label
  Order,     // "What came before|after X?" -> label (X appears once)
  Presence,  // "Did X appear?" -> yes | no
  First,     // "When did X first appear?" -> hh:mm:ss
  Last,      // "When did X last appear?" -> hh:mm:ss (start of the last appearance)
  Duration,  // "How long was X on screen?" -> hh:mm:ss (X appears once)
  Count,     // "How many times did X appear?" -> a whole number
  Describe,  // "What was on screen between hh:mm:ss and hh:mm:ss?" -> "a, b, c"
  OffTopic,  // a question outside the world -> kOffTopicAnswer
};
constexpr int kNumCategories = 11;

const char* category_name(Category category);
// The category of a name from category_name; false when none has it.
bool category_from_name(const std::string& name, Category& out);

// The honest short answer to a question about anything but what was on screen.
inline const std::string kOffTopicAnswer = "I can only answer about what was on screen.";
// The answers of presence and on-screen questions.
inline const std::string kYes = "yes";
inline const std::string kNo = "no";

struct Question {
  Category category = Category::Now;
  std::string text;
  // The answer a perfect reader of the memory gives: times are those of the sampled frames
  // (what the time markers show), which the grading tolerances allow for.
  std::string answer;
  // Ground truth for graded categories: seconds (First, Last, Duration) or a count.
  int64_t value = 0;
};

// Which phrasings a question is worded with (phrasings.h): training draws only from Training.
enum class PhrasingSet { Training, HeldOut };

// A question of `category` about `stream` sampled every `interval_s` seconds; false when the
// stream offers none (e.g. no class appears exactly once, for Order and Duration).
bool make_question(std::mt19937_64& rng, Category category, const Stream& stream,
                   double interval_s, Question& out,
                   PhrasingSet phrasing = PhrasingSet::Training);

// Grades an answer: exact text (case and a final period ignored) for labels, yes/no, lists and
// the off-topic answer; First and Last within 5 s of the truth; Duration within 10 % or one
// sampling interval, whichever is larger; Count exactly.
bool is_correct(const Question& question, const std::string& answer, double interval_s);

// Every question text and answer form, for the tokenizer corpus: one line each.
std::vector<std::string> corpus_lines(std::mt19937_64& rng, int64_t streams);

}  // namespace llamavid::world
