// llamavid-monitor's pure logic: the config file and its checks, the reconnection backoff, the
// delivery queue kept while the broker is away, the MQTT payloads and the timeline across
// reconnections.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "backoff.h"
#include "core/error.h"
#include "delivery_queue.h"
#include "monitor_config.h"
#include "monitor_messages.h"
#include "source_timeline.h"

using namespace llamavid;
using namespace llamavid::monitor;

namespace {

constexpr int64_t kSecond = 1000000000;

// The message of the Error `f` throws, "" when it throws none.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

MonitorConfig checked(const std::string& json) {
  MonitorConfig c = parse_config_json(json, "monitor.json");
  check_config(c);
  return c;
}

}  // namespace

// Every key of the contract is read.
TEST(MonitorConfig, ParsesEveryKey) {
  const MonitorConfig c = checked(R"({"broker": "mqtt.local:1884", "topic-prefix": "site/a",
      "model": "/models/m", "cameras": [
        {"name": "cam1", "uri": "rtsp://10.0.0.1/s", "watches": ["Is the screen black?"],
         "sample-fps": 0.5},
        {"name": "cam-2", "uri": "file:///tmp/a.mp4"}]})");
  EXPECT_EQ(c.broker.host, "mqtt.local");
  EXPECT_EQ(c.broker.port, 1884);
  EXPECT_EQ(c.topic_prefix, "site/a");
  EXPECT_EQ(c.model, "/models/m");
  ASSERT_EQ(c.cameras.size(), 2u);
  EXPECT_EQ(c.cameras[0].watches, std::vector<std::string>{"Is the screen black?"});
  EXPECT_DOUBLE_EQ(*c.cameras[0].sample_fps, 0.5);
  EXPECT_FALSE(c.cameras[1].sample_fps);
}

// The defaults: broker 127.0.0.1:1883, prefix llamavid.
TEST(MonitorConfig, Defaults) {
  const MonitorConfig c = checked(R"({"cameras": [{"name": "a", "uri": "rtsp://h/s"}]})");
  EXPECT_EQ(c.broker.host, "127.0.0.1");
  EXPECT_EQ(c.broker.port, 1883);
  EXPECT_EQ(c.topic_prefix, "llamavid");
}

// Bad files are errors that say what is wrong and where.
TEST(MonitorConfig, BadFilesNameTheProblem) {
  EXPECT_NE(error_of([] { checked("{\"cameras\": ["); }).find("monitor.json: not valid JSON"),
            std::string::npos);
  EXPECT_NE(error_of([] { checked("[1]"); }).find("must be a JSON object"), std::string::npos);
  EXPECT_NE(error_of([] { checked(R"({"camera": []})"); }).find("unknown key \"camera\""),
            std::string::npos);
  EXPECT_NE(error_of([] { checked(R"({"cameras": [{"name": "a", "url": "x"}]})"); })
                .find("cameras[0]: unknown key \"url\""),
            std::string::npos);
  EXPECT_NE(error_of([] { checked(R"({"cameras": [{"name": "a"}]})"); }).find("no \"uri\""),
            std::string::npos);
  EXPECT_NE(error_of([] { checked(R"({"cameras": [{"name": 3, "uri": "x"}]})"); })
                .find("cameras[0].name must be a string"),
            std::string::npos);
  EXPECT_NE(error_of([] { checked(R"({"cameras": []})"); }).find("no camera"), std::string::npos);
  EXPECT_NE(
      error_of([] { checked(R"({"cameras": [{"name": "a", "uri": "x", "watches": "q"}]})"); })
          .find("watches must be an array of strings"),
      std::string::npos);
  EXPECT_NE(error_of([] { checked(R"({"broker": "h:0", "cameras": []})"); })
                .find("monitor.json: broker 'h:0': the port must be"),
            std::string::npos);
}

// Names are one topic level, unique, and not the reserved "all".
TEST(MonitorConfig, BadNames) {
  EXPECT_NE(error_of([] {
              checked(R"({"cameras": [{"name": "a", "uri": "x"}, {"name": "a", "uri": "y"}]})");
            }).find("camera name 'a' is given twice"),
            std::string::npos);
  EXPECT_NE(error_of([] { checked(R"({"cameras": [{"name": "a/b", "uri": "x"}]})"); })
                .find("may hold only letters"),
            std::string::npos);
  EXPECT_NE(error_of([] { checked(R"({"cameras": [{"name": "+", "uri": "x"}]})"); })
                .find("may hold only letters"),
            std::string::npos);
  EXPECT_NE(error_of([] { checked(R"({"cameras": [{"name": "all", "uri": "x"}]})"); })
                .find("reserved"),
            std::string::npos);
  EXPECT_NE(error_of([] { checked(R"({"cameras": [{"name": "", "uri": "x"}]})"); })
                .find("empty"),
            std::string::npos);
  EXPECT_NE(error_of([] { checked(R"({"cameras": [{"name": "a", "uri": " "}]})"); })
                .find("camera 'a' has an empty URI"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              checked(R"({"cameras": [{"name": "a", "uri": "x", "sample-fps": 0}]})");
            }).find("sample-fps must be"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              checked(R"({"cameras": [{"name": "a", "uri": "x", "watches": [""]}]})");
            }).find("blank watch"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              checked(R"({"topic-prefix": "a/#", "cameras": [{"name": "a", "uri": "x"}]})");
            }).find("wildcards"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              checked(R"({"topic-prefix": "a/", "cameras": [{"name": "a", "uri": "x"}]})");
            }).find("empty level"),
            std::string::npos);
}

TEST(MonitorConfig, BrokerAddresses) {
  EXPECT_EQ(parse_broker("host").port, 1883);
  EXPECT_EQ(parse_broker("host:1").port, 1);
  EXPECT_EQ(parse_broker("[::1]:8883").host, "::1");
  EXPECT_EQ(parse_broker("[::1]:8883").port, 8883);
  EXPECT_EQ(parse_broker("[::1]").port, 1883);
  EXPECT_NE(error_of([] { parse_broker("h:65536"); }).find("1 to 65535"), std::string::npos);
  EXPECT_NE(error_of([] { parse_broker("h:x"); }).find("1 to 65535"), std::string::npos);
  EXPECT_NE(error_of([] { parse_broker(":1883"); }).find("no host"), std::string::npos);
  EXPECT_NE(error_of([] { parse_broker("::1"); }).find("[ADDRESS]:PORT"), std::string::npos);
}

TEST(MonitorConfig, CameraOption) {
  const CameraConfig c = parse_camera_option("door=rtsp://h/s?a=b");
  EXPECT_EQ(c.name, "door");
  EXPECT_EQ(c.uri, "rtsp://h/s?a=b");
  EXPECT_NE(error_of([] { parse_camera_option("door"); }).find("NAME=URI"), std::string::npos);
}

// 1 s doubling to the 30 s cap; a working connection starts over.
TEST(MonitorBackoff, DoublesToTheCapAndResets) {
  Backoff b;
  for (int64_t want : {1000, 2000, 4000, 8000, 16000, 30000, 30000}) EXPECT_EQ(b.next_delay_ms(), want);
  b.reset();
  EXPECT_EQ(b.next_delay_ms(), 1000);
}

// Messages go out in order, once each.
TEST(MonitorDeliveryQueue, InOrderOnce) {
  DeliveryQueue q;
  q.push({"t/answer", "1", false});
  q.push({"t/answer", "2", false});
  auto a = q.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->payload, "1");
  q.handed_over(7);
  auto b = q.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->payload, "2");
  q.handed_over(8);
  EXPECT_FALSE(q.next());
  EXPECT_EQ(q.in_flight(), 2u);
  q.acknowledged(7);
  q.acknowledged(8);
  EXPECT_EQ(q.in_flight(), 0u);
}

// A retained message replaces a waiting one of its topic; others are kept.
TEST(MonitorDeliveryQueue, RetainedStatusKeepsTheNewest) {
  DeliveryQueue q;
  q.push({"t/status", "starting", true});
  q.push({"t/answer", "a", false});
  q.push({"t/status", "playing", true});
  EXPECT_EQ(q.waiting(), 2u);
  EXPECT_EQ(q.next()->payload, "playing");
  EXPECT_EQ(q.next()->payload, "a");
}

// Bounded: the oldest waiting message is dropped and counted.
TEST(MonitorDeliveryQueue, BoundedDropsTheOldest) {
  DeliveryQueue q(3);
  for (int i = 0; i < 5; ++i) q.push({"t/alert", std::to_string(i), false});
  EXPECT_EQ(q.waiting(), 3u);
  EXPECT_EQ(q.dropped(), 2u);
  EXPECT_EQ(q.next()->payload, "2");
}

// At most kInFlight messages are unacknowledged; an acknowledgement lets the next one go.
TEST(MonitorDeliveryQueue, InFlightWindow) {
  DeliveryQueue q;
  for (size_t i = 0; i <= DeliveryQueue::kInFlight; ++i) q.push({"t", std::to_string(i), false});
  for (size_t i = 0; i < DeliveryQueue::kInFlight; ++i) {
    ASSERT_TRUE(q.next());
    q.handed_over(static_cast<int>(i + 1));
  }
  EXPECT_FALSE(q.next());
  q.acknowledged(1);
  auto last = q.next();
  ASSERT_TRUE(last);
  EXPECT_EQ(last->payload, std::to_string(DeliveryQueue::kInFlight));
}

// A message that could not be handed over goes back to the front.
TEST(MonitorDeliveryQueue, PutBack) {
  DeliveryQueue q;
  q.push({"t", "1", false});
  q.push({"t", "2", false});
  auto m = q.next();
  q.put_back(*m);
  EXPECT_EQ(q.next()->payload, "1");
}

TEST(MonitorMessages, Topics) {
  const Topics t = camera_topics("llamavid", "door");
  EXPECT_EQ(t.ask, "llamavid/door/ask");
  EXPECT_EQ(t.all_ask, "llamavid/all/ask");
  EXPECT_EQ(t.answer, "llamavid/door/answer");
  EXPECT_EQ(t.alert, "llamavid/door/alert");
  EXPECT_EQ(t.status, "llamavid/door/status");
}

// A question is its text, or a JSON object with "question" and an optional "id".
TEST(MonitorMessages, Questions) {
  Question q = parse_question("What is on screen?");
  EXPECT_EQ(q.text, "What is on screen?");
  EXPECT_FALSE(q.id);
  q = parse_question(R"( {"question": "Did snow appear?", "id": 42})");
  EXPECT_EQ(q.text, "Did snow appear?");
  EXPECT_EQ(*q.id, 42u);
  EXPECT_FALSE(parse_question(R"({"question": "x"})").id);
  EXPECT_NE(error_of([] { parse_question("{bad"); }).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of([] { parse_question(R"({"id": 1})"); }).find("\"question\""),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_question(R"({"question": "x", "id": -1})"); }).find("\"id\""),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_question(R"({"question": "x", "id": 0})"); }).find("\"id\""),
            std::string::npos);
  const auto e = nlohmann::json::parse(question_error_json("{bad", "why"));
  EXPECT_EQ(e["type"], "error");
  EXPECT_EQ(e["question"], "{bad");
  EXPECT_EQ(e["reason"], "why");
}

// The status object has the contract's fields; the will says offline.
TEST(MonitorMessages, Status) {
  CameraStatus s;
  s.state = CameraState::Reconnecting;
  s.memory_start_ns = 1;
  s.memory_end_ns = 5 * kSecond;
  s.frames = 3;
  s.frames_skipped = 2;
  s.reconnects = 1;
  const auto j = nlohmann::json::parse(status_json(s));
  EXPECT_EQ(j["state"], "reconnecting");
  EXPECT_EQ(j["memory-start"], 1);
  EXPECT_EQ(j["memory-end"], 5 * kSecond);
  EXPECT_EQ(j["frames"], 3);
  EXPECT_EQ(j["frames-skipped"], 2);
  EXPECT_EQ(j["reconnects"], 1);
  EXPECT_EQ(nlohmann::json::parse(offline_status_json())["state"], "offline");
  EXPECT_STREQ(state_name(CameraState::Starting), "starting");
  EXPECT_STREQ(state_name(CameraState::Playing), "playing");
  EXPECT_STREQ(state_name(CameraState::Stopped), "stopped");
}

// The first connection keeps the source's times; a reconnection whose stream starts again at 0
// continues after the last frame by the wall time that passed.
TEST(MonitorSourceTimeline, ContinuesAcrossTheGap) {
  SourceTimeline t;
  EXPECT_EQ(t.place(3 * kSecond, 100 * kSecond), 3 * kSecond);
  EXPECT_EQ(t.place(4 * kSecond, 101 * kSecond), 4 * kSecond);
  t.new_connection();
  EXPECT_EQ(t.place(0, 111 * kSecond), 14 * kSecond);  // 10 s of wall time after 4 s
  EXPECT_EQ(t.place(1 * kSecond, 112 * kSecond), 15 * kSecond);
}

// Times never go back, even when a source's own times do.
TEST(MonitorSourceTimeline, NeverBack) {
  SourceTimeline t;
  t.place(5 * kSecond, 0);
  EXPECT_EQ(t.place(2 * kSecond, 1), 5 * kSecond);
  t.new_connection();
  EXPECT_GT(t.place(0, 1), 5 * kSecond);  // at once after: still later
}
