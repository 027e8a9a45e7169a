// llamavid-monitor's configuration: the JSON config file, the command line's --camera and
// --broker values, and the checks that make a bad file, name or address an error at start that
// says what is wrong. Pure logic (no GStreamer, no MQTT), so tests check it alone.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace llamavid::monitor {

struct BrokerAddress {
  std::string host = "127.0.0.1";
  int port = 1883;
};

struct CameraConfig {
  std::string name;  // one MQTT topic level: letters, digits, '.', '_', '-'
  std::string uri;   // a URI GStreamer plays, or a file path
  std::vector<std::string> watches;
  std::optional<double> sample_fps;  // unset: the element's default
};

struct MonitorConfig {
  BrokerAddress broker;
  std::string topic_prefix = "llamavid";
  std::string model;  // empty: the element's default model
  std::vector<CameraConfig> cameras;
};

// "HOST", "HOST:PORT", "[IPV6]" or "[IPV6]:PORT"; Error saying what is wrong otherwise.
BrokerAddress parse_broker(const std::string& text);

// --camera NAME=URI (checked by check_config with the rest).
CameraConfig parse_camera_option(const std::string& spec);

// The config file's JSON text (`origin`: its name, for messages). Unknown keys are errors, so a
// misspelt key is not silently ignored. The result is checked by check_config.
MonitorConfig parse_config_json(const std::string& text, const std::string& origin);

// Camera names (valid topic levels, not "all", unique), at least one camera, URIs not empty,
// sample-fps in the element's range, watches not blank, the topic prefix a valid topic without
// wildcards. Error naming the camera and what is wrong.
void check_config(const MonitorConfig& config);

}  // namespace llamavid::monitor
