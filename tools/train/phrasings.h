// How each category of question is worded: templates with {x} (a class label), {t} and {u}
// (clock times, hh:mm:ss). Training draws only from the training set; the held-out set is never
// trained on and measures whether the model understands the question rather than its wording
// (llamavid-eval --phrasings held-out).
#pragma once

#include <string>
#include <vector>

#include "questions.h"

namespace llamavid::world {

// The form of a category's question that a template has to fit.
enum class Form {
  Plain,   // the category's one form
  Before,  // Order: what came before {x}
  After,   // Order: what came after {x}
  Colour,  // OnScreen, for the one-colour classes: "Is the screen {x}?" and the like
};

// The templates of `category` in `set` for `form` (for OffTopic: the questions themselves).
const std::vector<std::string>& phrasings(Category category, PhrasingSet set,
                                          Form form = Form::Plain);

// `tmpl` with its placeholders replaced.
std::string fill(const std::string& tmpl, const std::string& x, const std::string& t = "",
                 const std::string& u = "");

}  // namespace llamavid::world
