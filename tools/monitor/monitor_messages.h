// What llamavid-monitor reads and writes on MQTT: the topics of a camera, the question payloads
// (plain text or {"question": ..., "id": N}), the retained status object and the last will.
// Answers, errors and alerts are the element's text-format=json objects (message_json).
// Pure logic.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace llamavid::monitor {

struct Topics {
  std::string ask, all_ask, answer, alert, status;
};
Topics camera_topics(const std::string& prefix, const std::string& camera);

struct Question {
  std::string text;
  std::optional<uint64_t> id;  // unset: the element gives the next id
};
// A payload that is a JSON object is {"question": "...", "id": N} (id optional, a whole number
// above 0); any other payload is the question's text. Error saying what is wrong with an object.
Question parse_question(const std::string& payload);

// The error object of a payload that is no question (as the element's llamavid-error JSON).
std::string question_error_json(const std::string& payload, const std::string& reason);

enum class CameraState { Starting, Playing, Reconnecting, Stopped };
const char* state_name(CameraState state);

struct CameraStatus {
  CameraState state = CameraState::Starting;
  uint64_t memory_start_ns = 0, memory_end_ns = 0;
  uint64_t frames = 0;          // entries in memory (the element's memory-frames)
  uint64_t frames_skipped = 0;  // frames skipped behind a live source (element and hand-over)
  uint64_t reconnects = 0;      // times the camera was lost and reconnection began
};
std::string status_json(const CameraStatus& status);
// The last will, published by the broker when the monitor's connection dies without a goodbye.
std::string offline_status_json();

}  // namespace llamavid::monitor
