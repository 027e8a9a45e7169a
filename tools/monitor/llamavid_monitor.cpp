// llamavid-monitor: one process watching many cameras (each an analysis pipeline with its own
// llamavid element, all sharing one loaded model) and talking MQTT to a broker: questions in,
// answers, alerts and a retained status out. See docs/tools.md and docs/scaling.md.
#include <csignal>
#include <filesystem>
#include <iostream>
#include <memory>

#include <glib-unix.h>
#include <gst/gst.h>
#include <mosquitto.h>

#include "camera.h"
#include "cli_args.h"
#include "core/error.h"
#include "core/error_text.h"
#include "core/small_file.h"
#include "gst_elements.h"
#include "monitor_config.h"
#include "monitor_messages.h"
#include "mqtt_link.h"

using namespace llamavid;
using namespace llamavid::monitor;

namespace {

const char* kUsage =
    "usage: llamavid-monitor (--config FILE | --camera NAME=URI [--camera NAME=URI ...])\n"
    "                        [--broker HOST[:PORT]] [--topic-prefix P] [--model DIR] [--device D]\n"
    "                        [--state-dir DIR] [--autosave-interval SECONDS] [--watch QUESTION ...]\n"
    "\n"
    "Watches many cameras (or files), each through its own llamavid element, all sharing one\n"
    "loaded model, and talks MQTT 3.1.1 to a broker (P is the topic prefix):\n"
    "  P/NAME/ask, P/all/ask  questions in: the text, or {\"question\": \"...\", \"id\": N}\n"
    "  P/NAME/answer          each answer or error, as the element's text-format=json object\n"
    "  P/NAME/alert           each alert of the camera's watches\n"
    "  P/NAME/status          retained: state (starting, playing, reconnecting, stopped; the\n"
    "                         last will says offline), memory-start, memory-end, frames,\n"
    "                         frames-skipped, reconnects\n"
    "A camera that fails, stalls or ends is reconnected with backoff (1 s doubling to 30 s) and\n"
    "keeps its memory; a lost broker too, and what was published meanwhile goes out after it.\n"
    "\n"
    "  --config FILE          JSON: {\"broker\": \"HOST[:PORT]\", \"topic-prefix\": P, \"model\": DIR,\n"
    "                         \"cameras\": [{\"name\": N, \"uri\": URI, \"watches\": [Q, ...],\n"
    "                         \"sample-fps\": F}]}; the options below override its values\n"
    "  --camera NAME=URI      a camera (repeatable): any URI GStreamer plays (rtsp://,\n"
    "                         http://, file://) or a file path; NAME holds letters, digits,\n"
    "                         '.', '_' and '-', and is not 'all'\n"
    "  --broker HOST[:PORT]   the MQTT broker (default 127.0.0.1:1883)\n"
    "  --topic-prefix P       (default llamavid)\n"
    "  --model DIR            model directory (default: the shipped default model)\n"
    "  --device D             auto (default), cpu, cuda, cuda:N\n"
    "  --state-dir DIR        each camera's memory is saved to DIR/NAME.memory (every\n"
    "                         --autosave-interval seconds of stream and at exit) and loaded\n"
    "                         from there at start\n"
    "  --autosave-interval S  seconds of stream between two saves (default 60)\n"
    "  --watch QUESTION       a standing question of every camera (repeatable)\n"
    "  -h, --help             this help\n"
    "\n"
    "SIGINT or SIGTERM stops: every camera's status says stopped and its memory is saved.\n";

constexpr int kCloseTimeoutMs = 5000;

MonitorConfig config_from(const CliArgs& args) {
  if (args.has("config") == args.has("camera"))
    throw UsageError("give either --config FILE or --camera NAME=URI");
  if (!args.positional().empty())
    throw UsageError("unexpected argument '" + args.positional()[0] + "'");
  MonitorConfig c;
  if (args.has("config")) {
    const std::string path = args.value("config");
    c = parse_config_json(read_small_file(path, kMaxConfigBytes, "config file"), path);
  }
  for (const std::string& spec : args.values("camera")) c.cameras.push_back(parse_camera_option(spec));
  if (args.has("broker")) c.broker = parse_broker(args.value("broker"));
  if (args.has("topic-prefix")) c.topic_prefix = args.value("topic-prefix");
  if (args.has("model")) c.model = args.value("model");
  for (CameraConfig& cam : c.cameras)
    for (const std::string& w : args.values("watch")) cam.watches.push_back(w);
  check_config(c);
  return c;
}

// A URI GStreamer can open (a file path made into a file:// URI); Error naming the camera.
std::string camera_uri(const CameraConfig& cam) {
  std::string uri;
  try {
    uri = source_to_uri(cam.uri);
  } catch (const Error& e) {
    throw Error("camera '" + cam.name + "': " + e.what());
  }
  gchar* protocol = gst_uri_get_protocol(uri.c_str());
  const bool supported = protocol && gst_uri_protocol_is_supported(GST_URI_SRC, protocol);
  const std::string name = protocol ? protocol : "";
  g_free(protocol);
  if (!supported)
    throw Error("camera '" + cam.name + "': no installed GStreamer source reads '" + name +
                "://' URIs (" + cam.uri + ")");
  return uri;
}

std::string state_dir(const CliArgs& args) {
  if (!args.has("state-dir")) return "";
  const std::filesystem::path dir = args.value("state-dir");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (!std::filesystem::is_directory(dir, ec))
    throw Error("--state-dir " + dir.string() + ": cannot be made a directory" +
                (ec ? ": " + ec.message() : ""));
  return dir.string();
}

// libmosquitto's global state, for the life of run().
struct MosquittoLibrary {
  MosquittoLibrary() { mosquitto_lib_init(); }
  ~MosquittoLibrary() { mosquitto_lib_cleanup(); }
  MosquittoLibrary(const MosquittoLibrary&) = delete;
  MosquittoLibrary& operator=(const MosquittoLibrary&) = delete;
};

// One camera with its MQTT link.
struct Monitored {
  std::unique_ptr<Camera> camera;
  std::unique_ptr<MqttLink> link;
  Topics topics;
};

int run(const CliArgs& args) {
  const MonitorConfig config = config_from(args);
  const std::string dir = state_dir(args);
  const uint64_t autosave_s = args.integer("autosave-interval", 60);
  if (autosave_s < 1 || autosave_s > 2147483647)
    throw UsageError("--autosave-interval must be 1 to 2147483647 seconds");
  gst_init(nullptr, nullptr);
  const MosquittoLibrary mosquitto_library;
  const std::unique_ptr<GMainLoop, void (*)(GMainLoop*)> main_loop(g_main_loop_new(nullptr, FALSE),
                                                                    g_main_loop_unref);
  GMainLoop* loop = main_loop.get();

  std::vector<Monitored> cams;
  cams.reserve(config.cameras.size());  // the callbacks below hold references to the elements
  std::string fatal;
  for (const CameraConfig& cc : config.cameras) {
    CameraSettings s;
    s.name = cc.name;
    s.uri = camera_uri(cc);
    s.watches = cc.watches;
    s.sample_fps = cc.sample_fps.value_or(0);
    s.model = config.model;
    s.device = args.value("device");
    if (!dir.empty()) s.autosave_path = (std::filesystem::path(dir) / (cc.name + ".memory")).string();
    s.autosave_interval_s = static_cast<unsigned>(autosave_s);
    cams.push_back({nullptr, nullptr, camera_topics(config.topic_prefix, cc.name)});
    Monitored& m = cams.back();
    Camera::Callbacks cb;
    cb.on_answer = [&m](const std::string& json) { m.link->publish(m.topics.answer, json, false); };
    cb.on_alert = [&m](const std::string& json) { m.link->publish(m.topics.alert, json, false); };
    cb.on_status = [&m](const CameraStatus& st) {
      m.link->publish(m.topics.status, status_json(st), true);
    };
    cb.on_fatal = [&fatal, loop](const std::string& why) {
      if (fatal.empty()) fatal = why;
      g_main_loop_quit(loop);
    };
    m.camera = std::make_unique<Camera>(std::move(s), std::move(cb));
    m.link = std::make_unique<MqttLink>(
        config.broker, "llamavid-monitor/" + config.topic_prefix + "/" + cc.name, m.topics,
        [&m](const std::string& payload) {
          try {
            m.camera->ask(parse_question(payload));
          } catch (const Error& e) {
            m.link->publish(m.topics.answer, question_error_json(payload, e.what()), false);
          }
        });
  }
  for (Monitored& m : cams) m.link->connect();
  for (Monitored& m : cams) m.camera->start();
  std::cerr << "llamavid-monitor: watching " << cams.size() << " camera(s), MQTT "
            << config.broker.host << ":" << config.broker.port << ", prefix "
            << config.topic_prefix << std::endl;

  auto quit = [](gpointer l) -> gboolean {
    g_main_loop_quit(static_cast<GMainLoop*>(l));
    return G_SOURCE_CONTINUE;
  };
  const guint sigint = g_unix_signal_add(SIGINT, quit, loop);
  const guint sigterm = g_unix_signal_add(SIGTERM, quit, loop);
  g_main_loop_run(loop);
  g_source_remove(sigint);
  g_source_remove(sigterm);

  for (Monitored& m : cams) m.camera->stop();  // publishes the stopped status
  for (Monitored& m : cams)
    if (!m.link->close(kCloseTimeoutMs))
      std::cerr << "llamavid-monitor: camera '" << m.camera->name()
                << "': messages left undelivered at exit (the broker is away)" << std::endl;
  if (!fatal.empty()) throw Error(fatal);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return tool_main("llamavid-monitor", kUsage, argc, argv,
                   {{"config", "camera", "broker", "topic-prefix", "model", "device", "state-dir",
                     "autosave-interval", "watch"},
                    {},
                    {}},
                   run);
}
