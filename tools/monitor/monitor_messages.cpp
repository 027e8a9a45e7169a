#include "monitor_messages.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace llamavid::monitor {

namespace {

using nlohmann::ordered_json;

std::string dump(const ordered_json& j) {
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

}  // namespace

Topics camera_topics(const std::string& prefix, const std::string& camera) {
  const std::string base = prefix + "/" + camera + "/";
  return {base + "ask", prefix + "/all/ask", base + "answer", base + "alert", base + "status"};
}

Question parse_question(const std::string& payload) {
  const size_t first = payload.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || payload[first] != '{') return {payload, std::nullopt};
  const ordered_json j = ordered_json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error("the payload starts with '{' but is not valid JSON");
  if (!j.contains("question") || !j["question"].is_string())
    throw Error("a JSON question needs a string \"question\"");
  Question q{j["question"].get<std::string>(), std::nullopt};
  if (j.contains("id")) {
    const ordered_json& id = j["id"];
    if (!id.is_number_unsigned() || id.get<uint64_t>() == 0)
      throw Error("\"id\" must be a whole number above 0");
    q.id = id.get<uint64_t>();
  }
  return q;
}

std::string question_error_json(const std::string& payload, const std::string& reason) {
  ordered_json j;
  j["type"] = "error";
  j["id"] = 0;
  j["question"] = payload;
  j["reason"] = reason;
  return dump(j);
}

const char* state_name(CameraState state) {
  switch (state) {
    case CameraState::Starting:
      return "starting";
    case CameraState::Playing:
      return "playing";
    case CameraState::Reconnecting:
      return "reconnecting";
    case CameraState::Stopped:
      return "stopped";
  }
  return "unknown";
}

std::string status_json(const CameraStatus& s) {
  ordered_json j;
  j["state"] = state_name(s.state);
  j["memory-start"] = s.memory_start_ns;
  j["memory-end"] = s.memory_end_ns;
  j["frames"] = s.frames;
  j["frames-skipped"] = s.frames_skipped;
  j["reconnects"] = s.reconnects;
  return dump(j);
}

std::string offline_status_json() { return dump(ordered_json{{"state", "offline"}}); }

}  // namespace llamavid::monitor
