#include "monitor_config.h"

#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_text.h"

namespace llamavid::monitor {

namespace {

using nlohmann::json;

// The element's sample-fps range.
constexpr double kMinSampleFps = 0.0001, kMaxSampleFps = 1000;
// The reserved level of P/all/ask.
constexpr const char* kAllCameras = "all";
constexpr size_t kMaxNameLength = 64;

int parse_port(const std::string& text, const std::string& whole) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos)
    throw Error("broker '" + whole + "': the port must be a number from 1 to 65535");
  const int port = std::stoi(text);
  if (port < 1 || port > 65535)
    throw Error("broker '" + whole + "': the port must be a number from 1 to 65535");
  return port;
}

std::string string_value(const json& j, const std::string& where) {
  if (!j.is_string()) throw Error(where + " must be a string");
  return j.get<std::string>();
}

std::vector<std::string> string_list(const json& j, const std::string& where) {
  if (!j.is_array()) throw Error(where + " must be an array of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < j.size(); ++i)
    out.push_back(string_value(j[i], where + "[" + std::to_string(i) + "]"));
  return out;
}

CameraConfig parse_camera(const json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + " must be an object with \"name\" and \"uri\"");
  CameraConfig c;
  for (const auto& [key, value] : j.items()) {
    const std::string at = where + "." + key;
    if (key == "name") {
      c.name = string_value(value, at);
    } else if (key == "uri") {
      c.uri = string_value(value, at);
    } else if (key == "watches") {
      c.watches = string_list(value, at);
    } else if (key == "sample-fps") {
      if (!value.is_number()) throw Error(at + " must be a number");
      c.sample_fps = value.get<double>();
    } else {
      throw Error(where + ": unknown key \"" + key +
                  "\" (a camera has \"name\", \"uri\", \"watches\", \"sample-fps\")");
    }
  }
  if (!j.contains("name")) throw Error(where + " has no \"name\"");
  if (!j.contains("uri")) throw Error(where + " (\"" + c.name + "\") has no \"uri\"");
  return c;
}

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

void check_name(const std::string& name) {
  if (name.empty()) throw Error("a camera name is empty");
  if (name.size() > kMaxNameLength)
    throw Error("camera name '" + name + "' is longer than 64 characters");
  for (char ch : name) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
    if (!ok)
      throw Error("camera name '" + name +
                  "' may hold only letters, digits, '.', '_' and '-' (it is an MQTT topic "
                  "level)");
  }
  if (name == kAllCameras)
    throw Error("camera name 'all' is reserved: P/all/ask asks every camera");
}

void check_prefix(const std::string& prefix) {
  if (prefix.empty()) throw Error("the topic prefix is empty");
  if (prefix.find_first_of("+#") != std::string::npos)
    throw Error("topic prefix '" + prefix + "' must not hold the wildcards '+' or '#'");
  if (prefix.front() == '/' || prefix.back() == '/' || prefix.find("//") != std::string::npos)
    throw Error("topic prefix '" + prefix + "' has an empty level (a leading, trailing or "
                "double '/')");
}

}  // namespace

BrokerAddress parse_broker(const std::string& text) {
  BrokerAddress b;
  std::string rest = text;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string::npos) throw Error("broker '" + text + "': no closing ']'");
    b.host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw Error("broker '" + text + "': expected ':PORT' after ']'");
      b.port = parse_port(rest.substr(1), text);
    }
  } else {
    const size_t colon = rest.rfind(':');
    if (colon != std::string::npos) {
      if (rest.find(':') != colon)
        throw Error("broker '" + text + "': write an IPv6 address as [ADDRESS]:PORT");
      b.port = parse_port(rest.substr(colon + 1), text);
      rest = rest.substr(0, colon);
    }
    b.host = rest;
  }
  if (b.host.empty()) throw Error("broker '" + text + "': no host name");
  return b;
}

CameraConfig parse_camera_option(const std::string& spec) {
  const size_t eq = spec.find('=');
  if (eq == std::string::npos)
    throw Error("--camera '" + spec + "' must be NAME=URI");
  CameraConfig c;
  c.name = spec.substr(0, eq);
  c.uri = spec.substr(eq + 1);
  return c;
}

MonitorConfig parse_config_json(const std::string& text, const std::string& origin) {
  check_json_depth(text, origin);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error(origin + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(origin + ": the config must be a JSON object");
  MonitorConfig c;
  for (const auto& [key, value] : j.items()) {
    const std::string at = origin + ": \"" + key + "\"";
    if (key == "broker") {
      try {
        c.broker = parse_broker(string_value(value, at));
      } catch (const Error& e) {
        throw Error(origin + ": " + e.what());
      }
    } else if (key == "topic-prefix") {
      c.topic_prefix = string_value(value, at);
    } else if (key == "model") {
      c.model = string_value(value, at);
    } else if (key == "cameras") {
      if (!value.is_array()) throw Error(at + " must be an array of cameras");
      for (size_t i = 0; i < value.size(); ++i)
        c.cameras.push_back(parse_camera(value[i], origin + ": cameras[" + std::to_string(i) + "]"));
    } else {
      throw Error(origin + ": unknown key \"" + key +
                  "\" (the config has \"broker\", \"topic-prefix\", \"model\", \"cameras\")");
    }
  }
  return c;
}

void check_config(const MonitorConfig& config) {
  check_prefix(config.topic_prefix);
  if (config.cameras.empty()) throw Error("no camera: give --camera NAME=URI or a config file");
  std::set<std::string> names;
  for (const CameraConfig& cam : config.cameras) {
    check_name(cam.name);
    if (!names.insert(cam.name).second)
      throw Error("camera name '" + cam.name + "' is given twice: names must be unique");
    if (blank(cam.uri)) throw Error("camera '" + cam.name + "' has an empty URI");
    if (cam.sample_fps && !(*cam.sample_fps >= kMinSampleFps && *cam.sample_fps <= kMaxSampleFps))
      throw Error("camera '" + cam.name + "': sample-fps must be 0.0001 to 1000");
    for (const std::string& w : cam.watches)
      if (blank(w)) throw Error("camera '" + cam.name + "' has a blank watch question");
  }
}

}  // namespace llamavid::monitor
