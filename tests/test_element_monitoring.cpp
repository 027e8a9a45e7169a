// What a monitoring user relies on: standing questions (the watch / unwatch signals and the
// watches property, llamavid-alert messages against the contract's rule replayed here on the
// answers the element logs, the EOS round, skipped evaluations on a live source),
// text-format=json on text_src, the model's load progress and the debug log's events.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <thread>

#include "element_test_util.h"
#include "test_util.h"  // scratch_dir

using namespace llamavid::test;

namespace {

const ElementHarness::Properties kEveryFrame = {{"sample-fps", "1000"}, {"skip-frames", "never"}};

guint64 uint64_field(const GstStructure* s, const char* name) {
  guint64 v = G_MAXUINT64;
  EXPECT_TRUE(gst_structure_get_uint64(s, name, &v)) << name;
  return v;
}

std::vector<std::string> watches_property(GstElement* e) {
  GValue v = G_VALUE_INIT;
  g_value_init(&v, GST_TYPE_ARRAY);
  g_object_get_property(G_OBJECT(e), "watches", &v);
  std::vector<std::string> out;
  for (guint i = 0; i < gst_value_array_get_size(&v); ++i)
    out.emplace_back(g_value_get_string(gst_value_array_get_value(&v, i)));
  g_value_unset(&v);
  return out;
}

guint64 watch(GstElement* e, const std::string& question) {
  guint64 id = 0;
  g_signal_emit_by_name(e, "watch", question.c_str(), &id);
  return id;
}

gboolean unwatch(GstElement* e, guint64 id) {
  gboolean removed = FALSE;
  g_signal_emit_by_name(e, "unwatch", id, &removed);
  return removed;
}

// Every evaluation of a watch, from the element's debug log ("watch ID at H:MM:SS.NNNNNNNNN:
// ANSWER", category llamavid, level DEBUG).
struct Evaluation {
  guint64 id;
  guint64 at_ns;
  std::string answer;
};

std::vector<Evaluation> evaluations_in(const std::vector<std::string>& lines) {
  static const std::regex pattern(R"(^watch (\d+) at (\d+):(\d\d):(\d\d)\.(\d{9}): ([\s\S]*)$)");
  std::vector<Evaluation> out;
  for (const auto& text : lines) {
    std::smatch m;
    if (!std::regex_match(text, m, pattern)) continue;
    const guint64 ns = ((std::stoull(m[2]) * 60 + std::stoull(m[3])) * 60 + std::stoull(m[4])) *
                           GST_SECOND +
                       std::stoull(m[5]);
    out.push_back({std::stoull(m[1]), ns, m[6]});
  }
  return out;
}

struct Alert {
  guint64 id;
  std::string answer, previous;
  guint64 since_ns, previous_since_ns;
};

std::string normalized(std::string s) {
  const auto blank = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!s.empty() && blank(s.back())) s.pop_back();
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), blank));
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!s.empty() && s.back() == '.') s.pop_back();
  while (!s.empty() && blank(s.back())) s.pop_back();
  return s;
}

// The contract's rule ("Standing questions (watches) and alerts"), written here from its text:
// the first answer is the baseline and alerts only when "yes"; a changed answer alerts once it
// has held for `confirm` consecutive evaluations and `cooldown_ns` has passed since the watch's
// previous alert (else at the first evaluation after that still giving it); at EOS a change
// still waiting for its confirmation alerts, the cooldown allowing.
std::vector<Alert> expected_alerts(const std::vector<Evaluation>& evaluations,
                                   guint confirm, guint64 cooldown_ns, guint64 eos_ns) {
  struct State {
    bool seen = false;
    std::string current, current_text;
    guint64 current_since = 0;
    std::string candidate, candidate_text;
    guint64 candidate_since = 0;
    guint held = 0;
    std::optional<guint64> last_alert;
  };
  std::map<guint64, State> states;
  std::vector<Alert> out;
  auto fire = [&](guint64 id, State& s, guint64 at) {
    out.push_back({id, s.candidate_text, s.current_text, s.candidate_since, s.current_since});
    s.current = s.candidate;
    s.current_text = s.candidate_text;
    s.current_since = s.candidate_since;
    s.held = 0;
    s.last_alert = at;
  };
  for (const auto& e : evaluations) {
    State& s = states[e.id];
    const std::string n = normalized(e.answer);
    if (!s.seen) {
      s.seen = true;
      s.current = n;
      s.current_text = e.answer;
      s.current_since = e.at_ns;
      if (n == "yes") {
        out.push_back({e.id, e.answer, "", e.at_ns, 0});
        s.last_alert = e.at_ns;
      }
      continue;
    }
    if (n == s.current) {
      s.held = 0;
      continue;
    }
    if (s.held > 0 && n == s.candidate) {
      ++s.held;
    } else {
      s.candidate = n;
      s.candidate_since = e.at_ns;
      s.held = 1;
    }
    s.candidate_text = e.answer;
    if (s.held >= confirm && (!s.last_alert || e.at_ns - *s.last_alert >= cooldown_ns))
      fire(e.id, s, e.at_ns);
  }
  for (auto& [id, s] : states)
    if (s.held > 0 && (!s.last_alert || eos_ns - *s.last_alert >= cooldown_ns)) fire(id, s, eos_ns);
  return out;
}

// Element messages named `name` already on the bus (others are dropped).
std::vector<GstMessage*> pop_messages(GstBus* bus, const char* name) {
  std::vector<GstMessage*> out;
  while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT)) {
    if (gst_structure_has_name(gst_message_get_structure(m), name))
      out.push_back(m);
    else
      gst_message_unref(m);
  }
  return out;
}

std::vector<Alert> alerts_on(GstBus* bus, std::vector<GstMessage*>* messages = nullptr) {
  std::vector<Alert> out;
  for (GstMessage* m : pop_messages(bus, "llamavid-alert")) {
    const GstStructure* s = gst_message_get_structure(m);
    const std::pair<const char*, GType> fields[] = {
        {"watch-id", G_TYPE_UINT64},  {"question", G_TYPE_STRING},
        {"answer", G_TYPE_STRING},    {"previous", G_TYPE_STRING},
        {"since", G_TYPE_UINT64},     {"previous-since", G_TYPE_UINT64},
        {"stream-time", G_TYPE_UINT64}, {"latency", G_TYPE_UINT64}};
    for (const auto& [name, type] : fields)
      EXPECT_TRUE(gst_structure_has_field_typed(s, name, type)) << name;
    out.push_back({uint64_field(s, "watch-id"), gst_structure_get_string(s, "answer"),
                   gst_structure_get_string(s, "previous"), uint64_field(s, "since"),
                   uint64_field(s, "previous-since")});
    EXPECT_GE(uint64_field(s, "stream-time"), out.back().since_ns);
    if (messages)
      messages->push_back(m);
    else
      gst_message_unref(m);
  }
  return out;
}

// Pushes the scenes (`count` frames of `value` each, half a second apart, from `start_s` on);
// returns the time after the last frame.
double push_scenes(ElementHarness& e, const std::vector<std::pair<int, guint8>>& scenes,
                   double start_s = 0) {
  double t = start_s;
  for (const auto& [count, value] : scenes)
    for (int i = 0; i < count; ++i, t += 0.5) e.push_frame(t, value);
  return t;
}

// EOS, and waits for it on src (the EOS round is done by then).
void finish(ElementHarness& e) {
  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_eos()));
  for (;;) {
    GstEvent* ev = gst_harness_pull_event(e.video);
    ASSERT_NE(ev, nullptr);
    const bool eos = GST_EVENT_TYPE(ev) == GST_EVENT_EOS;
    gst_event_unref(ev);
    if (eos) break;
  }
}

void expect_same_alerts(const std::vector<Alert>& got, const std::vector<Alert>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].id, want[i].id) << i;
    EXPECT_EQ(got[i].answer, want[i].answer) << i;
    EXPECT_EQ(got[i].previous, want[i].previous) << i;
    EXPECT_EQ(got[i].since_ns, want[i].since_ns) << i;
    EXPECT_EQ(got[i].previous_since_ns, want[i].previous_since_ns) << i;
  }
}

// Scenes of alike frames, so the tiny model's answers change with them.
const std::vector<std::pair<int, guint8>> kScenes = {
    {6, 0}, {6, 250}, {4, 0}, {6, 120}, {2, 60}, {6, 250}, {3, 0}};

}  // namespace

// The signals and the property: ids, refusals, replacing only what the property set.
TEST(ElementMonitoring, SignalsAndProperty) {
  ElementHarness e({{"watches", "<\"Is the screen black?\", \"Is snow on screen?\">"}});
  EXPECT_EQ(watches_property(e.element),
            (std::vector<std::string>{"Is the screen black?", "Is snow on screen?"}));
  const guint64 mine = watch(e.element, "Is the test card on?");
  EXPECT_GT(mine, 0u);
  EXPECT_GT(e.ask("What is on screen?"), mine);  // one id space with questions

  EXPECT_EQ(watch(e.element, ""), 0u);
  GstMessage* m = wait_result(e.bus, std::chrono::seconds(10));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(result_name(m), "llamavid-error");
  gst_message_unref(m);

  gst_util_set_object_arg(G_OBJECT(e.element), "watches", "<\"Is the screen white?\">");
  EXPECT_EQ(watches_property(e.element), std::vector<std::string>{"Is the screen white?"});
  EXPECT_TRUE(unwatch(e.element, mine));  // the signal's watch stayed
  EXPECT_FALSE(unwatch(e.element, mine));
  EXPECT_FALSE(unwatch(e.element, 987654321));
  gst_util_set_object_arg(G_OBJECT(e.element), "watch-interval", "2.5");
  double interval = 0;
  guint confirm = 0;
  g_object_get(e.element, "watch-interval", &interval, "watch-confirm", &confirm, nullptr);
  EXPECT_DOUBLE_EQ(interval, 2.5);
  EXPECT_EQ(confirm, 2u);
}

// With the default rules (confirm 2, no cooldown) the alerts are the rule's on the answers given,
// the EOS round included; a watch added while playing and one removed take part accordingly.
TEST(ElementMonitoring, AlertsFollowTheRule) {
  DebugLog log;
  ElementHarness e(kEveryFrame);
  const guint64 a = watch(e.element, "What is on screen?");
  const guint64 b = watch(e.element, "Is the screen black?");
  ASSERT_TRUE(unwatch(e.element, b));
  const double t = push_scenes(e, {kScenes.begin(), kScenes.begin() + 3});
  const guint64 c = watch(e.element, "Is the screen white?");
  push_scenes(e, {kScenes.begin() + 3, kScenes.end()}, t);
  finish(e);
  const auto evaluations = evaluations_in(log.lines());
  std::map<guint64, std::vector<Evaluation>> per_watch;
  for (const auto& ev : evaluations) per_watch[ev.id].push_back(ev);
  EXPECT_EQ(per_watch.count(b), 0u);
  EXPECT_GE(per_watch[a].size(), 10u);
  ASSERT_GE(per_watch[c].size(), 3u);
  // c is evaluated only once added (the frames before may still be on their way to memory).
  const auto lines = log.lines();
  const auto added = std::find(lines.begin(), lines.end(),
                               "watch " + std::to_string(c) + ": Is the screen white?");
  const auto first = std::find_if(lines.begin(), lines.end(), [&](const std::string& l) {
    return l.rfind("watch " + std::to_string(c) + " at ", 0) == 0;
  });
  EXPECT_LT(added, first);
  // Alerts come in the order of the evaluations that fire them; per watch they are the rule's.
  const auto got = alerts_on(e.bus);
  EXPECT_FALSE(got.empty());  // the tiny model's answers change with the scenes
  for (const guint64 id : {a, c}) {
    std::vector<Alert> of_id;
    for (const auto& alert : got)
      if (alert.id == id) of_id.push_back(alert);
    expect_same_alerts(of_id, expected_alerts(per_watch[id], 2, 0, evaluations.back().at_ns));
  }
  EXPECT_EQ(std::count_if(got.begin(), got.end(), [&](const Alert& x) { return x.id == b; }), 0);
}

// save-memory and load-memory leave the watches alone: the same watches (property and signal)
// are evaluated on after a load.
TEST(ElementMonitoring, MemoryFilesKeepWatches) {
  DebugLog log;
  ElementHarness e({{"sample-fps", "1000"},
                    {"skip-frames", "never"},
                    {"watches", "<\"What is on screen?\">"}});
  const guint64 mine = watch(e.element, "Is the screen black?");
  push_scenes(e, {{4, 0}, {4, 250}});
  const std::string path = scratch_dir("element_monitoring_memory") + "/memory.safetensors";
  gboolean ok = FALSE;
  g_signal_emit_by_name(e.element, "save-memory", path.c_str(), &ok);
  ASSERT_TRUE(ok);
  g_signal_emit_by_name(e.element, "load-memory", path.c_str(), &ok);
  ASSERT_TRUE(ok);
  const size_t before = evaluations_in(log.lines()).size();
  push_scenes(e, {{4, 120}}, 4.0);
  finish(e);
  std::set<guint64> after;
  const auto evaluations = evaluations_in(log.lines());
  for (size_t i = before; i < evaluations.size(); ++i) after.insert(evaluations[i].id);
  EXPECT_EQ(after.size(), 2u);
  EXPECT_EQ(after.count(mine), 1u);
  EXPECT_EQ(watches_property(e.element), std::vector<std::string>{"What is on screen?"});
  EXPECT_TRUE(unwatch(e.element, mine));
}

// confirm 1 and a cooldown of 3 s: alerts in the cooldown wait, and the EOS round flushes a
// change; the watch is evaluated at each new entry and every watch-interval.
TEST(ElementMonitoring, ConfirmCooldownAndEos) {
  DebugLog log;
  ElementHarness e({{"sample-fps", "1000"},
                    {"skip-frames", "never"},
                    {"merge-threshold", "0.999"},
                    {"watch-confirm", "1"},
                    {"watch-cooldown", "3"},
                    {"watch-interval", "1"},
                    {"watches", "<\"What is on screen?\">"}});
  push_scenes(e, kScenes);
  finish(e);
  const auto evaluations = evaluations_in(log.lines());
  ASSERT_GE(evaluations.size(), 10u);
  const auto got = alerts_on(e.bus);
  EXPECT_FALSE(got.empty());
  expect_same_alerts(got, expected_alerts(evaluations, 1, 3 * GST_SECOND,
                                          evaluations.back().at_ns));
  for (size_t i = 1; i < got.size(); ++i) EXPECT_GT(got[i].since_ns, got[i - 1].since_ns);
}

// text-format=json: every text_src buffer is one JSON object, with the fields of its message.
TEST(ElementMonitoring, JsonTextOutput) {
  ElementHarness e({{"sample-fps", "1000"},
                    {"skip-frames", "never"},
                    {"text-format", "json"},
                    {"watch-confirm", "1"},
                    {"watches", "<\"What is on screen?\">"}});
  for (int i = 0; i < 8; ++i) e.push_frame(i * 0.5, static_cast<guint8>(i * 30));
  const guint64 id = e.ask("What is on screen?");
  watch(e.element, "");  // an error, on text_src too
  std::vector<GstMessage*> messages;
  for (;;) {
    GstMessage* m = wait_message(e.bus, {"llamavid-answer", "llamavid-error", "llamavid-alert"});
    ASSERT_NE(m, nullptr);
    messages.push_back(m);
    if (result_name(m) == "llamavid-answer") break;
  }
  ASSERT_EQ(result_id(messages.back()), id);
  push_scenes(e, {{4, 250}}, 4.0);
  finish(e);
  alerts_on(e.bus, &messages);

  std::vector<nlohmann::json> objects;
  while (GstBuffer* b = gst_harness_try_pull(e.text)) {
    GstMapInfo map;
    ASSERT_TRUE(gst_buffer_map(b, &map, GST_MAP_READ));
    const std::string line(reinterpret_cast<const char*>(map.data), map.size);
    gst_buffer_unmap(b, &map);
    gst_buffer_unref(b);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    objects.push_back(j);
  }
  // Each message has its object, in order per type, with the same fields and values.
  for (const char* type : {"answer", "error", "alert"}) {
    std::vector<nlohmann::json> of_type;
    for (const auto& j : objects)
      if (j.value("type", "") == type) of_type.push_back(j);
    std::vector<GstMessage*> of_name;
    for (GstMessage* m : messages)
      if (gst_structure_has_name(gst_message_get_structure(m), ("llamavid-" + std::string(type)).c_str()))
        of_name.push_back(m);
    ASSERT_EQ(of_type.size(), of_name.size()) << type;
    for (size_t i = 0; i < of_type.size(); ++i) {
      const GstStructure* s = gst_message_get_structure(of_name[i]);
      EXPECT_EQ(of_type[i].size(), static_cast<size_t>(gst_structure_n_fields(s)) + 1) << type;
      for (gint f = 0; f < gst_structure_n_fields(s); ++f) {
        const char* name = gst_structure_nth_field_name(s, f);
        ASSERT_TRUE(of_type[i].contains(name)) << type << " " << name;
        const GValue* v = gst_structure_get_value(s, name);
        if (G_VALUE_HOLDS_STRING(v)) {
          EXPECT_EQ(of_type[i][name].get<std::string>(), g_value_get_string(v)) << name;
        } else if (G_VALUE_HOLDS_UINT64(v)) {
          EXPECT_EQ(of_type[i][name].get<guint64>(), g_value_get_uint64(v)) << name;
        } else {
          ASSERT_TRUE(G_VALUE_HOLDS_UINT(v)) << name;
          EXPECT_EQ(of_type[i][name].get<guint>(), g_value_get_uint(v)) << name;
        }
      }
    }
  }
  EXPECT_GE(objects.size(), 2u);
  for (GstMessage* m : messages) gst_message_unref(m);
}

// A live 30 fps source, a slow model and watches due at every batch: the video stays real-time at
// a synced sink, and the evaluations that fall behind are counted in llamavid-skipped.
TEST(ElementMonitoring, LiveSourceSkipsEvaluations) {
  GstElement* p = gst_parse_launch(
      ("videotestsrc is-live=true pattern=ball ! "
       "video/x-raw,format=RGB,width=320,height=240,framerate=30/1 ! "
       "llamavid name=l device=cpu sample-fps=1000 queue-size=1 watch-interval=0 model=\"" +
       slow_model_dir() +
       "\" watches=\"<\\\"Is the screen black?\\\", \\\"Is snow on screen?\\\", \\\"Is a ball "
       "on screen?\\\">\" ! fakesink name=sink sync=true qos=true max-lateness=20000000")
          .c_str(),
      nullptr);
  ASSERT_NE(p, nullptr);
  GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "sink");
  GstBus* bus = gst_element_get_bus(p);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  std::this_thread::sleep_for(std::chrono::seconds(6));
  guint64 watch_skipped = 0;
  for (GstMessage* m : pop_messages(bus, "llamavid-skipped")) {
    const GstStructure* s = gst_message_get_structure(m);
    guint64 v = 0;
    EXPECT_TRUE(gst_structure_get_uint64(s, "watch-skipped", &v));
    EXPECT_GE(v, watch_skipped);
    watch_skipped = v;
    gst_message_unref(m);
  }
  EXPECT_GT(watch_skipped, 0u);

  expect_real_time(sink, 150u);  // about 180 frames in 6 s
  ASSERT_EQ(gst_element_set_state(p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_object_unref(bus);
  gst_object_unref(sink);
  gst_object_unref(p);
}

// Loading the model posts progress: start then complete, or start then error.
TEST(ElementMonitoring, ModelLoadProgress) {
  for (const bool good : {true, false}) {
    GstElement* e = gst_element_factory_make("llamavid", nullptr);
    ASSERT_NE(e, nullptr);
    g_object_set(e, "model", good ? tiny_model_dir().c_str() : "/nonexistent/model", "device",
                 "cpu", nullptr);
    GstBus* bus = gst_bus_new();
    gst_element_set_bus(e, bus);
    EXPECT_EQ(gst_element_set_state(e, GST_STATE_READY),
              good ? GST_STATE_CHANGE_SUCCESS : GST_STATE_CHANGE_FAILURE);
    std::vector<GstProgressType> types;
    while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_PROGRESS)) {
      GstProgressType type;
      gchar *code = nullptr, *text = nullptr;
      gst_message_parse_progress(m, &type, &code, &text);
      EXPECT_STREQ(code, "load-model");
      EXPECT_NE(std::string(text).find(good ? tiny_model_dir() : "/nonexistent/model"),
                std::string::npos);
      types.push_back(type);
      g_free(code);
      g_free(text);
      gst_message_unref(m);
    }
    EXPECT_EQ(types, (std::vector<GstProgressType>{
                         GST_PROGRESS_TYPE_START,
                         good ? GST_PROGRESS_TYPE_COMPLETE : GST_PROGRESS_TYPE_ERROR}));
    gst_element_set_state(e, GST_STATE_NULL);
    gst_bus_set_flushing(bus, TRUE);
    gst_object_unref(bus);
    gst_object_unref(e);
  }
}

// GST_DEBUG=llamavid:5 tells each sampled frame, merges, new entries, thinning, the budget, the
// device and context mode, each question and answer with its timing; :6 the figures behind.
TEST(ElementMonitoring, DebugLogTellsWhatHappens) {
  for (const GstDebugLevel level : {GST_LEVEL_DEBUG, GST_LEVEL_LOG}) {
    DebugLog log(level);
    {
      ElementHarness e({{"sample-fps", "1000"},
                        {"skip-frames", "never"},
                        {"merge-threshold", "0.99"},
                        {"max-memory-entries", "4"}});
      watch(e.element, "Is the screen black?");
      for (int i = 0; i < 12; ++i) e.push_frame(i * 0.5, static_cast<guint8>((i / 2) * 40));
      const guint64 id = e.ask("What is on screen?");
      GstMessage* m = wait_result(e.bus);
      ASSERT_NE(m, nullptr);
      EXPECT_EQ(result_id(m), id);
      gst_message_unref(m);
    }
    const auto lines = log.lines();
    const auto logged = [&](const std::string& part) {
      return std::any_of(lines.begin(), lines.end(),
                         [&](const std::string& l) { return l.find(part) != std::string::npos; });
    };
    for (const char* part :
         {"loading model", " on cpu (", "budget: ", " mode, at most ", "sampled frame at",
          "frame at 0.000 s: new entry", "merged into the newest entry", "memory thinned",
          "question ", "answered in", "answer ", "watch "})
      EXPECT_TRUE(logged(part)) << "level " << level << ": no '" << part << "' in the log";
    EXPECT_EQ(logged("similarity to the newest entry"), level >= GST_LEVEL_LOG);
    EXPECT_EQ(logged("frame(s) encoded in"), level >= GST_LEVEL_LOG);
  }
}
