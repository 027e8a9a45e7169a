#include "core/default_model.h"

#include <cstdlib>
#include <filesystem>

namespace llamavid {

std::string default_model_dir() {
  if (const char* env = std::getenv("LLAMAVID_MODEL"); env && *env) return env;
  for (const char* dir : {LLAMAVID_INSTALLED_MODEL_DIR, LLAMAVID_SOURCE_MODEL_DIR}) {
    if (std::filesystem::is_regular_file(std::filesystem::path(dir) / "config.json")) return dir;
  }
  return LLAMAVID_INSTALLED_MODEL_DIR;
}

}  // namespace llamavid
