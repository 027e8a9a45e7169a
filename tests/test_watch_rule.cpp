// WatchTracker: when a standing question's answers fire alerts (baseline, confirmation,
// cooldown, the change still waiting at the end) and how answers compare.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "stream/watch_rule.h"

using namespace llamavid;

namespace {

constexpr int64_t kSecond = 1000000000;

struct Fired {
  int64_t at_s;
  WatchAlert alert;
};

// Feeds answers at 0, 1, 2, ... s; the alerts fired, with when.
std::vector<Fired> feed(WatchTracker& t, const std::vector<std::string>& answers,
                        const WatchRules& rules, int64_t start_s = 0) {
  std::vector<Fired> fired;
  for (size_t i = 0; i < answers.size(); ++i) {
    const int64_t at = start_s + static_cast<int64_t>(i);
    if (auto a = t.observe(answers[i], at * kSecond, rules)) fired.push_back({at, *a});
  }
  return fired;
}

}  // namespace

TEST(WatchRule, AnswersCompareNormalized) {
  EXPECT_EQ(normalized_answer("  Yes. "), "yes");
  EXPECT_EQ(normalized_answer("NO"), "no");
  EXPECT_EQ(normalized_answer("snow ."), "snow");
  EXPECT_EQ(normalized_answer("a.b"), "a.b");  // only a final full stop goes
  EXPECT_EQ(normalized_answer(""), "");
}

TEST(WatchRule, BaselineAlertsOnlyWhenYes) {
  WatchTracker no;
  EXPECT_TRUE(feed(no, {"No.", "no", "NO"}, {}).empty());
  WatchTracker yes;
  auto fired = feed(yes, {"Yes.", "yes"}, {});
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].at_s, 0);
  EXPECT_EQ(fired[0].alert.answer, "Yes.");
  EXPECT_EQ(fired[0].alert.previous, "");
  EXPECT_EQ(fired[0].alert.since_ns, 0);
}

// A change fires once it held for `confirm` evaluations; `since` is its first one. A flicker
// shorter than that fires nothing.
TEST(WatchRule, ChangesNeedConfirmation) {
  WatchTracker t;
  WatchRules rules;
  rules.confirm = 3;
  auto fired = feed(t, {"no", "yes", "yes", "no", "yes", "yes", "yes", "yes", "no"}, rules);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].at_s, 6);
  EXPECT_EQ(fired[0].alert.answer, "yes");
  EXPECT_EQ(fired[0].alert.previous, "no");
  EXPECT_EQ(fired[0].alert.since_ns, 4 * kSecond);
  EXPECT_EQ(fired[0].alert.previous_since_ns, 0);
  // The pending "no" at 8 s has held once: finish() fires it with its own since.
  auto last = t.finish(9 * kSecond, rules);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->answer, "no");
  EXPECT_EQ(last->previous, "yes");
  EXPECT_EQ(last->since_ns, 8 * kSecond);
  EXPECT_EQ(last->previous_since_ns, 4 * kSecond);
  EXPECT_FALSE(t.finish(10 * kSecond, rules).has_value());  // nothing waits any more
}

// A change of a different answer restarts the count: "snow" then "bars" is no confirmed
// "snow".
TEST(WatchRule, ADifferentChangeRestartsTheCount) {
  WatchTracker t;
  auto fired = feed(t, {"black", "snow", "bars", "bars"}, {});
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].alert.answer, "bars");
  EXPECT_EQ(fired[0].alert.previous, "black");
  EXPECT_EQ(fired[0].alert.since_ns, 2 * kSecond);
}

// Within the cooldown a confirmed change waits; it fires at the first evaluation after the
// cooldown that still gives it, and not at all when the answer went back meanwhile.
TEST(WatchRule, CooldownDefersAndDrops) {
  WatchRules rules;
  rules.confirm = 1;
  rules.cooldown_ns = 5 * kSecond;
  WatchTracker t;
  auto fired = feed(t, {"yes", "no", "no", "no", "no", "no", "no"}, rules);
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0].at_s, 0);  // the "yes" baseline
  EXPECT_EQ(fired[1].at_s, 5);  // "no" from 1 s, held back until 5 s after the baseline
  EXPECT_EQ(fired[1].alert.since_ns, 1 * kSecond);

  WatchTracker back;
  fired = feed(back, {"yes", "no", "yes", "yes", "yes", "yes", "yes"}, rules);
  ASSERT_EQ(fired.size(), 1u);  // the "no" never outlived the cooldown
  // finish() keeps the cooldown too.
  WatchTracker late;
  feed(late, {"yes", "no"}, rules);
  EXPECT_FALSE(late.finish(2 * kSecond, rules).has_value());
  EXPECT_TRUE(late.finish(6 * kSecond, rules).has_value());
}

// The answer each alert reports is the newest wording of the change.
TEST(WatchRule, ReportsTheAnswerAsGiven) {
  WatchTracker t;
  auto fired = feed(t, {"No.", "Yes", "yes."}, {});
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].alert.answer, "yes.");
  EXPECT_EQ(fired[0].alert.previous, "No.");
}
