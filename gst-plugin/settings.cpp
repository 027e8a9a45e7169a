#include "settings.h"

#include "core/default_model.h"

namespace llamavid::element {

Settings::Settings() : model(default_model_dir()) {}

}  // namespace llamavid::element
