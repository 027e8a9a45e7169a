// Where the shipped default model lives: $LLAMAVID_MODEL when set, else the installed copy
// (<datadir>/llamavid/models/default), else the source tree's models/default (uninstalled runs).
#pragma once

#include <string>

namespace llamavid {

std::string default_model_dir();

}  // namespace llamavid
