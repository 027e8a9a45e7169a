// One camera's MQTT connection (libmosquitto, MQTT 3.1.1): a persistent session (clean session
// off, a client id made of the prefix and the camera's name), so the broker keeps the camera's
// subscriptions and questions while the monitor is away; QoS 1 subscriptions to P/NAME/ask and
// P/all/ask; QoS 1 publishes through a DeliveryQueue; a retained last will on P/NAME/status that
// says the camera is offline. The connection is served on the GLib main loop (poll, not
// libmosquitto's own thread, whose select() refuses sockets numbered 1024 and above, which a
// process with a hundred cameras has). A lost broker is connected again after 1 s, doubling to
// 30 s. Everything runs on the main loop.
#pragma once

#include <functional>
#include <string>

#include <glib.h>

#include "backoff.h"
#include "delivery_queue.h"
#include "monitor_config.h"
#include "monitor_messages.h"

struct mosquitto;
struct mosquitto_message;

namespace llamavid::monitor {

class MqttLink {
 public:
  // `on_question`: each payload received on the ask topics.
  MqttLink(const BrokerAddress& broker, const std::string& client_id, const Topics& topics,
           std::function<void(const std::string& payload)> on_question);
  ~MqttLink();  // drops the connection (the will is published) unless close() ran
  MqttLink(const MqttLink&) = delete;
  MqttLink& operator=(const MqttLink&) = delete;

  // Connects and waits for the broker's answer (running the main loop meanwhile). Error naming
  // the broker when it cannot be reached or refuses; afterwards a lost connection is made
  // again by itself.
  void connect();
  // Queues a QoS 1 message; it goes out now or after the next reconnection.
  void publish(const std::string& topic, const std::string& payload, bool retain);
  // Runs the main loop up to `timeout_ms` until every queued message is acknowledged, then
  // disconnects cleanly (no will). Returns whether nothing was left undelivered.
  bool close(int timeout_ms);

 private:
  static void on_connect(mosquitto* m, void* self, int rc);
  static void on_disconnect(mosquitto* m, void* self, int rc);
  static void on_publish(mosquitto* m, void* self, int mid);
  static void on_message(mosquitto* m, void* self, const mosquitto_message* msg);
  static gboolean on_readable(gint fd, GIOCondition condition, gpointer self);
  static gboolean on_tick(gpointer self);
  void watch_socket();
  void unwatch_socket();
  void lost();
  void reconnect();
  void drain();
  // Runs the main loop until `done` or `timeout_ms`; returns `done()`.
  bool run_until(const std::function<bool()>& done, int timeout_ms);

  BrokerAddress broker_;
  Topics topics_;
  std::function<void(const std::string&)> on_question_;
  mosquitto* mosq_ = nullptr;
  guint io_watch_ = 0, tick_ = 0, retry_ = 0;
  DeliveryQueue queue_;
  Backoff backoff_;
  bool connected_ = false;
  bool closing_ = false;
  int connack_ = -1;            // the broker's answer to the first connection; -1 before it
  int64_t attempt_started_ms_ = 0;  // a reconnection under way since then (0: none)
};

}  // namespace llamavid::monitor
