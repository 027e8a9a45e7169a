#include "phrasings.h"

#include <map>
#include <tuple>

#include "core/error.h"

namespace llamavid::world {

namespace {

using Key = std::tuple<Category, PhrasingSet, Form>;

// Questions about anything but the screen: fixed ones and templates crossed with fillers, so
// that the fixed answer is learnt for a kind of question, not for a list. The held-out set has
// templates and fixed questions of its own. No filler names a class of the world.
std::vector<std::string> off_topic(PhrasingSet set) {
  const std::vector<std::string> places = {"France", "Japan", "Peru", "Kenya", "Canada",
                                           "Norway", "Egypt", "Chile", "India", "Italy"};
  const std::vector<std::string> topics = {"history", "the stock market", "dinosaurs",
                                           "the ocean", "music", "football", "the moon",
                                           "volcanoes", "cats", "chess"};
  const std::vector<std::string> tasks = {"cook rice", "fix a bike", "learn to swim",
                                          "write a letter", "plant a tree", "bake bread",
                                          "tie a tie", "change a tyre", "save money",
                                          "sleep better"};
  std::vector<std::string> out;
  // Every filler in a template.
  const auto add = [&](const char* text, const std::vector<std::string>& fillers) {
    for (const auto& filler : fillers) out.push_back(fill(text, filler));
  };
  if (set == PhrasingSet::Training) {
    out = {"Who is the president?", "What is the weather like today?", "Tell me a joke.",
           "How do I cook pasta?", "What is two plus two?",
           "Who won the football match?", "What is your name?", "Write a poem about the sea.",
           "What time is it in Tokyo?", "Can you translate hello into German?",
           "What is the meaning of life?"};
    add("What is the capital of {x}?", places);
    add("What is the weather like in {x}?", places);
    add("What time is it in {x}?", places);
    add("Tell me about {x}.", topics);
    add("Write a poem about {x}.", topics);
    add("What do you think about {x}?", topics);
    add("How do I {x}?", tasks);
    add("Can you help me {x}?", tasks);
    // The request wrappers and question openings that screen questions use too ("Can you tell
    // me", "How many", "When did"), so that what decides is what a question is about.
    out.insert(out.end(),
               {"How many legs does a spider have?", "How long is a marathon?",
                "When did the war end?", "What happened in 1969?", "Who painted the Mona Lisa?",
                "How old is the universe?", "Where is the nearest hospital?",
                "Can you recommend a film?", "What should I eat tonight?",
                "Did it rain yesterday?", "Will it be cold tomorrow?",
                "What came first, the chicken or the egg?", "How often should I water a cactus?"});
    add("Can you tell me about {x}?", topics);
    add("Please tell me about {x}.", topics);
    add("Do you know much about {x}?", topics);
    add("I want to learn about {x}.", topics);
    add("What language do people speak in {x}?", places);
    add("What currency does {x} use?", places);
    add("Could you tell me how to {x}?", tasks);
    add("Do you know how to {x}?", tasks);
  } else {
    out = {"Who wrote Hamlet?", "How far away is the moon?", "Recommend a good book.",
           "What is the speed of light?", "Should I buy a new car?"};
    add("What is the population of {x}?", places);
    add("Explain {x} to a child.", topics);
    add("What is the best way to {x}?", tasks);
  }
  return out;
}

// At least 8 training and 3 held-out phrasings of every form; no held-out wording is part of a
// training one. Training wordings come bare and inside requests ("Can you tell me ...",
// "Please tell me ...", "Tell me ...") because users ask both ways, and off-topic questions open
// the same ways, so a request's opening does not decide whether it is about the screen. Words
// cross categories ("What appeared after X?" for order, "Can you see X right now?" for on-screen,
// "What appeared at T?" for at), because a held-out wording that shares its verb with only one
// trained category gets that category's answer (the step-13000 model answered 14 of 16 "Can you
// see X at the moment?" and 9 of 10 "What appeared right after X?" with a time).
const std::map<Key, std::vector<std::string>>& table() {
  using C = Category;
  using S = PhrasingSet;
  static const std::map<Key, std::vector<std::string>> t = {
      {{C::Now, S::Training, Form::Plain},
       {"What is on screen?", "What is on screen now?", "What is showing?",
        "What is showing now?", "What do you see now?", "What is on the screen right now?",
        "Which pattern is on now?", "What is displayed now?", "What's on screen?",
        "What is on screen at the moment?",
        "What is currently showing?",
        "Can you tell me what is showing?",
        "Could you tell me what you see now?",
        "Please tell me what is on the screen right now.",
        "Do you know what is on screen right now?",
        "I want to know what is showing now.",
        "Let me know what is displayed now.",
        "Tell me what is showing now.", "Tell me which pattern is on now.",
        "What do you see at the moment?", "What appears on screen now?",
        "What is visible now?"}},
      {{C::Now, S::HeldOut, Form::Plain},
       {"What is the screen showing?", "What can be seen right now?",
        "Tell me what is on screen."}},
      {{C::OnScreen, S::Training, Form::Plain},
       {"Is {x} on screen?", "Is {x} on screen now?", "Is {x} showing?", "Is {x} showing now?",
        "Do you see {x} now?", "Is {x} displayed now?", "Is the screen showing {x}?",
        "Is {x} on the screen right now?",
        "Is {x} on screen at the moment?",
        "Is {x} being shown right now?",
        "Can you see {x} now?",
        "Can you tell me if {x} is on screen?",
        "Could you tell me whether {x} is showing?",
        "Please tell me if {x} is on screen now.",
        "Do you know if {x} is showing now?",
        "I want to know if {x} is on the screen.",
        "Tell me if {x} is showing.",
        "Can you see {x} right now?", "Do you see {x} at the moment?",
        "Does {x} appear on screen now?", "Can you see {x} on the screen?"}},
      {{C::OnScreen, S::HeldOut, Form::Plain},
       {"Is {x} visible right now?", "Can you see {x} at the moment?",
        "Is {x} currently on screen?"}},
      {{C::OnScreen, S::Training, Form::Colour},
       {"Is the screen {x}?", "Is the screen {x} now?", "Is the whole screen {x}?",
        "Has the screen gone {x}?", "Is the picture {x}?", "Is the screen all {x}?",
        "Is the screen {x} right now?", "Is it a {x} screen?",
        "Is the screen {x} at the moment?",
        "Is the screen currently {x}?",
        "Can you tell me if the screen is {x}?",
        "Could you tell me whether the screen is {x}?",
        "Please tell me if the screen is {x} now.",
        "Do you know if the screen is {x}?",
        "Tell me if the screen is {x}."}},
      {{C::OnScreen, S::HeldOut, Form::Colour},
       {"Is the display {x}?", "Has the picture turned {x}?", "Is the image completely {x}?"}},
      {{C::At, S::Training, Form::Plain},
       {"What was on screen at {t}?", "What was showing at {t}?", "Which pattern was on at {t}?",
        "What did you see at {t}?", "What was displayed at {t}?", "What was on the screen at {t}?",
        "At {t}, what was on screen?", "What was visible at {t}?",
        "Can you tell me what was showing at {t}?",
        "Could you tell me what you saw at {t}?",
        "Please tell me which pattern was on at {t}.",
        "Do you know what was displayed at {t}?",
        "I want to know what was on the screen at {t}.",
        "Let me know what was showing at {t}.",
        "Tell me which pattern was on at {t}.",
        "What appeared at {t}?", "Which pattern could you see at {t}?",
        "What did the screen show at {t}?"}},
      {{C::At, S::HeldOut, Form::Plain},
       {"What could be seen at {t}?", "Tell me what was on screen at {t}.",
        "What was the screen showing at {t}?"}},
      {{C::Order, S::Training, Form::Before},
       {"What came before {x}?", "What was on screen before {x}?", "What was shown before {x}?",
        "What preceded {x}?", "Which pattern came before {x}?", "What was on just before {x}?",
        "What did you see before {x}?", "What was showing before {x}?",
        "What was on screen right before {x}?",
        "Can you tell me what was shown before {x}?",
        "Could you tell me what preceded {x}?",
        "Please tell me which pattern came before {x}.",
        "Do you know what was on just before {x}?",
        "I want to know what was showing before {x}.",
        "Tell me which pattern came before {x}.",
        "What appeared before {x}?", "What appeared just before {x}?",
        "Which pattern was visible before {x}?", "What came up before {x}?"}},
      {{C::Order, S::HeldOut, Form::Before},
       {"What appeared right before {x}?", "What was displayed before {x}?",
        "Tell me what came before {x}."}},
      {{C::Order, S::Training, Form::After},
       {"What came after {x}?", "What was on screen after {x}?", "What was shown after {x}?",
        "What followed {x}?", "Which pattern came after {x}?", "What was on just after {x}?",
        "What did you see after {x}?", "What was showing after {x}?",
        "What was on screen right after {x}?",
        "Can you tell me what was shown after {x}?",
        "Could you tell me what followed {x}?",
        "Please tell me which pattern came after {x}.",
        "Do you know what was on just after {x}?",
        "I want to know what was showing after {x}.",
        "Tell me which pattern came after {x}.",
        "What appeared after {x}?", "What appeared just after {x}?",
        "Which pattern was visible after {x}?", "What came up after {x}?"}},
      {{C::Order, S::HeldOut, Form::After},
       {"What appeared right after {x}?", "What was displayed after {x}?",
        "Tell me what came after {x}."}},
      {{C::Presence, S::Training, Form::Plain},
       {"Did {x} appear?", "Was there any {x}?", "Was {x} shown?", "Did you see {x}?",
        "Was {x} on screen at any point?", "Has {x} been on screen?", "Did {x} show up?",
        "Was {x} ever shown?",
        "Did {x} appear at any point?",
        "Can you tell me if {x} appeared?",
        "Could you tell me whether {x} was shown?",
        "Please tell me if there was any {x}.",
        "Do you know if {x} was on screen?",
        "I want to know whether {x} showed up.",
        "Tell me if {x} was shown.",
        "Could you see {x} at any point?", "Was {x} visible at some point?",
        "Did {x} come on at any point?"}},
      {{C::Presence, S::HeldOut, Form::Plain},
       {"Did {x} come up at all?", "Has {x} appeared?", "Was {x} visible at any time?"}},
      {{C::First, S::Training, Form::Plain},
       {"When did {x} first appear?", "When was {x} first shown?", "When did {x} first show up?",
        "At what time did {x} first appear?", "When did you first see {x}?",
        "When was {x} first on screen?", "What time did {x} first come on?",
        "When did {x} appear for the first time?",
        "When did {x} appear first?",
        "Can you tell me when {x} first appeared?",
        "Could you tell me when {x} was first shown?",
        "Please tell me when {x} first showed up.",
        "Do you know when {x} first appeared?",
        "I want to know when you first saw {x}.",
        "Tell me when {x} first appeared.",
        "When could you first see {x}?", "When did {x} come on for the first time?"}},
      {{C::First, S::HeldOut, Form::Plain},
       {"When was the first time {x} was on screen?", "At what time was {x} first visible?",
        "When did {x} first come up?"}},
      {{C::Last, S::Training, Form::Plain},
       {"When did {x} last appear?", "When was {x} last shown?", "When did {x} last show up?",
        "At what time did {x} last appear?", "When did you last see {x}?",
        "When was {x} last on screen?", "What time did {x} last come on?",
        "When did {x} appear for the last time?",
        "When did {x} appear last?",
        "Can you tell me when {x} last appeared?",
        "Could you tell me when {x} was last shown?",
        "Please tell me when {x} last showed up.",
        "Do you know when {x} last appeared?",
        "I want to know when you last saw {x}.",
        "Tell me when {x} last appeared.",
        "When could you last see {x}?", "When did {x} come on for the last time?"}},
      {{C::Last, S::HeldOut, Form::Plain},
       {"When was the last time {x} was on screen?", "At what time was {x} last visible?",
        "When did {x} last come up?"}},
      {{C::Duration, S::Training, Form::Plain},
       {"How long was {x} on screen?", "How long was {x} shown?", "For how long was {x} on?",
        "How long did {x} last?", "How long was {x} showing?", "How long did {x} remain on screen?",
        "For how long did you see {x}?", "How much time was {x} on screen?",
        "How much time did {x} spend on screen?",
        "Can you tell me how long {x} was on screen?",
        "Could you tell me how long {x} was shown?",
        "Please tell me how long {x} lasted.",
        "Do you know how long {x} was on screen?",
        "I want to know how long {x} was showing.",
        "Tell me how long {x} was on screen.",
        "How long did {x} appear for?", "For how long could you see {x}?"}},
      {{C::Duration, S::HeldOut, Form::Plain},
       {"How long was {x} visible?", "For how long was {x} displayed?",
        "How long did {x} stay on?"}},
      {{C::Count, S::Training, Form::Plain},
       {"How many times did {x} appear?", "How often did {x} appear?",
        "How many times was {x} shown?", "How many times did you see {x}?",
        "How often was {x} on screen?", "How many times did {x} show up?",
        "How many separate times was {x} on?", "Count the times {x} appeared.",
        "How many times did {x} come on?",
        "Can you tell me how many times {x} appeared?",
        "Could you tell me how often {x} was shown?",
        "Please count how many times {x} showed up.",
        "Do you know how many times {x} appeared?",
        "I want to know how often {x} was on.",
        "Tell me how many times {x} appeared.",
        "How many times could you see {x}?", "How many times was {x} visible?",
        "How many appearances of {x} were there?", "Count the appearances of {x}.",
        "What was the number of appearances of {x}?"}},
      {{C::Count, S::HeldOut, Form::Plain},
       {"How many times was {x} on screen?", "How often did {x} come up?",
        "How many appearances did {x} make?"}},
      {{C::Describe, S::Training, Form::Plain},
       {"What was on screen between {t} and {u}?", "What was shown between {t} and {u}?",
        "What happened between {t} and {u}?", "What did you see between {t} and {u}?",
        "Describe the screen from {t} to {u}.", "What was on from {t} to {u}?",
        "Which patterns were on between {t} and {u}?", "What was showing from {t} to {u}?",
        "Summarise the screen from {t} to {u}.",
        "Can you tell me what was shown between {t} and {u}?",
        "Could you tell me what happened from {t} to {u}?",
        "Please tell me which patterns were on between {t} and {u}.",
        "Do you know what was showing between {t} and {u}?",
        "I want to know what you saw from {t} to {u}.",
        "Tell me which patterns were on between {t} and {u}.",
        "What appeared between {t} and {u}?", "Which patterns could you see from {t} to {u}?"}},
      {{C::Describe, S::HeldOut, Form::Plain},
       {"What was displayed between {t} and {u}?", "Tell me what was on screen from {t} to {u}.",
        "What could be seen between {t} and {u}?"}},
      {{C::OffTopic, S::Training, Form::Plain}, off_topic(S::Training)},
      {{C::OffTopic, S::HeldOut, Form::Plain}, off_topic(S::HeldOut)},
  };
  return t;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size())
    s.replace(at, from.size(), to);
}

}  // namespace

const std::vector<std::string>& phrasings(Category category, PhrasingSet set, Form form) {
  const auto it = table().find({category, set, form});
  if (it == table().end())
    throw Error(std::string("no phrasings of ") + category_name(category) + " in that form");
  return it->second;
}

std::string fill(const std::string& tmpl, const std::string& x, const std::string& t,
                 const std::string& u) {
  std::string s = tmpl;
  replace_all(s, "{x}", x);
  replace_all(s, "{t}", t);
  replace_all(s, "{u}", u);
  return s;
}

}  // namespace llamavid::world
