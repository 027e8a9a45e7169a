// The synthetic world's questions (tools/train): every category is worded in at least 8 training
// and 3 held-out phrasings, the held-out ones never reach training (questions or the tokenizer
// corpus), and the on-screen question's answer is about the newest frame.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <random>
#include <regex>
#include <set>

#include "phrasings.h"
#include "questions.h"
#include "world.h"

using namespace llamavid::world;

namespace {

const std::vector<std::pair<Category, Form>>& every_form() {
  static const std::vector<std::pair<Category, Form>> forms = [] {
    std::vector<std::pair<Category, Form>> out;
    for (int c = 0; c < kNumCategories; ++c) {
      const auto cat = static_cast<Category>(c);
      if (cat == Category::Order) {
        out.push_back({cat, Form::Before});
        out.push_back({cat, Form::After});
      } else {
        out.push_back({cat, Form::Plain});
      }
      if (cat == Category::OnScreen) out.push_back({cat, Form::Colour});
    }
    return out;
  }();
  return forms;
}

// Every wording a set gives for one filling (the same label and times throughout).
std::set<std::string> filled(PhrasingSet set) {
  std::set<std::string> out;
  for (const auto& [cat, form] : every_form())
    for (const auto& t : phrasings(cat, set, form)) out.insert(fill(t, "snow", "00:01:02", "00:03:04"));
  return out;
}

}  // namespace

TEST(WorldQuestions, EnoughPhrasingsAndNoneShared) {
  for (const auto& [cat, form] : every_form()) {
    EXPECT_GE(phrasings(cat, PhrasingSet::Training, form).size(), 8u) << category_name(cat);
    EXPECT_GE(phrasings(cat, PhrasingSet::HeldOut, form).size(), 3u) << category_name(cat);
  }
  // Compared without case and final punctuation: "Tell me what is on screen." is not held out
  // if training asks "Please tell me what is on screen now?".
  const auto bare = [](std::string s) {
    while (!s.empty() && (s.back() == '?' || s.back() == '.')) s.pop_back();
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  };
  std::vector<std::string> training;
  for (const auto& q : filled(PhrasingSet::Training)) training.push_back(bare(q));
  for (const auto& q : filled(PhrasingSet::HeldOut))
    for (const auto& t : training) EXPECT_EQ(t.find(bare(q)), std::string::npos) << q << " in " << t;
}

// Questions drawn for training use training wordings only, the held-out set held-out ones only,
// and every category comes in several wordings.
TEST(WorldQuestions, SetsStayApart) {
  const auto training = filled(PhrasingSet::Training);
  const auto held_out = filled(PhrasingSet::HeldOut);
  std::mt19937_64 rng(7);
  std::map<Category, std::set<std::string>> seen;
  for (int i = 0; i < 3000; ++i) {
    const Stream s = stream_with_segments(rng, 2 + static_cast<int64_t>(rng() % 12));
    for (const PhrasingSet set : {PhrasingSet::Training, PhrasingSet::HeldOut}) {
      Question q;
      const auto cat = static_cast<Category>(i % kNumCategories);
      if (!make_question(rng, cat, s, 1.0, q, set)) continue;
      const auto& other = set == PhrasingSet::Training ? held_out : training;
      EXPECT_EQ(other.count(q.text), 0u) << q.text;
      if (set == PhrasingSet::Training) seen[cat].insert(q.text);
    }
  }
  for (const auto& [cat, texts] : seen) EXPECT_GE(texts.size(), 8u) << category_name(cat);
}

// Off-topic questions come in many kinds, none naming a class of the world (that would make
// them questions about the screen), and the held-out ones are all new.
TEST(WorldQuestions, OffTopicQuestions) {
  const auto& training = phrasings(Category::OffTopic, PhrasingSet::Training);
  const auto& held_out = phrasings(Category::OffTopic, PhrasingSet::HeldOut);
  EXPECT_GE(training.size(), 80u);
  EXPECT_GE(held_out.size(), 30u);
  const std::set<std::string> seen(training.begin(), training.end());
  EXPECT_EQ(seen.size(), training.size());
  for (const auto* set : {&training, &held_out})
    for (const auto& q : *set) {
      if (set == &held_out) {
        EXPECT_EQ(seen.count(q), 0u) << q;
      }
      std::string lower = q;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      for (int64_t c = 0; c < num_classes(); ++c) {
        const std::string& l = pattern_classes()[c].label;
        EXPECT_FALSE(std::regex_search(lower, std::regex("\\b" + l + "\\b"))) << q << " names " << l;
      }
    }
}

// The tokenizer corpus holds no held-out wording.
TEST(WorldQuestions, CorpusHasNoHeldOutWording) {
  std::mt19937_64 rng(3);
  const auto lines = corpus_lines(rng, 300);
  const std::set<std::string> corpus(lines.begin(), lines.end());
  for (const auto& q : phrasings(Category::OffTopic, PhrasingSet::HeldOut))
    EXPECT_EQ(corpus.count(q), 0u) << q;
  for (const auto& q : phrasings(Category::Now, PhrasingSet::HeldOut))
    EXPECT_EQ(corpus.count(q), 0u) << q;
}

// "Is X on screen?" is yes exactly when X is the newest frame's class; colour wordings only name
// one-colour classes; about half the answers are yes.
TEST(WorldQuestions, OnScreenIsAboutTheNewestFrame) {
  std::mt19937_64 rng(11);
  int yes = 0, total = 0;
  const auto& colour_forms = phrasings(Category::OnScreen, PhrasingSet::Training, Form::Colour);
  for (int i = 0; i < 2000; ++i) {
    const Stream s = stream_with_segments(rng, 2 + static_cast<int64_t>(rng() % 10));
    Question q;
    ASSERT_TRUE(make_question(rng, Category::OnScreen, s, 1.0, q));
    const auto spans = sampled_spans(s, 1.0);
    const std::string& now = pattern_classes()[s.segments[spans.back().segment].cls].label;
    bool names_now = false;
    for (const auto& t : phrasings(Category::OnScreen, PhrasingSet::Training, Form::Plain))
      names_now = names_now || q.text == fill(t, now);
    for (const auto& t : colour_forms) {
      names_now = names_now || q.text == fill(t, now);
      for (int64_t c = 0; c < num_classes(); ++c) {
        const std::string& l = pattern_classes()[c].label;
        if (q.text == fill(t, l)) {
          EXPECT_TRUE(l == "black" || l == "white" || l == "red" || l == "green" || l == "blue")
              << q.text;
        }
      }
    }
    EXPECT_EQ(q.answer, names_now ? kYes : kNo) << q.text << " (now: " << now << ")";
    yes += q.answer == kYes;
    ++total;
  }
  EXPECT_GT(yes, total * 2 / 5);
  EXPECT_LT(yes, total * 3 / 5);
}
